#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install, idempotently, what building and testing kaio needs on Debian 12.
# Only missing packages are installed; bindgen-cli is installed at a pinned
# version with cargo. Safe to run again: it does nothing when all is present.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}

pkgs=(rustc-web rust-web-src rust-web-clippy rustfmt-web
      clang lld llvm libclang-dev
      flex bison bc libelf-dev libssl-dev cpio kmod e2fsprogs
      qemu-system-x86 busybox-static linux-source-6.12
      make gcc libc6-dev xz-utils python3 liburing-dev
      fio python3-matplotlib openssl libaio-dev libaio1
      nginx wrk pandoc dkms pkgconf)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	$SUDO apt-get update -qq
	# nginx is for make bench-http's guest only: keep its package from
	# starting a server on the host's port 80 (policy-rc.d, unless the
	# machine has its own).
	norc=
	if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
		norc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$norc" >/dev/null
		$SUDO chmod 0755 "$norc"
	fi
	rc=0
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ -z "$norc" ] || $SUDO rm -f "$norc"
	[ "$rc" -eq 0 ] || exit "$rc"
fi

# bindgen at a pinned version, built by the machine's cargo (any cargo works
# for a host tool; only the kernel crates need Debian's rustc).
BINDGEN=$(command -v bindgen || true)
[ -n "$BINDGEN" ] || BINDGEN="$HOME/.cargo/bin/bindgen"
if ! [ -x "$BINDGEN" ] || ! "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	echo "setup: cargo install bindgen-cli $BINDGEN_VERSION (about 3 minutes)"
	cargo install --quiet --locked bindgen-cli --version "$BINDGEN_VERSION"
fi
echo "setup: toolchain ready"
