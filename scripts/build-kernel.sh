#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (once) the Rust-enabled 6.12 test kernel for kaio, out of tree, into a
# cache keyed by kernel version, flavor and a hash of the config fragments and
# toolchain. Prints the build directory on stdout when done.
#
#   scripts/build-kernel.sh [debug|release]
#
# KAIO_CACHE moves the cache (default ~/.cache/kaio).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/env.sh"

flavor=${1:-debug}
case "$flavor" in
debug) frags=("$here/kernel-config/base.config" "$here/kernel-config/debug.config") ;;
release) frags=("$here/kernel-config/base.config") ;;
*) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac

tarball=/usr/src/linux-source-6.12.tar.xz
[ -f "$tarball" ] || { echo "build-kernel: $tarball missing: run scripts/setup-toolchain.sh" >&2; exit 1; }
kver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
# The key ignores comments, blank lines and order, so editing a fragment's
# prose does not cost a rebuild.
key=$( (grep -h '^CONFIG_' "${frags[@]}" | sort -u; echo "$kver"; /usr/bin/rustc --version; clang --version | head -1; "$KAIO_BINDGEN" --version) | sha256sum | cut -c1-12)

src="$KAIO_CACHE/src/linux-source-$kver"
out="$KAIO_CACHE/kernel-$kver-$flavor-$key"

log() { echo "build-kernel: $*" >&2; }

if [ -f "$out/.kaio-complete" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$KAIO_CACHE/src"
if ! [ -f "$src/.kaio-unpacked" ]; then
	log "unpacking $tarball"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.kaio-unpacked"
	mv "$src.tmp" "$src"
fi

mkdir -p "$out"
kmake() { make -C "$src" O="$out" $KAIO_KMAKE_FLAGS "$@"; }

if ! [ -f "$out/.kaio-configured" ]; then
	log "configuring $flavor kernel in $out"
	kmake tinyconfig >/dev/null
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >/dev/null)
	kmake olddefconfig >/dev/null
	# Every fragment line must have survived olddefconfig, or the kernel
	# would silently lack something the tests rely on.
	bad=0
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=n) opt=${line%=n}; grep -q "^$opt=" "$out/.config" && { log "$opt should be off"; bad=1; } ;;
			CONFIG_*=*) grep -qx "$line" "$out/.config" || { log "not set: $line"; bad=1; } ;;
			esac
		done < "$f"
	done
	[ "$bad" -eq 0 ] || { log "config fragments did not apply"; exit 1; }
	touch "$out/.kaio-configured"
fi

jobs=$(( $(nproc) + 1 ))
log "building $flavor kernel ($kver) with -j$jobs; this takes 15-20 minutes once, then it is cached"
start=$(date +%s)
klog="$out/build.log"
( kmake -j"$jobs" bzImage modules >"$klog" 2>&1; echo $? >"$out/.kaio-rc" ) &
pid=$!
rm -f "$out/.kaio-rc"
while kill -0 "$pid" 2>/dev/null; do
	sleep 30
	n=$(grep -cE '^\s+(CC|RUSTC|AS|LD|AR|BINDGEN)' "$klog" || true)
	last=$(grep -E '^\s+(CC|RUSTC|AS|LD|AR|BINDGEN)' "$klog" | tail -1 | sed 's/^ *//' || true)
	log "$(( ($(date +%s) - start) / 60 ))m$(( ($(date +%s) - start) % 60 ))s: $n steps done (~2100 in all), now $last"
done
wait "$pid" || true
rc=$(cat "$out/.kaio-rc" 2>/dev/null || echo 1)
if [ "$rc" -ne 0 ]; then
	tail -40 "$klog" >&2
	log "kernel build failed (log: $klog)"
	exit 1
fi
touch "$out/.kaio-complete"
log "built in $(( $(date +%s) - start )) s"
echo "$out"
