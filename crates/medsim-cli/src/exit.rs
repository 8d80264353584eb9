//! Exit codes, and the error that means "bad input". Each code means one thing.

use std::process::ExitCode;

/// What an exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked and nothing was found.
    Ok = 0,
    /// The command worked and has findings (e.g. an audit found leaks).
    Findings = 1,
    /// Bad input or usage: a malformed case file, an unknown dataset or case.
    BadInput = 2,
    /// Something failed that is not the input's fault: network, disk, checksum.
    Failure = 3,
    /// A run finished incomplete: episodes ended in an error, or fewer than planned are on disk.
    Incomplete = 4,
}

impl Exit {
    /// The worse of two outcomes (for commands made of several runs).
    pub fn worst(self, other: Exit) -> Exit {
        if other as u8 > self as u8 { other } else { self }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error caused by what the user gave (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The exit code an error earns.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    let bad_input = error.chain().any(|cause| {
        cause.downcast_ref::<BadInput>().is_some()
            || cause.downcast_ref::<medsim_engine::run::RunError>().is_some_and(|error| error.is_input())
            || matches!(
                cause.downcast_ref::<medsim_core::LoadError>(),
                Some(
                    medsim_core::LoadError::Record(_)
                        | medsim_core::LoadError::Empty { .. }
                        | medsim_core::LoadError::NotText { .. }
                        | medsim_core::LoadError::Io { .. }
                )
            )
    });
    if bad_input { Exit::BadInput } else { Exit::Failure }
}

/// The error and its causes, one per line.
pub fn render_error(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(&format!("\n  caused by: {cause}"));
        }
    }
    text
}
