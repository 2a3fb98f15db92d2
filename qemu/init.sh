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

ifconfig lo 127.0.0.1 up 2>/dev/null || ip link set lo up
if ! mount -t ext4 -o noatime /dev/vda /mnt/scratch; then
	echo "not ok - mount scratch disk"
	finish
fi
echo "# guest: up $(cut -d' ' -f1 /proc/uptime) s, mode ${kaiomode:-check}"

if ! insmod /lib/kaio.ko; then
	echo "not ok - insmod kaio"
	finish
fi

case "${kaiomode:-check}" in
bench)
	mkdir -p /mnt/thr
	mount -t ext4 -o ro,noload,noatime /dev/vdb /mnt/thr && /tests/bench.sh
	;;
demo)
	/tests/demo.sh
	;;
check)
	export KAIO_MODULE=/lib/kaio.ko
	for t in /tests/*_test; do
		case " $(echo "${kaiobins:-${t##*/}}" | tr , " ") " in *" ${t##*/} "*) ;; *) continue ;; esac
		echo "# selftest: ${t##*/}"
		"$t" ${kaiotests:+-t $kaiotests}
		echo "# exit: $?"
	done
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
