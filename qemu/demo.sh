#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make demo` (runs after /init has loaded kaio): a
# directory of files on the ext4 scratch disk, served to TCP receivers by
# compound OPEN -> SENDFILE -> CLOSE requests, with the page cache dropped.
dir=/mnt/scratch/demo
n=$(ls $dir | wc -l)
echo
echo "== kaio: compound open -> sendfile -> close, all in the kernel =="
kaio info || exit 1
echo "serving $n files ($(du -sh $dir | cut -f1)) from $dir to 8 TCP connections on 127.0.0.1"
echo "page cache dropped: every byte comes from the virtio disk"
sync
echo 3 > /proc/sys/vm/drop_caches
kaio recv --listen 127.0.0.1:9000 --connections 8 > /tmp/recv.txt &
sleep 1
echo
echo "\$ kaio send $dir/* --to 127.0.0.1:9000 --connections 8 --checksum"
kaio send $dir/* --to 127.0.0.1:9000 --connections 8 --checksum --progress | tee /tmp/send.txt
wait
cat /tmp/recv.txt
sent=$(awk '/checksum/ {print $2}' /tmp/send.txt)
got=$(awk '/checksum/ {print $2}' /tmp/recv.txt)
if [ -n "$sent" ] && [ "$sent" = "$got" ]; then
	echo "checksum match: the receivers got exactly the files' bytes"
else
	echo "CHECKSUM MISMATCH: sent $sent, received $got"
fi
echo
echo "\$ kaio stats"
kaio stats | sed 's/^/  /'
