#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench: the side-by-side benchmark on the release flavor of the test
# kernel (base fragment only: no KASAN, lockdep or kmemleak), in one VM
# boot, with the scratch disk attached twice: unthrottled (/dev/vda) and
# throttled by QEMU to 200 MiB/s and 4000 IOPS (/dev/vdb). Writes
# docs/bench/results.md and one chart per workload
# (docs/bench/results-WORKLOAD.png) and prints the table.
# KAIO_BENCH_RUNS=N runs per method (default 3).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/setup-toolchain.sh
. scripts/env.sh
krel=$(scripts/build-kernel.sh release)
kdbg_src="$krel/source"
out="$here/build/bench"
mod="$here/build/kmod-release"
mkdir -p "$out" "$mod"
# The module, built out of a copy so that the debug build stays intact.
scripts/build-release-module.sh "$krel" "$mod"
make -s -C selftests KSRC="$kdbg_src" OUT="$here/build/selftests"
make -s lib
gcc -O2 -Wall -Iinclude/uapi -Ilib -o build/selftests/kaio-bench bench/bench.c lib/kaio.c \
	-static -pthread -luring
gcc -O2 -Wall -Iinclude/uapi -Ilib -o build/selftests/kaio-overhead bench/overhead.c lib/kaio.c -static
cp bench/guest.sh build/selftests/bench.sh
echo "# boot: QEMU, release kernel, benchmark (several minutes)"
KAIO_KO="$mod/kaio.ko" KAIO_BENCH=1 KAIO_QUIET=1 KAIO_TIMEOUT=3600 \
	qemu/run.sh "$krel" bench "$out" || true
grep -q '^# guest: done' "$out/tap.log" || { tail -30 "$out/console.log"; echo "bench: the guest did not finish" >&2; exit 1; }
mkdir -p docs/bench
rm -f docs/bench/results.png
/usr/bin/python3 bench/report.py "$out/tap.log" docs/bench
