#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the Rust client's `kaio` CLI, linked statically for the guest,
# into build/bin/kaio.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/client"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release --locked \
	--target x86_64-unknown-linux-gnu -p kaio-cli
mkdir -p "$here/build/bin"
cp target/x86_64-unknown-linux-gnu/release/kaio "$here/build/bin/kaio"
