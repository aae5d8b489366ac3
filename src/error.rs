//! The errors that stop a command (exit 2). Each names the file it is about and the problem,
//! and renders as one line: `vfio-doctor: <path>: <problem>`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A loose input or `--root` that cannot be used at all.
    #[error("{}: {problem}", path.display())]
    Input { path: PathBuf, problem: String },
    /// A file given with `--bundle` that is not a bundle this version can read.
    #[error("{}: {problem}", path.display())]
    Bundle { path: PathBuf, problem: String },
    /// A rule document that does not parse (`--rules DIR` or a broken build).
    #[error("{}: {problem}", path.display())]
    RuleFile { path: PathBuf, problem: String },
    /// Writing the `-o` file or standard output failed.
    #[error("{}: {source}", path.display())]
    Output { path: PathBuf, source: std::io::Error },
    /// Arguments that do not make sense together.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn input(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Input { path: path.into(), problem: problem.into() }
    }
    pub fn bundle(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Bundle { path: path.into(), problem: problem.into() }
    }
}
