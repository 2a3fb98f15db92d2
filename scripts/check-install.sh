#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check's host-side install checks (the guest side is qemu/run.sh's
# install step and qemu/init.sh's install_check). Prints TAP ("ok N name",
# "not ok N name", "# ..."), as scripts/lint.sh does.
#   scripts/check-install.sh KBUILD OUTDIR
# KBUILD: the kernel build tree kaio.ko was built against; logs in OUTDIR.
#
#  1. make install DESTDIR=<temp> twice puts the expected files, and
#     make uninstall DESTDIR=<temp> then leaves the temp root empty.
#  2. A client links statically against the installed libkaio.a with
#     pkg-config --static --cflags --libs kaio.
#  2b. make install refuses a PREFIX kaio.pc and the manifest cannot carry
#     (white space, sed's & and |, .., relative) before writing anything.
#  2c. make uninstall refuses a manifest line install does not write (a
#     file of someone else's, a .. path) and then removes nothing.
#  3. dkms.conf's PACKAGE_VERSION is kaio's version (client/Cargo.toml).
#  4. Debian's dkms adds and builds kaio from 'make dkms-source' against
#     KBUILD in trees under build/dkms (--dkmstree, --sourcetree,
#     --installtree, --kernelsourcedir; nothing of the system's dkms state
#     is touched, signing is off), and the kaio.ko it built has KBUILD's
#     vermagic.
# (No grep -q at the end of a pipeline: with pipefail, the writer's SIGPIPE
# would fail it.)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
kbuild=$1 out=$2
mkdir -p "$out"
n=0
tap() {
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n $2"; else echo "not ok $n $2"; fi
}

version=$(sed -n 's/^version = "\(.*\)"/\1/p' client/Cargo.toml)
krel=$(cat "$kbuild/include/config/kernel.release")

# 1. install, install again, uninstall.
stage=$(mktemp -d "$here/build/install-check.XXXXXX")
want="f /lib/modules/$krel/extra/kaio.ko
f /usr/local/bin/kaio
f /usr/local/include/kaio.h
f /usr/local/include/linux/kaio.h
f /usr/local/lib/libkaio.a
f /usr/local/lib/libkaio.so
f /usr/local/lib/libkaio.so.0
f /usr/local/lib/libkaio.so.$version
f /usr/local/lib/pkgconfig/kaio.pc"
[ ! -f docs/kaio.7 ] || want+=$'\n'"f /usr/local/share/man/man7/kaio.7"
ok=ok
{
	make -s install DESTDIR="$stage" KDIR="$kbuild" &&
		make -s install DESTDIR="$stage" KDIR="$kbuild"
} >"$out/install.log" 2>&1 || ok=fail
man="$stage/usr/local/share/kaio/install-manifest"
if [ "$ok" = ok ] && [ "$(grep '^f ' "$man" | sort)" != "$(sort <<<"$want")" ]; then
	diff <(sort <<<"$want") <(grep '^f ' "$man" | sort) | sed 's/^/# manifest: /'
	ok=fail
fi
if [ "$ok" = ok ] && { [ "$(readlink "$stage/usr/local/lib/libkaio.so.0")" != "libkaio.so.$version" ] ||
		! readelf -d "$stage/usr/local/lib/libkaio.so.$version" | grep 'SONAME.*\[libkaio\.so\.0\]' >/dev/null ||
		! grep -q '^extra/kaio.ko:' "$stage/lib/modules/$krel/modules.dep"; }; then
	echo "# install: libkaio.so.0 link, SONAME or modules.dep wrong"
	ok=fail
fi
tap $ok "make install DESTDIR= (twice): module + depmod, headers, libkaio.so.$version (SONAME libkaio.so.0) and .a, kaio.pc, CLI$([ ! -f docs/kaio.7 ] || echo ", man page")"

# 2. a static client through pkg-config --static.
pc() {
	PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR="$stage/usr/local/lib/pkgconfig" pkg-config "$@" kaio
}
if [ "$(pc --modversion 2>/dev/null)" = "$version" ] &&
		cc -O2 -Wall -Wextra -Werror -static -o "$out/install_client.static" selftests/install_client.c \
			$(pc --static --cflags --libs) >"$out/install-static.log" 2>&1 &&
		! readelf -d "$out/install_client.static" 2>/dev/null | grep NEEDED >/dev/null &&
		nm "$out/install_client.static" | grep ' T kaio_submit$' >/dev/null; then
	tap ok "a client links statically against the installed libkaio.a (pkg-config --static, kaio.pc version $version)"
else
	sed 's/^/# /' "$out/install-static.log" 2>/dev/null | tail -20
	tap fail "a client links statically against the installed libkaio.a (pkg-config --static, kaio.pc version $version)"
fi
rm -f "$out/install_client.static"

if make -s uninstall DESTDIR="$stage" >>"$out/install.log" 2>&1 &&
		[ -z "$(find "$stage" -mindepth 1 -print -quit)" ]; then
	tap ok "make uninstall DESTDIR= removes every file and directory install made"
