#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the Rust client's `kaio` CLI and the crate's tokio example
# (`serve_files`), linked statically for the guest, into build/bin/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/client"
export RUSTFLAGS="-C target-feature=+crt-static"
cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p kaio-cli
cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p kaio \
	--features tokio --example serve_files
mkdir -p "$here/build/bin"
cp target/x86_64-unknown-linux-gnu/release/kaio "$here/build/bin/kaio"
cp target/x86_64-unknown-linux-gnu/release/examples/serve_files "$here/build/bin/kaio-serve-files"
