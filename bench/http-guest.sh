#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make bench-http`: static files over HTTP on loopback,
# Debian's wrk against Debian's nginx and `kaio serve`, every method several
# times, the order of the methods rotated per run. Files are on the data
# disk (/mnt/http, ext4 on virtio, qemu/mkfiodisk.sh http):
#   hot   1000 x 16 KiB (/hot/hNNNN), uniformly random, page cache warm
#   cold  768 x 4 MiB (/cold/cNNN), a permutation: no file twice until the
#         set is done (3 GiB, more than the page cache holds), page cache
#         dropped before the run
#   mix   hot, with one request in 20 a cold file; page cache dropped
# Methods (each a fresh server per measurement, its own port):
#   nginx      nginx, worker_processes = CPUs, sendfile, tcp_nopush,
#              aio threads (default pool), no open_file_cache
#   nginx-ofc  the same with open_file_cache
#   kaio       /bin/kaio serve DIR --listen 127.0.0.1:PORT --workers CPUs
# Before measuring, each method must serve a few files byte for byte
# (sha256 of busybox wget's body against the file), or it is not measured.
# Each measurement prints one line of key=value pairs:
#   HTTP wl= method= conns= run= requests= bytes= duration_us= p50_us=
#     p99_us= ... (wrk's, from bench/http-wrk.lua's done()) srv_ticks=
#     (utime+stime of the server's processes, all threads) busy= idle=
#     (/proc/stat ticks of the guest) ctxt= disk_sectors= (read from the
#     data disk) threads= (tasks of the server's processes at the end)
#     errlog= (error lines the server logged) rc= (wrk's exit)
# Knobs (kernel command line words): kaiohttpruns (3), kaiohttpdur (wrk -d
# seconds, 6), kaiohttpconns (16,64), kaiohttpworkloads (hot,cold,mix),
# kaiohttpmethods (nginx,nginx-ofc,kaio), kaiohttpperf (0; 1 or 2: a perf
# profile of each hot run at the most connections, "# perf" lines).
# Also runs on the host for development (root, Debian's nginx and wrk):
#   HTTP_ROOT=/mnt/x HTTP_DISK= HTTP_NODROP=1 HTTP_LUA=bench/http-wrk.lua \
#   KAIO_BIN=build/bin/kaio sh bench/http-guest.sh
runs=${kaiohttpruns:-3}
dur=${kaiohttpdur:-6}
conns=$(echo "${kaiohttpconns:-16,64}" | tr , ' ')
workloads=$(echo "${kaiohttpworkloads:-hot,cold,mix}" | tr , ' ')
want=$(echo "${kaiohttpmethods:-nginx,nginx-ofc,kaio}" | tr , ' ')
root=${HTTP_ROOT:-/mnt/http}
disk=${HTTP_DISK-vdb}
lua=${HTTP_LUA:-/tests/http-wrk.lua}
kaio=${KAIO_BIN:-/bin/kaio}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
wrk=${WRK_BIN:-/usr/bin/wrk}
work=/tmp/http-bench
cpus=$(nproc)
nhot=$(ls "$root/hot" | wc -l)
ncold=$(ls "$root/cold" | wc -l)
mixn=20
wrk_threads=2
rm -rf "$work"
mkdir -p "$work"
# The same file limit for every server (and wrk): nginx's open_file_cache
# keeps up to 4096 files open per worker, the default 1024 is too few.
ulimit -n 65536 2>/dev/null

note() { echo "# http: $*"; }
t_start=$(cut -d' ' -f1 /proc/uptime)

note "kernel $(uname -r), $cpus CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB RAM"
note "$($nginx -v 2>&1); $($wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
if $nginx -V 2>&1 | grep -q -- '--with-threads'; then
	note "nginx -V: built --with-threads (aio threads available)"
else
	note "nginx -V: NOT built --with-threads"
fi
note "files: $root: $nhot hot x 16 KiB, $ncold cold x 4 MiB; disk /dev/${disk:-none}; open files limit $(ulimit -n)"
note "wrk -t$wrk_threads -c{$(echo $conns | tr ' ' ,)} -d${dur}s --latency, runs $runs, workloads $workloads"

