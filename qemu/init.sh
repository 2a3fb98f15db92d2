#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of kaio's test guest. Kernel messages go to ttyS0 (the host's
# console.log); everything this script and the tests print goes to ttyS1
# (the host's tap.log). kaiomode= on the kernel command line picks the job.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /mnt/scratch
exec >/dev/ttyS1 2>&1
stty -F /dev/ttyS1 raw -echo 2>/dev/null

kmsg() { echo "$*" > /dev/kmsg; }

finish() {
	echo "# guest: done"
	sync
	poweroff -f
}

# make check's fio step: an unmodified, dynamically linked fio runs a verify
# job with --ioengine=libaio on the scratch disk, with kaio's libaio.so.1
# first in LD_LIBRARY_PATH. TAP: the job passes its crc32c verify, the
# loader picked kaio's library, and the I/O went through kaio (submitted).
fio_check() {
	echo "# selftest: fio"
	if [ ! -x /usr/bin/fio ] || [ ! -e /lib/kaio-aio/libaio.so.1 ]; then
		echo "1..1"
		echo "ok 1 fio verify through libkaio-aio # SKIP no fio or /lib/kaio-aio in the initramfs"
		return
	fi
	echo "1..3"
	pre=
	[ ! -e /lib/fio-shm.so ] || pre=/lib/fio-shm.so
	before=$(awk '$1 == "submitted" { print $2 }' /sys/kernel/debug/kaio/stats)
	t0=$(cut -d' ' -f1 /proc/uptime)
	LD_PRELOAD=$pre LD_LIBRARY_PATH=/lib/kaio-aio /usr/bin/fio --name=verify \
		--ioengine=libaio --direct=0 --rw=randrw --bs=4k --size=8m --iodepth=16 \
		--verify=crc32c --do_verify=1 --thread --eta=never --filename=/mnt/scratch/fio.dat \
		--output=/tmp/fio.out
	rc=$?
	after=$(awk '$1 == "submitted" { print $2 }' /sys/kernel/debug/kaio/stats)
	grep -E 'err=|verify|IOPS|fio:' /tmp/fio.out | sed 's/^/# fio: /'
	if [ "$rc" -eq 0 ] && grep -q 'err= 0' /tmp/fio.out; then
		echo "ok 1 fio randrw 4k iodepth 16 verify=crc32c, libaio engine on libkaio-aio ($(awk -v a="$t0" '{ printf "%.1f", $1 - a }' /proc/uptime) s)"
	else
		tail -20 /tmp/fio.out | sed 's/^/# /'
		echo "not ok 1 fio randrw 4k iodepth 16 verify=crc32c, libaio engine on libkaio-aio (exit $rc)"
	fi
	map=$(LD_TRACE_LOADED_OBJECTS=1 LD_LIBRARY_PATH=/lib/kaio-aio /usr/bin/fio | grep 'libaio.so.1')
	echo "# fio: $map"
	case "$map" in
	*"=> /lib/kaio-aio/libaio.so.1 "*) echo "ok 2 fio loads /lib/kaio-aio/libaio.so.1" ;;
	*) echo "not ok 2 fio loads /lib/kaio-aio/libaio.so.1" ;;
	esac
	# 8 MiB in 4 KiB blocks: at least 2048 requests, plus the verify reads.
	if [ $((after - before)) -ge 2048 ]; then
		echo "ok 3 fio's I/O went through kaio (submitted +$((after - before)))"
	else
		echo "not ok 3 fio's I/O went through kaio (submitted +$((after - before)), want >= 2048)"
	fi
	rm -f /mnt/scratch/fio.dat /tmp/fio.out
}

# make check's install step: qemu/run.sh ran make install into this root
# (/usr/local, /lib/modules/<release>/extra) and built install_client with
# pkg-config against it. TAP: kaio was loaded by modprobe from the installed
# tree, every file of the manifest is there, the loader finds the installed
# libkaio.so.0 through ld.so.cache; the client (install_client) does real
# chains through it; the installed CLI reports the version kaio.pc has and
# reads a file byte for byte (install_cli).
install_check() {
	local krel ver map f missing=0
	krel=$(uname -r)
	echo "# selftest: install"
	if [ -e /tests/install.err ] || [ ! -x /tests/install_client ]; then
		sed 's/^/# install: /' /tests/install.err 2>/dev/null
		echo "1..1"
		echo "not ok 1 make install into the guest's root (qemu/run.sh; see install.log)"
		return
	fi
	echo "1..3"
	if [ "$loader" = modprobe ] && [ -d /sys/module/kaio ] &&
			grep -q '^extra/kaio.ko:' "/lib/modules/$krel/modules.dep"; then
		echo "ok 1 modprobe kaio loaded /lib/modules/$krel/extra/kaio.ko (depmod's modules.dep)"
	else
		echo "not ok 1 modprobe kaio loaded /lib/modules/$krel/extra/kaio.ko (loader: $loader)"
	fi
	if [ -f /usr/local/share/kaio/install-manifest ]; then
		for f in $(awk '$1 == "f" { print $2 }' /usr/local/share/kaio/install-manifest); do
			[ -e "$f" ] || { echo "# install: missing $f"; missing=$((missing + 1)); }
		done
	else
		missing=1
	fi
	if [ "$missing" -eq 0 ]; then
		echo "ok 2 every file of the install manifest is in the guest's root"
	else
		echo "not ok 2 every file of the install manifest is in the guest's root ($missing missing)"
	fi
	map=$(LD_TRACE_LOADED_OBJECTS=1 /tests/install_client | grep 'libkaio\.so')
	echo "# install: $map"
	case "$map" in
	*"libkaio.so.0 => /usr/local/lib/libkaio.so.0 "*) echo "ok 3 the loader finds the installed libkaio.so.0 (ld.so.cache)" ;;
	*) echo "not ok 3 the loader finds the installed libkaio.so.0 (ld.so.cache)" ;;
	esac

	echo "# selftest: install_client"
	/tests/install_client /mnt/scratch
	echo "# exit: $?"

	echo "# selftest: install_cli"
	echo "1..2"
	ver=$(sed -n 's/^Version: //p' /usr/local/lib/pkgconfig/kaio.pc)
	if [ -n "$ver" ] && [ "$(/usr/local/bin/kaio --version)" = "kaio $ver" ]; then
		echo "ok 1 the installed kaio CLI is version $ver (kaio.pc's)"
	else
		echo "not ok 1 the installed kaio CLI is version '$ver' (kaio.pc's): $(/usr/local/bin/kaio --version 2>&1)"
	fi
	if /usr/local/bin/kaio cat /usr/local/bin/kaio > /tmp/install-cat &&
			cmp /tmp/install-cat /usr/local/bin/kaio; then
		echo "ok 2 the installed kaio cat reads itself byte for byte ($(wc -c < /tmp/install-cat) bytes)"
	else
		echo "not ok 2 the installed kaio cat reads itself byte for byte"
	fi
	rm -f /tmp/install-cat
}

