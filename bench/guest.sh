#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench`: three workloads, every method several
# times with the order rotated (kaio-bench does the rotation).
runs=${kaioruns:-3}
echo "# bench: kernel $(uname -r), $(nproc) CPUs; release flavor (no KASAN, lockdep or kmemleak)"
echo "# bench: throttled disk /dev/vdb (QEMU: 200 MiB/s, 4000 IOPS), unthrottled /dev/vda"
only=${kaiobenchonly:-all}	# KAIO_BENCH_ONLY=cold, hot or profile
if [ "$only" = all ] || [ "$only" = cold ]; then
/tests/kaio-bench -w cold-throttled -d /mnt/thr/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
/tests/kaio-bench -w cold -d /mnt/scratch/bench/cold -D -r "$runs" \
	-m kaio,single,pool,uring,disk
fi
cat /mnt/scratch/bench/hot/* > /dev/null
# kaio's own cost per request, inline, against the system calls it stands for.
/tests/kaio-overhead /mnt/scratch/bench/hot/h0000 20000
if [ "$only" = all ] || [ "$only" = hot ]; then
# Hot files at 64 and 8 requests in flight (one per connection), over TCP
# on loopback and over unix stream sockets: the ratios move with both.
for sock in tcp unix; do
	for q in 64 8; do
		/tests/kaio-bench -w "hot-16k-$sock-q$q" -d /mnt/scratch/bench/hot -p 3 -r "$runs" \
			-c "$q" -q "$q" $([ "$sock" = unix ] && echo -u) -m kaio,single,pool,uring
	done
done
fi

# KAIO_PROFILE=1: where the CPU goes per file, kaio against the pool, from
# perf's software clock sampling the whole guest (no PMU under TCG).
# kaioprofsock=none skips these (only the kaio-overhead profile below).
if [ "${kaioprofile:-0}" = 1 ] && [ "${kaioprofsock:-}" != none ] && [ -x /usr/bin/perf ]; then
	for sock in $(echo "${kaioprofsock:-tcp,unix}" | tr , ' '); do
		for m in $(echo "${kaioprofmethods:-kaio,pool,single,uring}" | tr , ' '); do
			/usr/bin/perf record -q -a -g -e cpu-clock -F 2000 -o /tmp/perf.data -- \
				/tests/kaio-bench -w "profile-$sock-q8-$m" -d /mnt/scratch/bench/hot -p 3 -r 1 \
				-c 8 -q 8 $([ "$sock" = unix ] && echo -u) -m "$m" > /dev/null 2>&1
			echo "# profile: hot-16k-$sock-q8 $m: share of all guest CPU samples (idle included), with callees, then self"
			/usr/bin/perf report -q -i /tmp/perf.data --stdio --children --sort sym -g none \
				--percent-limit 3 2>/dev/null | grep -v '^$' | head -45 | sed 's/^/# profile: /'
			/usr/bin/perf report -q -i /tmp/perf.data --stdio --no-children --sort sym -g none \
				--percent-limit 0.7 2>/dev/null | grep -v '^$' | head -30 | sed 's/^/# profile self: /'
			rm -f /tmp/perf.data
		done
	done
fi
# KAIO_PROFILE=1 and kaioprofoverhead=NAME: a profile of one kaio-overhead line.
if [ "${kaioprofile:-0}" = 1 ] && [ -n "${kaioprofoverhead:-}" ] && [ -x /usr/bin/perf ]; then
	/usr/bin/perf record -q -a -g -e cpu-clock -F 4000 -o /tmp/perf.data -- \
		/tests/kaio-overhead /mnt/scratch/bench/hot/h0000 100000 "$kaioprofoverhead" > /dev/null 2>&1
	echo "# profile: kaio-overhead $kaioprofoverhead: with callees, then self"
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --children --sort sym -g none \
		--percent-limit 2 2>/dev/null | grep -v '^$' | head -60 | sed 's/^/# profile: /'
	/usr/bin/perf report -q -i /tmp/perf.data --stdio --no-children --sort sym -g none \
		--percent-limit 0.8 2>/dev/null | grep -v '^$' | head -40 | sed 's/^/# profile self: /'
fi