port_of() {
	case "$1" in
	nginx) echo 8081 ;;
	nginx-ofc) echo 8082 ;;
	kaio) echo 8083 ;;
	esac
}

# nginx_conf METHOD DIR: a minimal configuration loading no modules.
nginx_conf() {
	ofc=
	[ "$1" != nginx-ofc ] ||
		ofc="open_file_cache max=4096 inactive=60s; open_file_cache_valid 60s; open_file_cache_errors on;"
	cat <<-EOF
	worker_processes $cpus;
	user nobody nogroup;
	pid $2/nginx.pid;
	error_log $2/error.log warn;
	events { worker_connections 1024; }
	http {
		access_log off;
		default_type application/octet-stream;
		sendfile on;
		tcp_nopush on;
		aio threads;
		keepalive_requests 1000000;
		$ofc
		client_body_temp_path $2/body;
		proxy_temp_path $2/proxy;
		fastcgi_temp_path $2/fastcgi;
		uwsgi_temp_path $2/uwsgi;
		scgi_temp_path $2/scgi;
		server {
			listen 127.0.0.1:$(port_of "$1");
			root $root;
		}
	}
	EOF
}

# start_server METHOD: starts it, waits until it answers; sets srv_pid (the
# process whose descendants are the server too) and srv_log.
start_server() {
	d=$work/$1
	rm -rf "$d"
	mkdir -p "$d"
	srv_log=$d/error.log
	port=$(port_of "$1")
	case "$1" in
	nginx | nginx-ofc)
		nginx_conf "$1" "$d" > "$d/nginx.conf"
		# The master in the foreground (daemon off), a child of this script.
		$nginx -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' > "$d/start.log" 2>&1 &
		srv_pid=$!
		;;
	kaio)
		$kaio serve "$root" --listen "127.0.0.1:$port" --workers "$cpus" > "$srv_log" 2>&1 &
		srv_pid=$!
		;;
	esac
	i=0
	while ! wget -q -O /dev/null "http://127.0.0.1:$port/hot/h0000" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 100 ] || [ -z "$srv_pid" ] || [ ! -d "/proc/$srv_pid" ]; then
			note "$1 does not answer on port $port"
			cat "$d/start.log" "$srv_log" 2>/dev/null | tail -20 | sed 's/^/# server: /'

			stop_server
			return 1
		fi
		sleep 0.2
	done
	srv_pids=$(server_pids "$srv_pid")
	return 0
}

stop_server() {
	[ -n "${srv_pid:-}" ] || return 0
	kill -TERM "$srv_pid" 2>/dev/null
	i=0
	while [ -d "/proc/$srv_pid" ] && [ "$i" -lt 100 ]; do
		# (our own child, a zombie until waited for)
		[ "$(awk '{ print $3 }' "/proc/$srv_pid/stat" 2>/dev/null)" != Z ] || break
		sleep 0.1
		i=$((i + 1))
	done
	[ ! -d "/proc/$srv_pid" ] || kill -KILL "$srv_pid" 2>/dev/null
	wait "$srv_pid" 2>/dev/null
	# nginx's workers go with their master; wait for every one.
	for p in $srv_pids; do
		i=0
		while [ -d "/proc/$p" ] && [ "$i" -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	done
	srv_pid=
	srv_pids=
}

# server_pids ROOT: ROOT and its descendants (nginx's master and workers).
server_pids() {
	all=$1
	frontier=$1
	while [ -n "$frontier" ]; do
		next=
		for p in $frontier; do
			# After "pid (comm) ": state ppid ...
			for s in /proc/[0-9]*/stat; do
				set -- $(sed 's/^.*) //' "$s" 2>/dev/null)
				[ "${2:-}" = "$p" ] && next="$next ${s#/proc/}" 
			done
		done
		next=$(echo "$next" | sed 's#/stat##g')
		all="$all$next"
		frontier=$next
	done
	echo "$all"
}

# srv_ticks: utime + stime (USER_HZ ticks) of the server's processes, each
# with all its threads (nginx's thread pool, kaio's workers).
srv_ticks() {
	t=0
	for p in $srv_pids; do
		set -- $(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null)
		[ $# -ge 13 ] && t=$((t + ${12} + ${13}))
	done
	echo "$t"
}

srv_threads() {
	n=0
	for p in $srv_pids; do
		n=$((n + $(ls "/proc/$p/task" 2>/dev/null | wc -l)))
	done
	echo "$n"
}

# busy idle ctxt: from /proc/stat.
stat_now() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 } $1 == "ctxt" { print $2 }' /proc/stat | tr '\n' ' '
}

