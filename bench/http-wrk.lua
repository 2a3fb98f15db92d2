-- SPDX-License-Identifier: GPL-2.0
-- wrk script of `make bench-http` (bench/http-guest.sh): picks the URL of
-- each request from the data disk's file sets and prints the results in
-- one machine-readable line.
--   wrk ... -s http-wrk.lua URL -- WORKLOAD SEED THREADS [HOT COLD MIX]
-- WORKLOAD: hot  uniformly random /hot/hNNNN (HOT files, 16 KiB each)
--           cold /cold/cNNN (COLD files, 4 MiB each) in a permutation
--                of the set that depends on SEED: the threads share it, so
--                no file is asked for twice in a run until all COLD were
--           mix  each request cold with probability 1/MIX, else hot
-- SEED: varies the random choices and the permutation between runs.
-- THREADS: wrk's -t, the stride of each thread's walk of the permutation.
-- done() prints
--   WRKDONE requests=N bytes=N duration_us=N p50_us=N p99_us=N mean_us=N
--     max_us=N connect=N read=N write=N status=N timeout=N cold=N
-- status counts the responses with a status above 399 (wrk's errors.status).

local nthreads_seen = 0
local threads = {}

-- Main environment: number the threads so that each walks its own share.
function setup(thread)
	thread:set("tid", nthreads_seen)
	nthreads_seen = nthreads_seen + 1
	table.insert(threads, thread)
end

local hot_reqs, cold_reqs = {}, {}
local workload, nhot, ncold, mix
local stride, nth, step, offset = 1, 1, 0, 0
cold_sent = 0

-- Thread environment.
function init(args)
	workload = args[1] or "hot"
	local seed = tonumber(args[2] or "1")
	nth = tonumber(args[3] or "1")
	nhot = tonumber(args[4] or "1000")
	ncold = tonumber(args[5] or "768")
	mix = tonumber(args[6] or "20")
	math.randomseed(seed * 7919 + (tid or 0) * 104729 + 1)
	for i = 0, nhot - 1 do
		hot_reqs[i] = wrk.format("GET", string.format("/hot/h%04d", i))
	end
	for i = 0, ncold - 1 do
		cold_reqs[i] = wrk.format("GET", string.format("/cold/c%03d", i))
	end
	-- A permutation of 0..ncold-1: i -> (stride * i + offset) mod ncold,
	-- stride coprime with ncold.
	stride = 1 + (seed * 37) % ncold
	while gcd(stride, ncold) ~= 1 do
		stride = stride + 1
	end
	offset = (seed * 101) % ncold
	step = tid or 0
end

function gcd(a, b)
	while b ~= 0 do
		a, b = b, a % b
	end
	return a
end

local function next_cold()
	local i = (stride * (step % ncold) + offset) % ncold
	step = step + nth
	cold_sent = cold_sent + 1
	return cold_reqs[i]
end

function request()
	if workload == "cold" then
		return next_cold()
	elseif workload == "mix" and math.random(mix) == 1 then
		return next_cold()
	end
	return hot_reqs[math.random(0, nhot - 1)]
end

function done(summary, latency, requests)
	local cold = 0
	for _, t in ipairs(threads) do
		cold = cold + (t:get("cold_sent") or 0)
	end
	local e = summary.errors
	io.write(string.format("WRKDONE requests=%d bytes=%d duration_us=%d p50_us=%d p99_us=%d "
		.. "mean_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d cold=%d\n",
		summary.requests, summary.bytes, summary.duration, latency:percentile(50),
		latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write,
		e.status, e.timeout, cold))
end
