#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make demo: set up, build the test kernel (cached) and kaio, boot QEMU and
# show kaio at work.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/setup-toolchain.sh
. scripts/env.sh
kdir=$(scripts/build-kernel.sh debug)
out="$here/build/demo"
mkdir -p "$out"
echo "# build: kaio.ko"
make -s -C "$kdir" M="$here" $KAIO_KMAKE_FLAGS modules
make -s -C selftests KSRC="$kdir/source" OUT="$here/build/selftests"
scripts/build-client.sh
echo "# boot: QEMU (about 30 s to the demo on the debug kernel under TCG)"
qemu/run.sh "$kdir" demo "$out"
grep -q '^# guest: done' "$out/tap.log"