disk_sectors() {
	if [ -n "$disk" ] && [ -r "/sys/block/$disk/stat" ]; then
		awk '{ print $3 }' "/sys/block/$disk/stat"
	else
		echo 0
	fi
}

drop_caches() {
	sync
	[ -n "${HTTP_NODROP:-}" ] || echo 3 > /proc/sys/vm/drop_caches
}

errpat='\[(error|crit|alert|emerg)\]|panic|error:'
errlog_count() {
	n=$(grep -c -E "$errpat" "$srv_log" 2>/dev/null)
	echo "${n:-0}"
}

# verify METHOD: a few files over HTTP, byte for byte. TAP-ish lines.
tapn=0
verify() {
	m=$1 port=$(port_of "$1") bad=0
	for f in hot/h0000 $(printf 'hot/h%04d cold/c000 cold/c%03d' $((nhot - 1)) $((ncold - 1))); do
		tapn=$((tapn + 1))
		want_sum=$(sha256sum < "$root/$f" | cut -d' ' -f1)
		got_sum=$(wget -q -O - "http://127.0.0.1:$port/$f" 2>/dev/null | sha256sum | cut -d' ' -f1)
		if [ "$want_sum" = "$got_sum" ]; then
			echo "ok $tapn $m: GET /$f matches the file (sha256)"
		else
			echo "not ok $tapn $m: GET /$f does not match the file (sha256 $got_sum, want $want_sum)"
			bad=1
		fi
	done
	tapn=$((tapn + 1))
	if wget -q -O /dev/null "http://127.0.0.1:$port/hot/none" 2>/dev/null; then
		echo "not ok $tapn $m: GET /hot/none (a missing file) succeeded"
		bad=1
	else
		echo "ok $tapn $m: GET /hot/none (a missing file) fails"
	fi
	return $bad
}

# Which methods run: each must start and serve the right bytes.
methods=
for m in $want; do
	if [ "$m" = kaio ] && ! { [ -x "$kaio" ] && $kaio serve --help > /dev/null 2>&1; }; then
		tapn=$((tapn + 1))
		echo "ok $tapn kaio # SKIP $kaio serve --help failed: no kaio serve in this build"
		note "method kaio skipped: $kaio serve --help failed"
		continue
	fi
	if ! start_server "$m"; then
		tapn=$((tapn + 1))
		echo "not ok $tapn $m: server did not start"
		note "method $m FAILED: did not start"
		continue
	fi
	if verify "$m"; then
		methods="$methods $m"
		note "method $m verified: $(srv_threads) threads in $(echo $srv_pids | wc -w) processes"
	else
		note "method $m FAILED: wrong bytes; not measured"
	fi
	stop_server
done
note "methods: $methods"

