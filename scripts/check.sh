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

echo "# client: cargo test, clippy, docs, static build of the kaio CLI and the tokio example"
for feat in "" --all-features; do
	if (cd client && cargo test --quiet --locked $feat >"$out/cargo-test$feat.log" 2>&1); then
		result ok "client: cargo test${feat:+ $feat} ($(grep -ho '[0-9]* passed' "$out/cargo-test$feat.log" | awk '{s+=$1} END {print s}') tests)"
	else
		tail -30 "$out/cargo-test$feat.log" | sed 's/^/# /'
		result fail "client: cargo test${feat:+ $feat}"
	fi
	if (cd client && cargo clippy --quiet --locked --all-targets $feat -- -D warnings >"$out/clippy$feat.log" 2>&1); then
		result ok "client: cargo clippy${feat:+ $feat} clean"
	else
		head -30 "$out/clippy$feat.log" | sed 's/^/# /'
		result fail "client: cargo clippy${feat:+ $feat} clean"
	fi
done
if (cd client && RUSTDOCFLAGS="-D warnings" cargo doc --quiet --locked --no-deps --all-features >"$out/cargo-doc.log" 2>&1); then
	result ok "client: cargo doc --all-features warning-free"
else
	head -30 "$out/cargo-doc.log" | sed 's/^/# /'
	result fail "client: cargo doc --all-features warning-free"
fi
if ! scripts/build-client.sh >"$out/client.log" 2>&1; then
	tail -30 "$out/client.log" | sed 's/^/# /'
	result fail "client: static kaio CLI and tokio example build"
	summary
fi

check_selftests

# make install / make uninstall into a temporary root, and Debian's dkms
# building kaio from dkms.conf against the test kernel (private dkms trees).
echo "# install: make install/uninstall DESTDIR=, pkg-config, dkms build"
while IFS= read -r l; do
	case "$l" in
	"ok "*) result ok "install: ${l#ok [0-9]* }" ;;
	"not ok "*) result fail "install: ${l#not ok [0-9]* }" ;;
	*) echo "$l" ;;
	esac
done < <(scripts/check-install.sh "$kdir" "$out")

check_boot
check_tally
check_gate
summary
