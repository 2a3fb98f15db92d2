# SPDX-License-Identifier: GPL-2.0
# What make check, make fuzz and make stress share (sourced, not run):
# set-up, the cached test kernel, the module build, the selftests build, the
# QEMU boot, the tally of the guest's TAP and the kernel-log gate.
#
#   here=<the tree>; . "$here/scripts/check-lib.sh"
#   check_begin "make check" "$here/build/check"   # cd to the tree, counters, out
#   check_prepare          # toolchain, env.sh, kdir and ksrc (exits on failure)
#   check_module           # kaio.ko with W=1 and clippy; warnings fail
#   check_selftests        # the selftests, then check_lib (make lib, symbol versions)
#   check_boot             # qemu/run.sh "$kdir" check "$out"; KAIO_* pass through
#   check_tally            # the guest's TAP into the counters
#   check_gate             # guest finished, kernel log clean, gate catches a WARNING
#   summary                # "N passed, N failed[, N skipped]"; exits 0 only if none failed
# result ok|fail|skip NAME prints one host-side TAP line.

check_begin() {
	check_name=$1
	out=$2
	cd "$here"
	start=$(date +%s)
	pass=0 fail=0 skip=0
}

# result ok|fail|skip NAME: one host-side TAP line.
result() {
	case "$1" in
	ok) pass=$((pass + 1)); echo "ok - $2" ;;
	skip) skip=$((skip + 1)); echo "ok - $2 # SKIP" ;;
	*) fail=$((fail + 1)); echo "not ok - $2" ;;
	esac
}

summary() {
	local s="$pass passed, $fail failed"
	[ "$skip" -eq 0 ] || s+=", $skip skipped"
	echo "# $check_name took $(( $(date +%s) - start )) s"
	echo "$s"
	[ "$fail" -eq 0 ]
	exit
}

check_prepare() {
	scripts/setup-toolchain.sh || exit 1
	. scripts/env.sh
	kdir=$(scripts/build-kernel.sh debug) || exit 1
	ksrc="$kdir/source"
	rm -rf "$out"
	mkdir -p "$out"
}

check_module() {
	echo "# build: kaio.ko against $kdir (clippy on)"
	if make -C "$kdir" M="$here" $KAIO_KMAKE_FLAGS CLIPPY=1 W=1 modules >"$out/build.log" 2>&1; then
		if grep -qiE 'warning|error' "$out/build.log"; then
			grep -iE -A5 'warning|error' "$out/build.log" | head -40 | sed 's/^/# /'
			result fail "kaio.ko builds with no warnings (W=1, clippy)"
		else
			result ok "kaio.ko builds with no warnings (W=1, clippy)"
		fi
	else
		tail -40 "$out/build.log" | sed 's/^/# /'
		result fail "kaio.ko builds"
		summary
	fi
}

check_selftests() {
	echo "# build: selftests"
	if ! make -s -C selftests KSRC="$ksrc" OUT="$here/build/selftests" >"$out/selftests.log" 2>&1; then
		sed 's/^/# /' "$out/selftests.log" | tail -40
		result fail "selftests build"
		summary
	fi
	check_lib
}

# make lib: libkaio.a and libkaio-aio.so.1 (the guest's /lib/kaio-aio),
# whose LIBAIO_* symbol versions must be exactly Debian's libaio.so.1's.
check_lib() {
	local lib=build/lib/libkaio-aio.so.1 deb=/lib/x86_64-linux-gnu/libaio.so.1
	echo "# build: lib (libkaio.a, libkaio-aio.so.1)"
	if ! make -s lib >"$out/lib.log" 2>&1 || grep -qi warning "$out/lib.log"; then
		sed 's/^/# /' "$out/lib.log" | tail -40
		result fail "libkaio-aio.so.1 builds with no warnings"
		summary
	fi
	if [ ! -e "$deb" ]; then
		result skip "libkaio-aio.so.1 has libaio.so.1's symbol versions (no $deb)"
	elif diff <(objdump -T "$deb" | awk '/LIBAIO_/ { print $(NF - 1), $NF }' | sort) \
			<(objdump -T "$lib" | awk '/LIBAIO_/ { print $(NF - 1), $NF }' | sort) >"$out/lib-abi.diff"; then
		result ok "libkaio-aio.so.1 has libaio.so.1's symbol versions (objdump -T)"
	else
		sed 's/^/# /' "$out/lib-abi.diff"
		result fail "libkaio-aio.so.1 has libaio.so.1's symbol versions (objdump -T)"
	fi
}

check_boot() {
	echo "# boot: QEMU ($(KAIO_ACCEL=${KAIO_ACCEL:-tcg}; echo "$KAIO_ACCEL")), kernel log in $out/console.log"
	qemu/run.sh "$kdir" check "$out"
	qrc=$?
}

# Tally the guest's TAP; a test binary that died before printing all the
# results its plan announced counts its missing results as failures.
check_tally() {
	eval "$(tr -d '\r' < "$out/tap.log" | awk '
		function close_plan() {
			if (plan > seen) { printf "echo \"# %s: %d of %d results missing\";\n", bin, plan - seen, plan; f += plan - seen }
			plan = 0; seen = 0
		}
		/^# selftest: / { close_plan(); bin = $3 }
		/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0 }
		/^ok .*# SKIP/ { s++; seen++; next }
		/^ok / { p++; seen++ }
		/^not ok / { f++; seen++ }
		END { close_plan(); printf "gp=%d; gf=%d; gs=%d;\n", p, f, s }')"
	pass=$((pass + gp)) fail=$((fail + gf)) skip=$((skip + gs))
}

# The log gate: everything up to the end-of-tests marker must be clean, and
# the deliberate WARNING after it must be caught by the same gate.
check_gate() {
	if grep -q '^# guest: done' "$out/tap.log"; then
		result ok "guest ran to the end (qemu exit $qrc)"
	else
		result fail "guest ran to the end (qemu exit $qrc: crash, panic or timeout; see $out/console.log)"
	fi

	touch "$out/console.log"
	tr -d '\r' < "$out/console.log" > "$out/kernel.log"
	awk '/kaio-gate: end of tests/ { exit } { print }' "$out/kernel.log" > "$out/kernel-tests.log"
	awk '/kaio-gate: end of tests/ { on = 1; next } /kaio-gate: end of deliberate fault/ { exit } on { print }' \
		"$out/kernel.log" > "$out/kernel-fault.log"
	if ! grep -q 'kaio-gate: end of tests' "$out/kernel.log"; then
		result fail "kernel log complete (the guest never reached the end of the tests)"
	elif hits=$(qemu/log-gate.sh "$out/kernel-tests.log"); then
		result ok "kernel log clean (no WARNING, BUG, lockdep, KASAN, kmemleak, hung task)"
	else
		printf '%s\n' "$hits" | sed 's/^/# /'
		result fail "kernel log clean (see $out/kernel.log)"
	fi
	if grep -q 'kaio-gate: end of deliberate fault' "$out/kernel.log" &&
			! qemu/log-gate.sh "$out/kernel-fault.log" >/dev/null; then
		result ok "log gate catches a deliberate WARNING (insmod kaio inject_warn=1)"
	else
		result fail "log gate catches a deliberate WARNING (insmod kaio inject_warn=1)"
	fi
}
