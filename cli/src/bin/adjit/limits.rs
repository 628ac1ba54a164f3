//! The `--max-*` options: the [`Limits`] a command runs under (the
//! interpreter's buffers, the JIT's workspace and loop checkpointing,
//! generated and read inputs). Unset options keep the library's defaults.

use crate::error::CliError;
use adjit::ir::Limits;
use clap::Args;

/// Options that change the [`Limits`].
#[derive(Args, Clone, Debug, Default)]
pub struct LimitArgs {
    /// The most elements one tensor may have (default 2^31).
    #[arg(long, value_name = "N")]
    pub max_elements: Option<usize>,
    /// The most bytes of buffers alive at once (default 16 GiB).
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<usize>,
    /// The most bytes a loop's reverse sweep keeps for its states before it
    /// checkpoints binomially, unless the loop names a policy (default 256 MiB).
    #[arg(long, value_name = "BYTES")]
    pub max_workspace_bytes: Option<usize>,
}

impl LimitArgs {
    /// The limits: the defaults with the options given.
    pub fn limits(&self) -> Limits {
        let mut l = Limits::default();
        if let Some(n) = self.max_elements {
            l.max_elements = n;
        }
        if let Some(n) = self.max_bytes {
            l.max_live_bytes = n;
        }
        if let Some(n) = self.max_workspace_bytes {
            l.max_workspace_bytes = n;
        }
        l
    }
}

/// Checks that a compiled function's workspace is within the byte budget
/// and that the allocator can provide it, before a call allocates it.
pub fn check_workspace(limits: &Limits, func: &str, bytes: usize) -> Result<(), CliError> {
    limits
        .check_bytes(&format!("the workspace of @{func}"), bytes)
        .map_err(|e| CliError::Eval(format!("{e} (--max-bytes)")))?;
    probe(bytes).map_err(|()| {
        CliError::Eval(format!(
            "the workspace of @{func} needs {bytes} bytes, which cannot be allocated"
        ))
    })
}

/// Whether the allocator can provide `bytes` now (the memory is released at
/// once): a request the system refuses becomes an error, not an abort.
pub fn probe(bytes: usize) -> Result<(), ()> {
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(bytes).map_err(|_| ())
}