else
	find "$stage" -mindepth 1 | sed 's/^/# left: /' | head -20
	tap fail "make uninstall DESTDIR= removes every file and directory install made"
fi
rm -rf "$stage"

# 2b. (hostile review) a directory kaio.pc cannot carry (sed's & and |,
# white space, ..) is refused before anything is installed.
bad=$(mktemp -d "$here/build/install-check.XXXXXX")
refused=0 tried=0
for p in "/opt/my kaio" "/opt/kaio&co" "/opt/a|b" "/usr/local/../../etc" "relative"; do
	tried=$((tried + 1))
	if ! make -s install DESTDIR="$bad" KDIR="$kbuild" PREFIX="$p" >"$out/install-bad.log" 2>&1 &&
			grep 'install.sh: PREFIX' "$out/install-bad.log" >/dev/null &&
			[ -z "$(find "$bad" -mindepth 1 -print -quit)" ]; then
		refused=$((refused + 1))
	else
		echo "# install: PREFIX='$p' was not refused cleanly"
		sed 's/^/# /' "$out/install-bad.log" | tail -5
	fi
done
tap "$([ "$refused" = "$tried" ] && echo ok || echo fail)" "make install refuses a PREFIX kaio.pc cannot carry (space, &, |, .., relative) and installs nothing ($refused/$tried)"

# 2c. (hostile review) uninstall removes only what install could have
# written: a manifest line naming another file is refused, and nothing is
# removed.
make -s install DESTDIR="$bad" KDIR="$kbuild" >"$out/install-bad.log" 2>&1
mkdir -p "$bad/etc"
echo victim > "$bad/etc/victim"
mfst="$bad/usr/local/share/kaio/install-manifest"
for line in "f /etc/victim" "f /usr/local/bin/../../../etc/victim"; do
	cp "$mfst" "$out/manifest.orig"
	echo "$line" >> "$mfst"
	if ! make -s uninstall DESTDIR="$bad" >"$out/uninstall-bad.log" 2>&1 &&
			[ -f "$bad/etc/victim" ] && [ -f "$bad/usr/local/bin/kaio" ]; then
		:
	else
		echo "# uninstall with '$line': victim $([ -f "$bad/etc/victim" ] && echo kept || echo REMOVED)"
		refused=x
	fi
	cp "$out/manifest.orig" "$mfst"
done
tap "$([ "$refused" != x ] && echo ok || echo fail)" "make uninstall refuses a manifest line install did not write (another file, a .. path) and removes nothing"
rm -rf "$bad"

# 3. dkms.conf's version.
dver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
if [ "$dver" = "$version" ]; then
	tap ok "dkms.conf PACKAGE_VERSION is kaio's version ($version)"
else
	tap fail "dkms.conf PACKAGE_VERSION '$dver' is kaio's version ($version)"
fi

# 4. dkms add + build in private trees.
dk="$here/build/dkms"
name="Debian's dkms builds kaio/$version against $krel (dkms.conf)"
if ! command -v dkms >/dev/null; then
	tap fail "$name: no dkms (scripts/setup-toolchain.sh)"
	exit 0
fi
rm -rf "$dk"
mkdir -p "$dk/tree" "$dk/install"
ko="$dk/tree/kaio/$version/$krel/$(uname -m)/module/kaio.ko"
dkms_args=(--dkmstree "$dk/tree" --sourcetree "$dk/root/usr/src" --installtree "$dk/install")
# Signing off: an unusable sign-file, keys (never made) under build/dkms.
if make -s dkms-source DESTDIR="$dk/root" >"$out/dkms.log" 2>&1 &&
		dkms add "kaio/$version" "${dkms_args[@]}" >>"$out/dkms.log" 2>&1 &&
		sign_file="$dk/no-sign-file" mok_signing_key="$dk/mok.key" mok_certificate="$dk/mok.pub" \
		dkms build "kaio/$version" -k "$krel" --kernelsourcedir "$kbuild" "${dkms_args[@]}" \
			>>"$out/dkms.log" 2>&1 &&
		[ -f "$ko" ]; then
	vermagic=$(modinfo -F vermagic "$ko" | sed "s/ *$//")
	echo "# dkms: $ko: vermagic $vermagic"
	if [ "${vermagic%% *}" = "$krel" ] && [ "$(modinfo -F name "$ko")" = kaio ] &&
			[ "$vermagic" = "$(modinfo -F vermagic kaio.ko | sed "s/ *$//")" ]; then
		tap ok "$name: kaio.ko with vermagic '$vermagic'"
	else
		tap fail "$name: kaio.ko vermagic '$vermagic', want '$(modinfo -F vermagic kaio.ko)'"
	fi
else
	tail -20 "$out/dkms.log" | sed 's/^/# dkms: /'
	cat "$dk/tree/kaio/$version/build/make.log" 2>/dev/null | tail -20 | sed 's/^/# make.log: /'
	tap fail "$name"
fi
rm -rf "$dk"
