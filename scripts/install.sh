#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make install, make uninstall, make dkms-source (run by the Makefile,
# which passes the variables below in the environment).
#
#   scripts/install.sh install       kaio.ko, headers, libkaio, kaio.pc, CLI, man page
#   scripts/install.sh uninstall     removes exactly what install put
#   scripts/install.sh dkms-source DIR   the module's sources and dkms.conf into DIR
#
# DESTDIR stages into another root (then depmod -b DESTDIR, no ldconfig).
# PREFIX LIBDIR INCLUDEDIR BINDIR MANDIR: where things go (PREFIX
# /usr/local). KO: the module (kaio.ko); it goes to
# /lib/modules/<its vermagic's release>/extra. KDIR or KERNELRELEASE, when
# given, must name that same release. CLI: the kaio binary (build/bin/kaio).
# KAIO_VERSION, SOVERSION: libkaio.so.$KAIO_VERSION, SONAME libkaio.so.$SOVERSION.
#
# Nothing is built here: install only copies what 'make modules', 'make lib'
# and scripts/build-client.sh built, so 'sudo make install' needs no
# toolchain. Every file and every directory install created is listed in
# $PREFIX/share/kaio/install-manifest ("f PATH" or "d PATH"), which is what
# uninstall removes.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

D=${DESTDIR:-}
D=${D%/}
PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
BINDIR=${BINDIR:-$PREFIX/bin}
MANDIR=${MANDIR:-$PREFIX/share/man}
KO=${KO:-kaio.ko}
CLI=${CLI:-build/bin/kaio}
KAIO_VERSION=${KAIO_VERSION:?}
SOVERSION=${SOVERSION:?}
LIB_OUT=build/lib
manifest_path=$PREFIX/share/kaio/install-manifest
manifest=$D$manifest_path

die() {
	echo "install.sh: $*" >&2
	exit 1
}

# clean_path PATH: an absolute path with no . or .. component and only
# characters that sed, kaio.pc and the manifest carry as they are.
clean_path() {
	[[ "$1" =~ ^(/[A-Za-z0-9_+@:~.-]+)+$ ]] && [[ ! "$1" =~ /\.\.?(/|$) ]]
}

# The directories, checked before anything is written or removed.
for v in PREFIX LIBDIR INCLUDEDIR BINDIR MANDIR; do
	clean_path "${!v}" || die "$v='${!v}' must be an absolute path of letters, digits and . _ + @ : ~ - (no spaces, no . or .. components)"
done
[ -z "$D" ] || [[ "$D" != *$'\n'* ]] || die "DESTDIR must not contain a newline"

