# SPDX-License-Identifier: GPL-2.0
# Shared settings for kaio's scripts (sourced, not run).
# The kernel Makefile sets RUSTC itself, so the toolchain goes on its
# command line; Debian's rustc-web is the one with rust-src.
KAIO_CACHE=${KAIO_CACHE:-$HOME/.cache/kaio}
KAIO_BINDGEN=$(command -v bindgen 2>/dev/null || echo "$HOME/.cargo/bin/bindgen")
KAIO_KMAKE_FLAGS="LLVM=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc HOSTRUSTC=/usr/bin/rustc BINDGEN=$KAIO_BINDGEN CLIPPY_DRIVER=/usr/bin/clippy-driver RUSTFMT=/usr/bin/rustfmt"
export KAIO_CACHE KAIO_BINDGEN KAIO_KMAKE_FLAGS
