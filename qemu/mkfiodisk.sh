#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Makes (once, cached) the disk of `make bench-fio`: an ext4 image holding
# fio-1g, 1 GiB of pseudo-random bytes (not zeros: mkfs.ext4 -d would leave
# zero blocks as holes, which read without touching the disk). Attached
# read-only in fio mode only, so `make check` and `make bench` keep their
# scratch disk as it is. Prints the image path.
#   qemu/mkfiodisk.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/env.sh"
key=$(sha256sum < "$here/qemu/mkfiodisk.sh" | cut -c1-12)
img="$KAIO_CACHE/fio-$key.img"
if [ -f "$img" ]; then
	echo "$img"
	exit 0
fi
mkdir -p "$KAIO_CACHE"
tmp=$(mktemp -d "$KAIO_CACHE/fio.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/d"
# 1 GiB from a seeded stream cipher: fast and the same on every machine.
# (openssl ends on SIGPIPE when head has enough.)
{ openssl enc -aes-128-ctr -nosalt -pass pass:kaio-fio -pbkdf2 -in /dev/zero 2>/dev/null || true; } \
	| head -c 1073741824 > "$tmp/d/fio-1g"
[ "$(stat -c %s "$tmp/d/fio-1g")" = 1073741824 ]
mkfs.ext4 -q -F -E root_owner=0:0 -d "$tmp/d" "$tmp/img" 1100M >&2
rm -f "$KAIO_CACHE"/fio-*.img
mv "$tmp/img" "$img"
echo "$img"
