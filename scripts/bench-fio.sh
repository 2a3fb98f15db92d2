#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench-fio: Debian's fio, unmodified, on a cold 1 GiB file (buffered
# reads) in one boot of the release kernel under QEMU, methods kaio-libaio
# (fio's libaio engine on libkaio-aio, when build/lib/aio/libaio.so.1
# exists), kernel libaio, io_uring and psync with 8 jobs. Writes
# docs/bench/fio.md, docs/bench/fio-randread.png, docs/bench/fio-seqread.png.
# Environment: KAIO_FIO_RUNS (default 3) runs per method; KAIO_FIO_RUNTIME
# seconds cap per run (default 15); KAIO_FIO_ONLY=randread|seqread;
# KAIO_FIO_METHODS=kaio-libaio,libaio,io_uring,psync (a subset);
# KAIO_QEMU_LOCK=FILE: hold flock FILE around the boot only.
. "$(dirname "$0")/bench-lib.sh"
bench_prepare fio
# SysV shared memory for fio: the test kernel has none (bench/fio-shm.c).
gcc -O2 -Wall -shared -fPIC -o build/selftests/fio-shm.so bench/fio-shm.c
# libkaio-aio.so.1 and build/lib/aio/libaio.so.1.
make -s lib || echo "# bench-fio: make lib failed" >&2
if [ -e build/lib/aio/libaio.so.1 ]; then
	echo "# bench-fio: kaio-libaio from build/lib/aio/libaio.so.1"
else
	echo "# bench-fio: build/lib/aio/libaio.so.1 absent: kaio-libaio is not run" >&2
fi
qemu/mkfiodisk.sh fio >/dev/null

append="kaiofioruns=${KAIO_FIO_RUNS:-3} kaiofioruntime=${KAIO_FIO_RUNTIME:-15}"
bench_knob KAIO_FIO_ONLY kaiofioonly
bench_knob KAIO_FIO_METHODS kaiofiomethods
bench_boot fio "$append" "fio (about 10 minutes at 3 runs)"
bench_finished fio
mkdir -p docs/bench
/usr/bin/python3 bench/fio-report.py "$out/tap.log" docs/bench
