#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Makes (once, cached) a benchmark's data disk: an ext4 image of
# pseudo-random bytes (not zeros: mkfs.ext4 -d would leave zero blocks as
# holes, which read without touching the disk). Attached read-only in its
# own mode only, so `make check` and `make bench` keep their scratch disk as
# it is. Prints the image path.
#   qemu/mkfiodisk.sh [fio|http]
# fio (make bench-fio): fio-1g, 1 GiB.
# http (make bench-http): hot/h0000..h0999, 1000 x 16 KiB, and
# cold/c000..c767, 768 x 4 MiB (3 GiB: more than the guest's page cache
# holds, so a cold request that comes back to a file, when a run serves
# more than the set, still finds it evicted).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/env.sh"
kind=${1:-fio}
case "$kind" in fio|http) ;; *) echo "usage: $0 [fio|http]" >&2; exit 2 ;; esac
# The key ignores comment lines, so editing the prose costs no new image.
key=$( (grep -v '^#' "$here/qemu/mkfiodisk.sh"; echo "$kind") | sha256sum | cut -c1-12)
img="$KAIO_CACHE/$kind-$key.img"
if [ -f "$img" ]; then
	echo "$img"
	exit 0
fi
mkdir -p "$KAIO_CACHE"
tmp=$(mktemp -d "$KAIO_CACHE/$kind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/d"
# random PASS BYTES: BYTES from a stream cipher seeded by PASS: fast and the
# same on every machine. (openssl ends on SIGPIPE when head has enough.)
random() {
	{ openssl enc -aes-128-ctr -nosalt -pass "pass:$1" -pbkdf2 -in /dev/zero 2>/dev/null || true; } |
		head -c "$2"
}
case "$kind" in
fio)
	random kaio-fio 1073741824 > "$tmp/d/fio-1g"
	[ "$(stat -c %s "$tmp/d/fio-1g")" = 1073741824 ]
	size=1100M
	;;
http)
	mkdir "$tmp/d/hot" "$tmp/d/cold"
	random kaio-http-hot $((1000 * 16384)) | (cd "$tmp/d/hot" && split -b 16384 -d -a 4 - h)
	random kaio-http-cold $((768 * 4194304)) | (cd "$tmp/d/cold" && split -b 4194304 -d -a 3 - c)
	[ "$(ls "$tmp/d/hot" | wc -l)" = 1000 ] && [ "$(ls "$tmp/d/cold" | wc -l)" = 768 ]
	[ "$(stat -c %s "$tmp/d/hot/h0999" "$tmp/d/cold/c767" | sort -u)" = "$(printf '16384\n4194304')" ]
	size=3400M
	;;
esac
mkfs.ext4 -q -F -E root_owner=0:0 -d "$tmp/d" "$tmp/img" "$size" >&2
rm -f "$KAIO_CACHE/$kind"-*.img
mv "$tmp/img" "$img"
echo "$img"
