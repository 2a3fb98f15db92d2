#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the test kernel with kaio and its tests and collects what it printed.
#   qemu/run.sh KBUILD MODE OUTDIR
# KBUILD: kernel build tree; MODE: check | demo | bench | fio | http; OUTDIR receives
# console.log (kernel log, ttyS0) and tap.log (tests, ttyS1).
# Environment: KAIO_ACCEL=tcg|kvm (default tcg: nested KVM hangs on these
# machines), KAIO_TIMEOUT seconds (default 1500), KAIO_BINS=name to run one
# selftest binary, KAIO_TESTS=name one case of it, KAIO_QUIET=1 to not echo
# tap.log while it runs, KAIO_APPEND="key=value ..." appended to the kernel
# command line (unknown key=value words reach /init and the tests as
# environment variables, e.g. kaiofuzz=1000000).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/env.sh"
kbuild=$1 mode=$2 out=$3
bzimage="$kbuild/arch/x86/boot/bzImage"
build="$here/build"

mkdir -p "$out"
rm -f "$out/console.log" "$out/tap.log"

# initramfs: busybox, /init, the module, the tests.
root="$out/initramfs"
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,mnt,lib,tests,etc}

# add_dynamic FILE...: copies dynamically linked programs or libraries
# into the initramfs at their own paths, with every shared library they
# need (and the dynamic loader), so Debian's binaries (fio, perf) run in
# the guest as they do on the host.
add_dynamic() {
	local f
	for f in "$@" $(ldd "$@" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
		[ -e "$f" ] || continue
		[ -e "$root$f" ] && continue
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
	done
}
# stage_install: make install DESTDIR=<the guest's root> of KAIO_KO, the
# ld.so.cache a real install has, and selftests/install_client built with
# pkg-config --cflags --libs kaio against that root.
stage_install() {
	local pc
	make -s -C "$here" install DESTDIR="$root" KO="${KAIO_KO:-$here/kaio.ko}" KDIR="$kbuild" || return
	echo /usr/local/lib > "$root/etc/ld.so.conf"
	ldconfig -r "$root" || return
	pc=$(PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_LIBDIR="$root/usr/local/lib/pkgconfig" \
		pkg-config --cflags --libs kaio) || return
	echo "pkg-config --cflags --libs kaio: $pc"
	cc -O2 -Wall -Wextra -Werror -o "$root/tests/install_client" "$here/selftests/install_client.c" $pc || return
	add_dynamic $(ldd "$root/tests/install_client" 2>/dev/null | grep -o '/[^ ]*')
}
cp /bin/busybox "$root/bin/busybox"
install -m 0755 "$here/qemu/init.sh" "$root/init"
cp "${KAIO_KO:-$here/kaio.ko}" "$root/lib/kaio.ko"
cp "$build"/selftests/*_test "$build/selftests/kaioinfo" "$root/tests/"
[ ! -f "$here/qemu/demo.sh" ] || cp "$here/qemu/demo.sh" "$root/tests/demo.sh"
[ ! -f "$build/bin/kaio" ] || cp "$build/bin/kaio" "$root/bin/kaio"
# The Rust crate's tokio example (selftests/tokio_test.c runs it).
[ ! -f "$build/bin/kaio-serve-files" ] || cp "$build/bin/kaio-serve-files" "$root/bin/kaio-serve-files"
[ ! -f "$build/bin/kaio-tokio-check" ] || cp "$build/bin/kaio-tokio-check" "$root/bin/kaio-tokio-check"
if [ "$mode" = bench ]; then
	cp "$build/selftests/kaio-bench" "$build/selftests/kaio-overhead" "$build/selftests/bench.sh" "$root/tests/"
	# KAIO_PROFILE=1: Debian's perf and its libraries, for the profiles.
	if [ "${KAIO_PROFILE:-0}" = 1 ] && [ -x /usr/bin/perf ]; then
		add_dynamic /usr/bin/perf
	fi
fi
# make bench-fio: Debian's fio with its libraries (Debian's libaio.so.1
# among them), the guest script, and kaio's libaio (libkaio-aio) when built.
if [ "$mode" = fio ]; then
	add_dynamic /usr/bin/fio
	install -m 0755 "$here/bench/fio-guest.sh" "$root/tests/fio.sh"
	cp "$build/selftests/fio-shm.so" "$root/lib/fio-shm.so"
	if [ -e "$build/lib/aio/libaio.so.1" ]; then
		mkdir -p "$root/lib/kaio-aio"
		cp -L "$build"/lib/aio/* "$root/lib/kaio-aio/"
	fi
fi
# make bench-http: Debian's nginx and wrk (LuaJIT) with their libraries,
# the guest script and its wrk script. nginx runs on a configuration the
# guest writes (no modules, no mime.types); its workers run as nobody.
if [ "$mode" = http ]; then
	add_dynamic /usr/sbin/nginx /usr/bin/wrk
	# KAIO_HTTP_PERF=1: Debian's perf, for a profile of each hot run.
	if [ "${KAIO_HTTP_PERF:-0}" != 0 ] && [ -x /usr/bin/perf ]; then
		add_dynamic /usr/bin/perf
	fi
	install -m 0755 "$here/bench/http-guest.sh" "$root/tests/http.sh"
	cp "$here/bench/http-wrk.lua" "$root/tests/http-wrk.lua"
	printf 'passwd: files\ngroup: files\n' > "$root/etc/nsswitch.conf"
fi
# make check: kaio's libaio.so.1 (make lib) in /lib/kaio-aio for libaio_test
# and the fio step of init.sh, with what those dynamic programs need.
# Debian's fio and its libraries (about 80 MB) only when the fio step runs
# (KAIO_BINS unset, or naming fio).
if [ "$mode" = check ]; then
	if [ -f "$build/lib/libkaio-aio.so.1" ]; then
		mkdir -p "$root/lib/kaio-aio"
		cp "$build/lib/libkaio-aio.so.1" "$root/lib/kaio-aio/"
		ln -sf libkaio-aio.so.1 "$root/lib/kaio-aio/libaio.so.1"
	else
		echo "run.sh: no $build/lib/libkaio-aio.so.1 (make lib)" >&2
	fi
	[ ! -x "$build/selftests/libaio_test" ] ||
		add_dynamic $(ldd "$build/selftests/libaio_test" 2>/dev/null | grep -o '/[^ ]*')
	case ",${KAIO_BINS:-fio}," in
	*,fio,*)
		[ ! -x /usr/bin/fio ] || add_dynamic /usr/bin/fio
		[ ! -f "$build/selftests/fio-shm.so" ] || cp "$build/selftests/fio-shm.so" "$root/lib/fio-shm.so"
		;;
	esac
	# make install into the guest's root (KAIO_BINS unset or naming
	# install), as onto a machine: the guest loads kaio with modprobe from
	# /lib/modules/<release>/extra and runs the installed CLI and a client
	# built with pkg-config against the staged root, linked with its
	# libkaio.so (found through the root's ld.so.cache). A failure leaves
	# its log in tests/install.err for the guest's TAP (qemu/init.sh).
	case ",${KAIO_BINS:-install}," in
	*,install,*)
		if ! stage_install >"$out/install.log" 2>&1; then
			echo "run.sh: make install into the guest's root failed (see $out/install.log)" >&2
			tail -20 "$out/install.log" > "$root/tests/install.err"
		fi
		;;
	esac
fi
echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/sh" >> "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initramfs.cpio.gz"

scratch=$("$here/qemu/mkscratch.sh" "$build/selftests/mkdata")

accel=${KAIO_ACCEL:-tcg}
case "$accel" in
kvm) accel_args=(-accel kvm -cpu host) ;;
*) accel_args=(-accel tcg,thread=multi) ;;
esac

# make bench: the same disk again, throttled by QEMU.
extra_drive=()
if [ "$mode" = bench ]; then
	extra_drive=(-drive "file=$scratch,if=virtio,format=raw,snapshot=on,cache=none,aio=native,throttling.bps-total=209715200,throttling.iops-total=4000")
fi
# make bench-fio: the 1 GiB file's own disk (/dev/vdb), unthrottled.
if [ "$mode" = fio ]; then
	extra_drive=(-drive "file=$("$here/qemu/mkfiodisk.sh" fio),if=virtio,format=raw,snapshot=on,cache=none,aio=native")
fi
# make bench-http: the served files' own disk (/dev/vdb), unthrottled.
if [ "$mode" = http ]; then
	extra_drive=(-drive "file=$("$here/qemu/mkfiodisk.sh" http),if=virtio,format=raw,snapshot=on,cache=none,aio=native")
fi

append="console=ttyS0 pci=noacpi panic=-1 oops=panic loglevel=7 kaiomode=$mode"
[ -z "${KAIO_TESTS:-}" ] || append+=" kaiotests=$KAIO_TESTS"
[ -z "${KAIO_BINS:-}" ] || append+=" kaiobins=$KAIO_BINS"
[ -z "${KAIO_BENCH_RUNS:-}" ] || append+=" kaioruns=$KAIO_BENCH_RUNS"
[ -z "${KAIO_BENCH_ONLY:-}" ] || append+=" kaiobenchonly=$KAIO_BENCH_ONLY"
[ "${KAIO_PROFILE:-0}" != 1 ] || append+=" kaioprofile=1"
[ -z "${KAIO_APPEND:-}" ] || append+=" $KAIO_APPEND"

touch "$out/tap.log"
# Echo the tests' output while they run.
follower=
if [ "${KAIO_QUIET:-0}" != 1 ]; then
	tail -n +1 -f "$out/tap.log" | sed -u 's/\r$//' &
	follower=$!
fi
set +e
timeout --foreground "${KAIO_TIMEOUT:-1500}" qemu-system-x86_64 \
	"${accel_args[@]}" -smp 2 -m 2G -display none -monitor none -no-reboot \
	-kernel "$bzimage" -initrd "$out/initramfs.cpio.gz" -append "$append" \
	-serial file:"$out/console.log" -serial file:"$out/tap.log" \
	-drive file="$scratch",if=virtio,format=raw,snapshot=on,cache=none,aio=native \
	"${extra_drive[@]}" \
	-device virtio-rng-pci
rc=$?
set -e
if [ -n "$follower" ]; then
	sleep 1
	pkill -f "tail -n \+1 -f $out/tap.log" 2>/dev/null || true
	wait "$follower" 2>/dev/null || true
fi
if [ "$rc" -eq 124 ]; then
	echo "qemu: timed out after ${KAIO_TIMEOUT:-1500} s" >&2
fi
exit "$rc"
