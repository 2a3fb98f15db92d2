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
. "$here/scripts/check-lib.sh"
check_begin "make check" "$here/build/check"
check_prepare
check_module

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

check_selftests
check_boot
check_tally
check_gate
summary