ifconfig lo 127.0.0.1 up 2>/dev/null || ip link set lo up
if ! mount -t ext4 -o noatime /dev/vda /mnt/scratch; then
	echo "not ok - mount scratch disk"
	finish
fi
echo "# guest: up $(cut -d' ' -f1 /proc/uptime) s, mode ${kaiomode:-check}"

# make check loads the module make install put into this root, when it
# did (qemu/run.sh); everything else, and KAIO_BINS runs without the
# install step, the one in /lib/kaio.ko (KAIO_KO).
loader=insmod
if [ "${kaiomode:-check}" = check ] && [ -e "/lib/modules/$(uname -r)/extra/kaio.ko" ]; then
	loader=modprobe
fi
if [ "$loader" = modprobe ]; then
	modprobe kaio
else
	insmod /lib/kaio.ko
fi || {
	echo "not ok - $loader kaio"
	finish
}

case "${kaiomode:-check}" in
bench)
	mkdir -p /mnt/thr
	mount -t ext4 -o ro,noload,noatime /dev/vdb /mnt/thr && /tests/bench.sh
	;;
fio)
	mkdir -p /mnt/fio
	mount -t ext4 -o ro,noload,noatime /dev/vdb /mnt/fio && /tests/fio.sh
	;;
http)
	mkdir -p /mnt/http
	mount -t ext4 -o ro,noload,noatime /dev/vdb /mnt/http && /tests/http.sh
	;;
demo)
	/tests/demo.sh
	;;
check)
	export KAIO_MODULE=/lib/kaio.ko
	for t in /tests/*_test; do
		case " $(echo "${kaiobins:-${t##*/}}" | tr , " ") " in *" ${t##*/} "*) ;; *) continue ;; esac
		echo "# selftest: ${t##*/}"
		# libaio_test is linked against libaio.so.1: kaio's must load.
		lib=
		[ "${t##*/}" != libaio_test ] || lib=/lib/kaio-aio
		LD_LIBRARY_PATH=$lib "$t" ${kaiotests:+-t $kaiotests}
		echo "# exit: $?"
	done
	# Debian's fio through kaio's libaio.so.1 (KAIO_BINS=fio runs it alone).
	case " $(echo "${kaiobins:-fio}" | tr , " ") " in
	*" fio "*) [ -n "${kaiotests:-}" ] || fio_check ;;
	esac
	# make install's root (KAIO_BINS=install runs it alone).
	case " $(echo "${kaiobins:-install}" | tr , " ") " in
	*" install "*) [ -n "${kaiotests:-}" ] || install_check ;;
	esac
	;;
esac

sed 's/^/# stats: /' /sys/kernel/debug/kaio/stats
echo "# selftest: teardown"
echo "1..2"
if rmmod kaio; then echo "ok 1 rmmod kaio"; else echo "not ok 1 rmmod kaio"; fi
if [ "${kaiomode:-check}" != check ]; then
	echo "ok 2 kmemleak scan # SKIP only in check mode"
elif [ -e /sys/kernel/debug/kmemleak ]; then
	echo "# kmemleak scan (about 20 s)"
	echo scan > /sys/kernel/debug/kmemleak
	# The report goes to the kernel log too, where the host's gate reads it.
	if [ -s /sys/kernel/debug/kmemleak ]; then
		while IFS= read -r l; do kmsg "kmemleak-report: $l"; done < /sys/kernel/debug/kmemleak
		echo "not ok 2 kmemleak scan: leaks reported"
	else
		echo "ok 2 kmemleak scan: no leaks"
	fi
else
	echo "ok 2 kmemleak scan # SKIP kmemleak not in this kernel"
fi
umount /mnt/scratch

# Everything above must leave the log clean. Below, a deliberate WARNING
# proves that the host's gate catches one.
kmsg "kaio-gate: end of tests"
if [ "${kaiomode:-check}" = check ]; then
	insmod /lib/kaio.ko inject_warn=1 && rmmod kaio
	kmsg "kaio-gate: end of deliberate fault"
fi
finish
