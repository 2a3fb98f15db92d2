#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench-fio`: Debian's fio on a cold 1 GiB file,
# buffered, with every method several times, the order rotated per run.
#   A randread: 4 KiB random reads, iodepth 32
#   B seqread:  1 MiB sequential reads, iodepth 8
# Methods: kaio-libaio (fio's libaio engine on libkaio-aio, LD_LIBRARY_PATH),
# libaio (the same fio on Debian's libaio: kernel AIO), io_uring, and psync
# with 8 jobs (a thread pool of blocking preads; each job reads its own
# eighth of the file, so the data set is the same 1 GiB).
# Each run: drop the page cache, read /proc/stat (CPU ticks, context
# switches) and kaio's stats before and after fio, and print
#   FIO WORKLOAD METHOD RUN BUSY_TICKS IDLE_TICKS CTXT KAIO_SUBMITTED HZ FIO_EXIT
#   FIOJSON WORKLOAD METHOD RUN <fio's JSON on one line>
# The test kernel has no System V IPC (CONFIG_SYSVIPC), where fio keeps
# its job table: fio-shm.so (bench/fio-shm.c) stands in for shmget and
# friends, preloaded for every method alike, and fio runs its jobs as
# threads (--thread), one process.
# Also runs on the host for development: FIO_FILE=/tmp/f fio-guest.sh
# (the file must exist; dropping caches needs root).
runs=${kaiofioruns:-3}
file=${FIO_FILE:-/mnt/fio/fio-1g}
fio=${FIO_BIN:-/usr/bin/fio}
kaiolib=${FIO_KAIO_LIB:-/lib/kaio-aio}
shm=${FIO_SHM:-/lib/fio-shm.so}
rt=${kaiofioruntime:-15}
only=${kaiofioonly:-randread,seqread}
methods="libaio io_uring psync"
[ ! -e "$kaiolib/libaio.so.1" ] || methods="kaio-libaio $methods"
[ -z "${kaiofiomethods:-}" ] || methods=$(echo "$kaiofiomethods" | tr , ' ')
size=$(stat -c %s "$file")
echo "# fio: $($fio --version), kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB RAM"
echo "# fio: file $file, $((size / 1048576)) MiB, buffered (--direct=0), page cache dropped before each run, runtime cap ${rt} s (one pass at most: every read is cold)"
echo "# fio: methods: $methods; runs $runs"

# busy idle ctxt: from /proc/stat (ticks of all CPUs; context switches).
stat_now() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 } $1 == "ctxt" { print $2 }' /proc/stat | tr '\n' ' '
}
kaio_submitted() {
	awk '$1 == "submitted" { print $2 }' /sys/kernel/debug/kaio/stats 2>/dev/null || echo 0
}

run_one() { # WORKLOAD METHOD RUN
	wl=$1 m=$2 r=$3
	case "$wl" in
	randread) wargs="--rw=randread --bs=4k" depth=32 ;;
	seqread) wargs="--rw=read --bs=1m" depth=8 ;;
	esac
	case "$m" in
	kaio-libaio) eng="--ioengine=libaio --iodepth=$depth" ;;
	libaio) eng="--ioengine=libaio --iodepth=$depth" ;;
	io_uring) eng="--ioengine=io_uring --iodepth=$depth" ;;
	psync) eng="--ioengine=psync --numjobs=8 --group_reporting --size=$((size / 8)) --offset_increment=$((size / 8))" ;;
	esac
	sync
	echo 3 > /proc/sys/vm/drop_caches
	s0=$(stat_now)
	k0=$(kaio_submitted)
	envs=
	[ ! -e "$shm" ] || envs="LD_PRELOAD=$shm"
	[ "$m" != kaio-libaio ] || envs="$envs LD_LIBRARY_PATH=$kaiolib"
	env $envs $fio --name="$wl-$m" --filename="$file" --readonly --direct=0 --thread --eta=never \
		--runtime="$rt" $wargs $eng --slat_percentiles=1 --clat_percentiles=1 \
		--percentile_list=50:99 --output-format=json --output=/tmp/fio.json
	rc=$?
	s1=$(stat_now)
	k1=$(kaio_submitted)
	set -- $s0 $s1
	echo "FIO $wl $m $r $(($4 - $1)) $(($5 - $2)) $(($6 - $3)) $((k1 - k0)) 100 $rc"
	echo "FIOJSON $wl $m $r $(tr -d '\n\t' < /tmp/fio.json 2>/dev/null)"
	rm -f /tmp/fio.json
}

for wl in $(echo "$only" | tr , ' '); do
	for r in $(seq 1 "$runs"); do
		# Rotate the order of the methods by one each run.
		set -- $methods
		i=1
		while [ "$i" -lt "$r" ]; do
			first=$1
			shift
			set -- "$@" "$first"
			i=$((i + 1))
		done
		for m in "$@"; do
			run_one "$wl" "$m" "$r"
		done
	done
done
echo "# fio: finished"
