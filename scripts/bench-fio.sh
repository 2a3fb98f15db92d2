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
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/setup-toolchain.sh
. scripts/env.sh
krel=$(scripts/build-kernel.sh release)
out="$here/build/bench-fio"
mod="$here/build/kmod-release"
mkdir -p "$out"
scripts/build-release-module.sh "$krel" "$mod"
# qemu/run.sh puts the selftests and kaioinfo in every guest; mkdata makes the scratch disk.
make -s -C selftests KSRC="$krel/source" OUT="$here/build/selftests"
# SysV shared memory for fio: the test kernel has none (bench/fio-shm.c).
gcc -O2 -Wall -shared -fPIC -o build/selftests/fio-shm.so bench/fio-shm.c
# libkaio-aio.so.1 and build/lib/aio/libaio.so.1.
make -s lib || echo "# bench-fio: make lib failed" >&2
if [ -e build/lib/aio/libaio.so.1 ]; then
	echo "# bench-fio: kaio-libaio from build/lib/aio/libaio.so.1"
else
	echo "# bench-fio: build/lib/aio/libaio.so.1 absent: kaio-libaio is not run" >&2
fi
qemu/mkfiodisk.sh >/dev/null

append="kaiofioruns=${KAIO_FIO_RUNS:-3} kaiofioruntime=${KAIO_FIO_RUNTIME:-15}"
[ -z "${KAIO_FIO_ONLY:-}" ] || append+=" kaiofioonly=$KAIO_FIO_ONLY"
[ -z "${KAIO_FIO_METHODS:-}" ] || append+=" kaiofiomethods=$KAIO_FIO_METHODS"
lock=()
[ -z "${KAIO_QEMU_LOCK:-}" ] || lock=(flock -o "$KAIO_QEMU_LOCK")
echo "# boot: QEMU, release kernel, fio (about 10 minutes at 3 runs)"
start=$SECONDS
KAIO_KO="$mod/kaio.ko" KAIO_QUIET=${KAIO_QUIET:-1} KAIO_TIMEOUT=${KAIO_TIMEOUT:-2400} \
	KAIO_APPEND="$append${KAIO_APPEND:+ $KAIO_APPEND}" \
	"${lock[@]}" qemu/run.sh "$krel" fio "$out" || true
echo "# boot: $((SECONDS - start)) s"
if ! grep -q '^# fio: finished' "$out/tap.log" || ! grep -q '^# guest: done' "$out/tap.log"; then
	tail -30 "$out/console.log"
	tail -20 "$out/tap.log" | cut -c1-300
	echo "bench-fio: the guest did not finish" >&2
	exit 1
fi
mkdir -p docs/bench
/usr/bin/python3 bench/fio-report.py "$out/tap.log" docs/bench
