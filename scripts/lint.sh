#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Style checks that do not need a build: rustfmt with the kernel's config,
# checkpatch.pl on the C shim and the UAPI header, and the man page
# (docs/kaio.7 is what docs/kaio.7.md generates, and renders without a
# warning). Prints TAP.
#   scripts/lint.sh KSRC
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ksrc=$1
cd "$here"
echo "1..4"
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
# The committed man page is what scripts/man.sh makes of the Markdown.
if ! command -v pandoc >/dev/null; then
	echo "not ok 3 docs/kaio.7 is current: pandoc missing (scripts/setup-toolchain.sh)"
elif out=$(scripts/man.sh --stdout | diff -u docs/kaio.7 - 2>&1); then
	echo "ok 3 docs/kaio.7 is current (scripts/man.sh of docs/kaio.7.md)"
else
	printf '%s\n' "$out" | head -20 | sed 's/^/# /'
	echo "not ok 3 docs/kaio.7 is current: run make man"
fi
# ... and renders: groff with every warning, and man(1) at 80 columns.
out=$( { groff -man -t -ww -z docs/kaio.7 && MANWIDTH=80 man --warnings -l docs/kaio.7 >/dev/null; } 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	echo "ok 4 docs/kaio.7 renders with no warning (groff -ww, man --warnings)"
else
	printf '%s\n' "$out" | head -20 | sed 's/^/# /'
	echo "not ok 4 docs/kaio.7 renders with no warning"
fi
