#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench`: three workloads, every method several
# times with the order rotated (kaio-bench does the rotation).
runs=${kaioruns:-3}
echo "# bench: kernel $(uname -r), $(nproc) CPUs; release flavor (no KASAN, lockdep or kmemleak)"
echo "# bench: throttled disk /dev/vdb (QEMU: 200 MiB/s, 4000 IOPS), unthrottled /dev/vda"
only=${kaiobenchonly:-all}	# KAIO_BENCH_ONLY=cold, hot or none
if [ "$only" = all ] || [ "$only" = cold ]; then
/tests/kaio-bench -w cold-throttled -d /mnt/thr/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
# The same at 8 files in flight, as many as the pool's threads: the
# latencies compare here (Little's law).
/tests/kaio-bench -w cold-throttled-q8 -d /mnt/thr/bench/cold -D -r "$runs" \
	-c 8 -q 8 -m kaio,pool,uring
/tests/kaio-bench -w cold -d /mnt/scratch/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
fi
cat /mnt/scratch/bench/hot/* > /dev/null
# kaio's own cost per request, inline, against the system calls it stands for.
/tests/kaio-overhead /mnt/scratch/bench/hot/h0000 20000
if [ "$only" = all ] || [ "$only" = hot ]; then
# Hot files at 64 and 8 requests in flight (one per connection), over TCP
# on loopback and over unix stream sockets: the ratios move with both.
for sock in tcp unix; do
	for q in 64 8; do
		/tests/kaio-bench -w "hot-16k-$sock-q$q" -d /mnt/scratch/bench/hot -p 3 -r "$runs" \
			-c "$q" -q "$q" $([ "$sock" = unix ] && echo -u) -m kaio,kaio2,single,pool,uring
	done
done
fi

# KAIO_PROFILE=1: where the CPU goes per file, kaio against the pool, from
# perf's software clock sampling the whole guest (no PMU under TCG), for
# each workload: hot (kaioprofsock=tcp,unix; none skips them, leaving the
# kaio-overhead profile below), then the cold ones (kaioprofcold=0 skips).
# Self time as microseconds per file: samples / rate / files.
prof() {	# NAME ARGS...
	name=$1
	shift
	out=$(/usr/bin/perf record -q -a -g -e cpu-clock -F 2000 -o /tmp/perf.data -- \
		/tests/kaio-bench -w "profile-$name" -r 1 "$@")
	echo "$out" | grep '^RESULT' | sed 's/^/# profile run: /'
	# Files per run: kaio-bench's "# NAME: N files, ... (P passes)" line.
	files=$(echo "$out" | sed -n 's/^# [^:]*: \([0-9]*\) files, .*(\([0-9]*\) passes).*/\1 \2/p' |
		awk '{ print $1 * $2 }')
	echo "# profile: $name: share of all guest CPU samples (idle included), with callees, then self"
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --children --sort sym -g none \
		--percent-limit 3 2>/dev/null | grep -v '^$' | head -45 | sed 's/^/# profile: /'
	echo "# profile self: $name: $files files: µs per file, share, symbol"
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --no-children -n --sort sym -g none \
		--percent-limit 0.5 2>/dev/null | grep -v '^$' | head -40 |
		awk -v f="$files" '{ printf "# profile self: %8.2f %s", $2 / 2000 / f * 1e6, $1; for (i = 3; i <= NF; i++) printf " %s", $i; printf "\n" }'
	rm -f /tmp/perf.data
}
if [ "${kaioprofile:-0}" = 1 ] && [ -x /usr/bin/perf ]; then
	if [ "${kaioprofsock:-}" != none ]; then
		for sock in $(echo "${kaioprofsock:-tcp,unix}" | tr , ' '); do
			for m in $(echo "${kaioprofmethods:-kaio,kaio2,pool,single,uring}" | tr , ' '); do
				prof "hot-16k-$sock-q8-$m" -d /mnt/scratch/bench/hot -p 3 -c 8 -q 8 \
					$([ "$sock" = unix ] && echo -u) -m "$m"
			done
		done
	fi
	if [ "${kaioprofcold:-1}" = 1 ]; then
		for m in kaio pool uring; do
			prof "cold-$m" -d /mnt/scratch/bench/cold -D -m "$m"
			prof "cold-throttled-$m" -d /mnt/thr/bench/cold -D -m "$m"
		done
	fi
fi
# KAIO_PROFILE=1 and kaioprofoverhead=NAME: a profile of one kaio-overhead line.
if [ "${kaioprofile:-0}" = 1 ] && [ -n "${kaioprofoverhead:-}" ] && [ -x /usr/bin/perf ]; then
	/usr/bin/perf record -q -a -g -e cpu-clock -F 4000 -o /tmp/perf.data -- \
		/tests/kaio-overhead /mnt/scratch/bench/hot/h0000 100000 "$kaioprofoverhead" > /dev/null 2>&1
	echo "# profile: kaio-overhead $kaioprofoverhead: with callees, then self"
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --children --sort sym -g none \
		--percent-limit 2 2>/dev/null | grep -v '^$' | head -60 | sed 's/^/# profile: /'
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --no-children --sort sym -g none \
		--percent-limit 0.8 2>/dev/null | grep -v '^$' | head -40 | sed 's/^/# profile self: /'
fi
