#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the Rust client's `kaio` CLI and the crate's tokio examples
# (`serve_files`, `tokio_check`), linked statically for the guest, into
# build/bin/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here/client"
export RUSTFLAGS="-C target-feature=+crt-static"
cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p kaio-cli
cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p kaio \
	--features tokio --example serve_files --example tokio_check
mkdir -p "$here/build/bin"
cp target/x86_64-unknown-linux-gnu/release/kaio "$here/build/bin/kaio"
cp target/x86_64-unknown-linux-gnu/release/examples/serve_files "$here/build/bin/kaio-serve-files"
cp target/x86_64-unknown-linux-gnu/release/examples/tokio_check "$here/build/bin/kaio-tokio-check"
