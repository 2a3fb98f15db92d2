#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Makes (once, cached by content) the ext4 scratch disk image described by
# qemu/scratch.list, without root: mkfs.ext4 -d. Prints the image path.
#   qemu/mkscratch.sh MKDATA
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/env.sh"
mkdata=$1
list="$here/qemu/scratch.list"
key=$(cat "$list" "$here/selftests/kaio_test.h" "$here/qemu/mkscratch.sh" | sha256sum | cut -c1-12)
img="$KAIO_CACHE/scratch-$key.img"
if [ -f "$img" ]; then
	echo "$img"
	exit 0
fi
tmp=$(mktemp -d "$KAIO_CACHE/scratch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/d"
args=()
total=0
while read -r name seed size count; do
	case "$name" in ''|\#*) continue ;; esac
	if [ -z "$count" ]; then
		args+=("$name" "$seed" "$size")
		total=$((total + size))
		continue
	fi
	mkdir -p "$tmp/d/$(dirname "$name")"
	for ((i = 0; i < count; i++)); do
		args+=("$(printf "$name" "$i")" $((seed + i)) "$size")
		total=$((total + size))
	done
done < "$list"
"$mkdata" "$tmp/d" "${args[@]}"
# A root-owned file only root may read, for the permission tests.
printf 'secret\n' > "$tmp/d/root_only"
chmod 0600 "$tmp/d/root_only"
mkdir -m 0700 "$tmp/d/root_dir"
printf 'hidden\n' > "$tmp/d/root_dir/file"
chmod 0644 "$tmp/d/root_dir/file"
# A world-writable directory for tests that create files.
mkdir -m 1777 "$tmp/d/tmp"
mb=$(( total * 13 / 10 / 1048576 + 64 ))
mkfs.ext4 -q -F -E root_owner=0:0 -d "$tmp/d" "$tmp/img" "${mb}M" >&2
rm -f "$KAIO_CACHE"/scratch-*.img
mv "$tmp/img" "$img"
echo "$img"
