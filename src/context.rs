// SPDX-License-Identifier: GPL-2.0

//! A kaio context: the state behind one open of `/dev/kaio`.

use crate::stats::{self, Stat};
use kernel::{prelude::*, sync::Arc};

/// One open of `/dev/kaio`.
pub(crate) struct Context {}

impl Context {
    /// Creates the context for a new open file.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let ctx = Arc::new(Context {}, GFP_KERNEL_ACCOUNT)?;
        stats::add(Stat::ContextsOpened, 1);
        stats::add(Stat::ContextsLive, 1);
        Ok(ctx)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        stats::sub(Stat::ContextsLive, 1);
    }
}
