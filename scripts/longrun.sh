#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make fuzz, make stress: long runs in the test guest, with make check's
# set-up, builds, boot, TAP tally and kernel-log gate (scripts/check-lib.sh),
# but only the named selftest binaries. Ends with "N passed, N failed".
#
#   scripts/longrun.sh fuzz     fuzz_test with kaiofuzz=1000000 ioctls
#                               (KAIO_FUZZ=N to change it, KAIO_SEED=S for kaioseed)
#   scripts/longrun.sh stress   lifetime_test, fault_test and scale_test (100 000
#                               parked requests) with kaiostress=200
#                               (KAIO_STRESS=N); a binary not built is skipped
#
# KAIO_APPEND adds words to the kernel command line (key=value words reach
# the tests as environment variables); KAIO_TIMEOUT overrides the QEMU limit.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/check-lib.sh"

kind=${1:-}
case "$kind" in
fuzz)
	bins=(fuzz_test)
	words="kaiofuzz=${KAIO_FUZZ:-1000000}${KAIO_SEED:+ kaioseed=$KAIO_SEED}"
	# 1M ioctls took 331 s at about 3000/s under TCG with KASAN.
	limit=3600
	;;
stress)
	bins=(lifetime_test fault_test scale_test)
	words="kaiostress=${KAIO_STRESS:-200}"
	limit=7200
	;;
*)
	echo "usage: $0 fuzz|stress" >&2
	exit 2
	;;
esac

check_begin "make $kind" "$here/build/$kind"
check_prepare
check_module
check_selftests

run=()
for b in "${bins[@]}"; do
	if [ -x "$here/build/selftests/$b" ]; then
		run+=("$b")
	else
		result skip "$b (not built)"
	fi
done
[ "${#run[@]}" -gt 0 ] || summary

KAIO_BINS=$(IFS=,; echo "${run[*]}")
KAIO_APPEND="$words${KAIO_APPEND:+ $KAIO_APPEND}"
KAIO_TIMEOUT=${KAIO_TIMEOUT:-$limit}
export KAIO_BINS KAIO_APPEND KAIO_TIMEOUT
echo "# $kind: ${run[*]} with '$KAIO_APPEND', QEMU limit $KAIO_TIMEOUT s"
check_boot
check_tally
check_gate
summary
