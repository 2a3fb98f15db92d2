#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds kaio.ko against the release flavor of the test kernel, out of a
# copy of the sources in MODDIR so that the debug build in the tree stays
# intact. Shared by make bench and make bench-fio.
#   scripts/build-release-module.sh KREL MODDIR    (module: MODDIR/kaio.ko)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
. scripts/env.sh
krel=$1 mod=$2
mkdir -p "$mod"
rm -rf "$mod"/src "$mod"/include
cp -r Kbuild src include "$mod/"
rm -f "$mod"/src/*.o "$mod"/src/.*.cmd "$mod"/src/uapi_layout.rs "$mod"/src/uapi_layout.s
make -s -C "$krel" M="$mod" $KAIO_KMAKE_FLAGS modules
