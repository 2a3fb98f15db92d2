#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The kernel-log gate: prints every line of the kernel log FILE that reports
# a kernel problem, and exits 1 if there is one. Matches real reports only: a
# clean debug boot mentions lockdep and kmemleak without reporting anything.
#   qemu/log-gate.sh FILE
set -u
pattern='WARNING:|BUG:|Oops|general protection fault|Kernel panic|Call Trace:'
pattern+='|possible circular locking|possible recursive locking|inconsistent lock state'
pattern+='|lockdep|KASAN:|UBSAN:|kmemleak-report|suspected memory leak|unreferenced object'
pattern+='|sleeping function called from invalid context|blocked for more than'
pattern+='|soft lockup|hard LOCKUP|rcu_.* stall|self-detected stall|list_.* corruption'
# Lines that name lockdep but report nothing.
allow='RCU lockdep checking is enabled|lockdep: |Lock dependency validator|\.\.\. MAX_LOCK|\.\.\. MAX_LOCKDEP|per task-struct memory footprint|memory used by lock dependency info|\.\.\. CHAINHASH_SIZE|\.\.\. CLASSHASH_SIZE'
hits=$(tr -d '\r' < "$1" | grep -E -- "$pattern" | grep -Ev -- "$allow")
if [ -n "$hits" ]; then
	printf '%s\n' "$hits" | head -40
	exit 1
fi
exit 0
