#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench`: three workloads, every method several
# times with the order rotated (kaio-bench does the rotation).
runs=${kaioruns:-3}
echo "# bench: kernel $(uname -r), $(nproc) CPUs; release flavor (no KASAN, lockdep or kmemleak)"
echo "# bench: throttled disk /dev/vdb (QEMU: 200 MiB/s, 4000 IOPS), unthrottled /dev/vda"
/tests/kaio-bench -w cold-throttled -d /mnt/thr/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
/tests/kaio-bench -w cold -d /mnt/scratch/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
cat /mnt/scratch/bench/hot/* > /dev/null
# Hot files at 64 and 8 requests in flight (one per connection), over TCP
# on loopback and over unix stream sockets: the ratios move with both.
for sock in tcp unix; do
	for q in 64 8; do
		/tests/kaio-bench -w "hot-16k-$sock-q$q" -d /mnt/scratch/bench/hot -p 3 -r "$runs" \
			-c "$q" -q "$q" $([ "$sock" = unix ] && echo -u) -m kaio,single,pool,uring
	done
done
