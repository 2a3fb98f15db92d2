#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make bench-http: static files over HTTP on loopback in one boot of the
# release kernel under QEMU: Debian's wrk against Debian's nginx (aio
# threads, with and without open_file_cache) and `kaio serve` (the kaio
# CLI, when its `serve --help` works), files on an ext4 virtio disk: hot
# 16 KiB files, cold 4 MiB files, a mix (bench/http-guest.sh). Writes
# docs/bench/http.md and docs/bench/http-{hot,cold,mix}.png.
# Environment: KAIO_HTTP_RUNS (default 3) runs per method;
# KAIO_HTTP_DURATION seconds per wrk run (default 6); KAIO_HTTP_ONLY=
# nginx,nginx-ofc,kaio (a subset of the methods); KAIO_HTTP_WORKLOADS=
# hot,cold,mix; KAIO_HTTP_CONNS=16,64 (wrk -c values); KAIO_HTTP_DOCS=DIR
# for the report instead of docs/bench (quick runs that should not replace
# it); KAIO_HTTP_PERF=1 (or 2, every symbol): a perf profile of each
# method's hot run at the most connections, in tap.log (perturbs that
# run's numbers); KAIO_QEMU_LOCK=FILE: hold flock FILE around the boot only.
. "$(dirname "$0")/bench-lib.sh"
bench_prepare http
# The kaio CLI (build/bin/kaio goes to the guest's /bin/kaio); the guest
# skips the kaio method when it has no `serve`.
if ! scripts/build-client.sh; then
	echo "# bench-http: scripts/build-client.sh failed: kaio serve runs only if an older build/bin/kaio has it" >&2
fi
qemu/mkfiodisk.sh http >/dev/null

append="kaiohttpruns=${KAIO_HTTP_RUNS:-3} kaiohttpdur=${KAIO_HTTP_DURATION:-6}"
bench_knob KAIO_HTTP_ONLY kaiohttpmethods
bench_knob KAIO_HTTP_WORKLOADS kaiohttpworkloads
bench_knob KAIO_HTTP_CONNS kaiohttpconns
bench_knob KAIO_HTTP_PERF kaiohttpperf
bench_boot http "$append" "nginx and kaio serve under wrk (about 8 minutes at 3 runs)"
bench_finished http
docs=${KAIO_HTTP_DOCS:-docs/bench}
mkdir -p "$docs"
/usr/bin/python3 bench/http-report.py "$out/tap.log" "$docs"
