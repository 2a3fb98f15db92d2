#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# make check: set up, build the test kernel (cached) and the module, lint,
# boot QEMU, run the selftests and gate on the kernel log. Prints every TAP
# line and ends with "N passed, N failed[, N skipped]"; exits 0 only if
# nothing failed.
#
# KAIO_TESTS=case_name runs one selftest case (a quick iteration loop).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)

scripts/setup-toolchain.sh || exit 1
. scripts/env.sh
kdir=$(scripts/build-kernel.sh debug) || exit 1
ksrc="$kdir/source"
out="$here/build/check"
rm -rf "$out"
mkdir -p "$out"

pass=0 fail=0 skip=0
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
	echo "# make check took $(( $(date +%s) - start )) s"
	echo "$s"
	[ "$fail" -eq 0 ]
	exit
}

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

while IFS= read -r l; do
	case "$l" in
	"ok "*) result ok "${l#ok [0-9]* }" ;;
	"not ok "*) result fail "${l#not ok [0-9]* }" ;;
	*) echo "$l" ;;
	esac
done < <(scripts/lint.sh "$ksrc")

echo "# client: cargo test, clippy, static build of the kaio CLI"
if (cd client && cargo test --quiet --locked >"$out/cargo-test.log" 2>&1); then
	result ok "client: cargo test ($(grep -ho '[0-9]* passed' "$out/cargo-test.log" | awk '{s+=$1} END {print s}') tests)"
else
	tail -30 "$out/cargo-test.log" | sed 's/^/# /'
	result fail "client: cargo test"
fi
if (cd client && cargo clippy --quiet --locked --all-targets -- -D warnings >"$out/clippy.log" 2>&1); then
	result ok "client: cargo clippy clean"
else
	head -30 "$out/clippy.log" | sed 's/^/# /'
	result fail "client: cargo clippy clean"
fi
if ! scripts/build-client.sh >"$out/client.log" 2>&1; then
	tail -30 "$out/client.log" | sed 's/^/# /'
	result fail "client: static kaio CLI builds"
	summary
fi

echo "# build: selftests"
if ! make -s -C selftests KSRC="$ksrc" OUT="$here/build/selftests" >"$out/selftests.log" 2>&1; then
	sed 's/^/# /' "$out/selftests.log" | tail -40
	result fail "selftests build"
	summary
fi

echo "# boot: QEMU ($(KAIO_ACCEL=${KAIO_ACCEL:-tcg}; echo "$KAIO_ACCEL")), kernel log in $out/console.log"
qemu/run.sh "$kdir" check "$out"
qrc=$?

# Tally the guest's TAP; a test binary that died before printing all the
# results its plan announced counts its missing results as failures.
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

if grep -q '^# guest: done' "$out/tap.log"; then
	result ok "guest ran to the end (qemu exit $qrc)"
else
	result fail "guest ran to the end (qemu exit $qrc: crash, panic or timeout; see $out/console.log)"
fi

# The log gate: everything up to the end-of-tests marker must be clean, and
# the deliberate WARNING after it must be caught by the same gate.
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
summary