# Keep the hot set in the page cache from the start (a drop before a cold
# run evicts it; the hot runs' warm-up brings it back).
cat "$root"/hot/* > /dev/null

# kaiohttpperf=1: perf_report WHAT FILE prints a profile of the whole guest
# (software clock, all CPUs, idle included) to the console: self time by
# symbol, by comm and dso, by dso; kaiohttpperf=2 adds every comm,dso,sym
# row. (Under TCG, call chains are unreliable: self time only.)
cmax=$(echo $conns | tr ' ' '\n' | sort -n | tail -1)
perf_report() {
	wait "$perf_pid"
	for sort in sym comm,dso dso; do
		echo "# perf: $1: self, --sort $sort"
		/usr/bin/perf report -q -i "$2" --stdio --no-children --sort "$sort" -g none \
			2>/dev/null | grep -v '^$' | head -80 | sed 's/^/# perf self: /'
	done
	if [ "${kaiohttpperf:-0}" = 2 ]; then
		echo "# perf: $1: self, --sort comm,dso,sym, all"
		/usr/bin/perf report -q -i "$2" --stdio --no-children --sort comm,dso,sym -g none \
			--percent-limit 0.02 2>/dev/null | grep -v '^$' | sed 's/^/# perf all: /'
	fi
	rm -f "$2"
}

run_one() { # WORKLOAD METHOD CONNS RUN
	wl=$1 m=$2 c=$3 r=$4
	if ! start_server "$m"; then
		echo "HTTP wl=$wl method=$m conns=$c run=$r failed=start"
		return
	fi
	url="http://127.0.0.1:$(port_of "$m")"
	seed=$((r * 100 + c))
	if [ "$wl" = hot ]; then
		# Warm-up, not measured: the hot set in the page cache and in
		# nginx's open_file_cache.
		$wrk -t$wrk_threads -c"$c" -d1s -s "$lua" "$url" -- hot "$seed" $wrk_threads $nhot $ncold $mixn > /dev/null 2>&1
	else
		drop_caches
	fi
	t0=$(srv_ticks)
	s0=$(stat_now)
	d0=$(disk_sectors)
	prof=
	if [ "${kaiohttpperf:-0}" != 0 ] && [ "$wl" = hot ] && [ "$c" = "$cmax" ] && [ -x /usr/bin/perf ]; then
		prof=$work/perf.data
		echo 0 > /proc/sys/kernel/kptr_restrict
		echo -1 > /proc/sys/kernel/perf_event_paranoid
		(sleep 1; /usr/bin/perf record -q -a -g -e cpu-clock -F 999 -o "$prof" -- \
			sleep $((dur > 3 ? dur - 2 : 1)) > /dev/null 2>&1) &
		perf_pid=$!
	fi
	$wrk -t$wrk_threads -c"$c" -d"${dur}s" --timeout 30s --latency -s "$lua" "$url" \
		-- "$wl" "$seed" $wrk_threads $nhot $ncold $mixn > "$work/wrk.out" 2>&1
	rc=$?
	t1=$(srv_ticks)
	s1=$(stat_now)
	d1=$(disk_sectors)
	th=$(srv_threads)
	[ -z "$prof" ] || perf_report "$wl $m c=$c run=$r" "$prof"
	set -- $s0 $s1
	res=$(grep '^WRKDONE ' "$work/wrk.out" | cut -d' ' -f2-)
	[ -n "$res" ] || sed 's/^/# wrk: /' "$work/wrk.out" | tail -20
	nx=$(awk '/Non-2xx/ { print $NF }' "$work/wrk.out")
	echo "HTTP wl=$wl method=$m conns=$c run=$r $res non2xx=${nx:-0} srv_ticks=$((t1 - t0)) busy=$(($4 - $1)) idle=$(($5 - $2)) ctxt=$(($6 - $3)) disk_sectors=$((d1 - d0)) threads=$th rc=$rc"
	stop_server
	el=$(errlog_count)
	echo "HTTPLOG wl=$wl method=$m conns=$c run=$r errlog=$el"
	[ "$el" = 0 ] || grep -E "$errpat" "$srv_log" | head -3 | sed 's/^/# server log: /'
}

for wl in $workloads; do
	for r in $(seq 1 "$runs"); do
		# Rotate the order of the methods by one each run.
		order=$(echo $methods | awk -v r="$r" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
		for m in $order; do
			for c in $conns; do
				run_one "$wl" "$m" "$c" "$r"
			done
		done
	done
done
note "time in the guest: $(awk -v a="$t_start" '{ printf "%.0f", $1 - a }' /proc/uptime) s"
note "finished"