# allowed KIND PATH: whether a manifest line is one install writes: its
# files, a module under /lib/modules/<release>/extra, or a directory on
# the way to one of them. Anything else in a manifest is refused.
allowed() {
	local kind=$1 path=$2 f
	local files=("$INCLUDEDIR/linux/kaio.h" "$INCLUDEDIR/kaio.h" "$LIBDIR/libkaio.so"
		"$LIBDIR/libkaio.a" "$LIBDIR/pkgconfig/kaio.pc" "$BINDIR/kaio"
		"$MANDIR/man7/kaio.7" "$manifest_path")
	clean_path "$path" || return 1
	if [[ "$path" =~ ^/lib/modules/[A-Za-z0-9_+~.-]+/extra/kaio\.ko$ ]] ||
			[[ "$path" =~ ^"$LIBDIR"/libkaio\.so\.[0-9][0-9.]*$ ]]; then
		[ "$kind" = f ]
		return
	fi
	if [ "$kind" = d ]; then
		[[ "$path" =~ ^/lib(/modules(/[A-Za-z0-9_+~.-]+(/extra)?)?)?$ ]] && return 0
		for f in "${files[@]}"; do
			[[ "$f" == "$path"/* ]] && return 0
		done
		return 1
	fi
	for f in "${files[@]}"; do
		[ "$path" = "$f" ] && [ "$f" != "$manifest_path" ] && return 0
	done
	return 1
}

# read_manifest: the manifest's lines, each checked by allowed (a line
# install did not write stops everything: nothing is removed).
read_manifest() {
	local kind path bad=0
	while read -r kind path; do
		if ! { [ "$kind" = f ] || [ "$kind" = d ]; } || ! allowed "$kind" "$path"; then
			echo "install.sh: $manifest: '$kind $path' is not a line install writes" >&2
			bad=1
		fi
	done < "$manifest"
	[ "$bad" -eq 0 ] || die "refusing to use $manifest (remove those lines, or the files by hand)"
}

# depmod for RELEASE, in DESTDIR's root when staging. A staged root has
# no modules.order or modules.builtin (the kernel package's files): those
# warnings are expected there and dropped.
run_depmod() {
	local krel=$1
	if ! command -v depmod >/dev/null && [ -x /sbin/depmod ]; then
		PATH=$PATH:/sbin:/usr/sbin
	fi
	if [ -z "$D" ]; then
		depmod "$krel"
	else
		depmod -b "$D" "$krel" 2> >(grep -v 'WARNING: could not open modules\.\(order\|builtin\)' >&2)
	fi
}

run_ldconfig() {
	[ -z "$D" ] || return 0
	command -v ldconfig >/dev/null || PATH=$PATH:/sbin:/usr/sbin
	ldconfig
}

# The new manifest: the old one's entries (a reinstall for another kernel
# keeps the first module listed) plus this install's.
entries=()
add_entry() {
	entries+=("$1 $2")
}

# mkdir_p DIR: creates DIR and its missing parents under DESTDIR, listing
# each one it created.
mkdir_p() {
	local dir=$1 missing=()
	while [ -n "$dir" ] && [ "$dir" != / ] && [ ! -d "$D$dir" ]; do
		missing=("$dir" "${missing[@]}")
		dir=$(dirname "$dir")
	done
	for dir in "${missing[@]}"; do
		mkdir -m 0755 "$D$dir"
		add_entry d "$dir"
	done
}

# put MODE SRC DEST: one file.
put() {
	mkdir_p "$(dirname "$3")"
	install -m "$1" "$2" "$D$3"
	add_entry f "$3"
}

# link TARGET DEST: one symbolic link.
link() {
	mkdir_p "$(dirname "$2")"
	ln -sfn "$1" "$D$2"
	add_entry f "$2"
}

# write_manifest: this install's entries and the old manifest's, directories
# first, parents before children, no duplicates.
write_manifest() {
	mkdir_p "$(dirname "$manifest_path")"
	printf '%s\n' "${entries[@]}" | awk '!seen[$0]++' | sort -s -k1,1 > "$manifest.new"
	mv "$manifest.new" "$manifest"
	chmod 0644 "$manifest"
}

do_install() {
	local krel kdir_rel so=libkaio.so.$KAIO_VERSION

	[ -f "$KO" ] || die "no $KO: build it first (make modules KDIR=/lib/modules/\$(uname -r)/build)"
	[ -f "$LIB_OUT/$so" ] && [ -f "$LIB_OUT/libkaio.a" ] || die "no $LIB_OUT/$so: build it first (make lib)"
	[ -x "$CLI" ] || die "no $CLI: build it first (make client)"
	command -v modinfo >/dev/null || PATH=$PATH:/sbin:/usr/sbin
	krel=$(modinfo -F vermagic "$KO" | awk '{ print $1 }')
	[ -n "$krel" ] || die "$KO has no vermagic"
	if [ -n "${KERNELRELEASE:-}" ] && [ "$KERNELRELEASE" != "$krel" ]; then
		die "$KO is built for $krel, not KERNELRELEASE=$KERNELRELEASE"
	fi
	if [ -n "${KDIR:-}" ]; then
		kdir_rel=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null) ||
			die "KDIR=$KDIR has no include/config/kernel.release"
		[ "$kdir_rel" = "$krel" ] || die "$KO is built for $krel, not for KDIR's $kdir_rel: rebuild it (make modules KDIR=$KDIR)"
	fi

	if [ -f "$manifest" ]; then
		read_manifest
		while read -r kind path; do
			add_entry "$kind" "$path"
		done < "$manifest"
	fi
	# From here on, what was put is listed even if a later step fails.
	trap write_manifest EXIT

	put 0644 "$KO" "/lib/modules/$krel/extra/kaio.ko"
	put 0644 include/uapi/linux/kaio.h "$INCLUDEDIR/linux/kaio.h"
	put 0644 lib/kaio.h "$INCLUDEDIR/kaio.h"
	put 0755 "$LIB_OUT/$so" "$LIBDIR/$so"
	link "$so" "$LIBDIR/libkaio.so.$SOVERSION"
	link "libkaio.so.$SOVERSION" "$LIBDIR/libkaio.so"
	put 0644 "$LIB_OUT/libkaio.a" "$LIBDIR/libkaio.a"
	mkdir_p "$LIBDIR/pkgconfig"
	sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|$LIBDIR|g" \
		-e "s|@INCLUDEDIR@|$INCLUDEDIR|g" -e "s|@VERSION@|$KAIO_VERSION|g" \
		lib/kaio.pc.in > "$D$LIBDIR/pkgconfig/kaio.pc"
	chmod 0644 "$D$LIBDIR/pkgconfig/kaio.pc"
	add_entry f "$LIBDIR/pkgconfig/kaio.pc"
	put 0755 "$CLI" "$BINDIR/kaio"
	if [ -f docs/kaio.7 ]; then
		put 0644 docs/kaio.7 "$MANDIR/man7/kaio.7"
	fi
	trap - EXIT
	write_manifest

	run_depmod "$krel"
	run_ldconfig
	echo "install: kaio $KAIO_VERSION into ${D:-/} (module for $krel; manifest $manifest_path)"
}

do_uninstall() {
	local kind path krels=() krel dirs=() n=0 mdir

	if [ ! -f "$manifest" ]; then
		echo "uninstall: nothing to do, no $manifest"
		return 0
	fi
	read_manifest
	while read -r kind path; do
		case "$kind" in
		f)
			rm -f "$D$path"
			n=$((n + 1))
			case "$path" in
			/lib/modules/*/extra/kaio.ko)
				krel=${path#/lib/modules/}
				krels+=("${krel%%/*}")
				;;
			esac
			;;
		d) dirs=("$path" "${dirs[@]}") ;;
		esac
	done < "$manifest"
	rm -f "$manifest"

	# The module index: rebuilt without kaio, or, for a release directory
	# install created that no longer holds a module, removed with it.
	for krel in ${krels[@]+"${krels[@]}"}; do
		mdir="$D/lib/modules/$krel"
		[ -d "$mdir" ] || continue
		if grep -qx "d /lib/modules/$krel" <(printf 'd %s\n' ${dirs[@]+"${dirs[@]}"}) &&
				[ -z "$(find "$mdir" -name '*.ko*' -print -quit)" ]; then
			rm -f "$mdir"/modules.{alias,alias.bin,builtin.alias.bin,builtin.bin,dep,dep.bin,devname,softdep,symbols,symbols.bin,weakdep}
		else
			run_depmod "$krel"
		fi
	done

	# Directories install created, children first, if now empty.
	for path in ${dirs[@]+"${dirs[@]}"}; do
		rmdir "$D$path" 2>/dev/null || true
	done
	run_ldconfig
	echo "uninstall: removed $n files from ${D:-/}"
}

# The files the module build needs; no build products (the files Kbuild
# generates are its "targets +=" lines).
do_dkms_source() {
	local dir=${1:?usage: install.sh dkms-source DIR} f generated
	generated=" $(sed -n 's/^targets[[:space:]]*+=//p' Kbuild | tr '\n' ' ') "
	mkdir -p "$dir/src" "$dir/include/uapi/linux"
	install -m 0644 Kbuild dkms.conf "$dir/"
	install -m 0644 include/uapi/linux/kaio.h "$dir/include/uapi/linux/"
	for f in src/*.rs src/*.c src/*.h; do
		[ -e "$f" ] || continue
		case "$generated" in *" $f "*) continue ;; esac
		install -m 0644 "$f" "$dir/src/"
	done
	echo "dkms-source: $dir (then: dkms add kaio/$KAIO_VERSION && dkms install kaio/$KAIO_VERSION)"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
dkms-source) do_dkms_source "${2:-}" ;;
*) die "usage: $0 install|uninstall|dkms-source DIR" ;;
esac
