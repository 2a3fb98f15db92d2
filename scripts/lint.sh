#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Style checks that do not need a build: rustfmt with the kernel's config
# and checkpatch.pl on the C shim and the UAPI header. Prints TAP.
#   scripts/lint.sh KSRC
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ksrc=$1
cd "$here"
echo "1..2"
if out=$(/usr/bin/rustfmt --edition 2021 --config-path "$ksrc/.rustfmt.toml" --color never --check src/*.rs 2>&1); then
	echo "ok 1 rustfmt (kernel .rustfmt.toml) clean"
else
	printf '%s\n' "$out" | head -40 | sed 's/^/# /'
	echo "not ok 1 rustfmt (kernel .rustfmt.toml) clean"
fi
c_files=(src/shim.c src/kaio_shim.h src/uapi_layout.c src/kconst.c include/uapi/linux/kaio.h)
if out=$(perl "$ksrc/scripts/checkpatch.pl" --no-tree --quiet --strict --show-types \
		--ignore FILE_PATH_CHANGES \
		-f "${c_files[@]}" 2>&1); then
	echo "ok 2 checkpatch clean: ${c_files[*]}"
else
	printf '%s\n' "$out" | head -40 | sed 's/^/# /'
	echo "not ok 2 checkpatch clean"
fi
