//! vfio-doctor: collects a Linux host's GPU-passthrough state read-only (or loads a bundle, or
//! reads pasted files), parses it once into a [`system::System`], runs the rule catalog, and
//! reports findings with evidence and the exact fix. See ARCHITECTURE.md for the map.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// A regex from a pattern literal of this crate, compiled on first use and kept for the
/// process: `fn power_re() -> &'static Regex { static_regex!(POWER) }`. The literal compiles
/// (the unit tests and fixtures run every one), so the `expect` cannot fire on any input.
macro_rules! static_regex {
    ($pattern:expr) => {{
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        #[allow(clippy::expect_used)]
        let re = RE.get_or_init(|| regex::Regex::new($pattern).expect("static regex"));
        re
    }};
}

pub mod bundle;
pub mod cli;
pub mod collect;
pub mod commands;
mod error;
pub mod import;
pub mod report;
pub mod rom;
pub mod root;
pub mod rules;
pub mod signatures;
pub mod system;
pub mod untrusted;

pub use error::Error;

use cli::{Cli, Command};
use commands::{check::CheckOptions, Origin};

/// What the process should exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing at or above `--fail-on`.
    Clean,
    /// Findings at or above `--fail-on`.
    Findings,
    /// Too little was checked for the report to mean anything (the report says why): exit 2.
    NothingChecked,
}

fn origin(s: &cli::SourceArgs) -> Origin {
    Origin { bundle: s.bundle.clone(), root: s.root.clone(), inputs: s.inputs.clone(), vm: s.vm.clone(), redact: !s.no_redact, signatures: None }
}

fn check(args: &cli::CheckArgs) -> Result<Exit, Error> {
    let opts = CheckOptions {
        origin: origin(&args.source),
        format: args.format,
        output: args.output.clone(),
        fail_on: args.fail_on,
        rules_dir: args.rules.clone(),
        all_not_evaluated: args.all_not_evaluated,
    };
    commands::check::run(&opts)
}

/// `vfio-doctor chekc`: without a subcommand the first word is an INPUT; when no such file exists
/// and the word is a subcommand mistyped, say so instead of "no such file".
fn mistyped_subcommand(args: &cli::CheckArgs) -> Result<(), Error> {
    let Some(word) = args.source.inputs.first() else { return Ok(()) };
    let bare = word.starts_with(|c: char| c.is_ascii_alphabetic()) && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !bare || std::path::Path::new(word).exists() {
        return Ok(());
    }
    let nearest = cli::SUBCOMMANDS
        .iter()
        .map(|s| (strsim::damerau_levenshtein(&word.to_ascii_lowercase(), s), *s))
        .min()
        .filter(|(d, s)| *d <= 2.min(s.len() / 2));
    Err(match nearest {
        Some((_, sub)) => Error::Usage(format!("no such file '{word}'; did you mean `vfio-doctor {sub}`?")),
        None => Error::Usage(format!(
            "no such file '{word}', and no subcommand is called that (subcommands: {})",
            cli::SUBCOMMANDS.join(", ")
        )),
    })
}

pub fn run(cli: Cli) -> Result<Exit, Error> {
    match cli.command {
        None => {
            mistyped_subcommand(&cli.check)?;
            check(&cli.check)
        }
        Some(Command::Check(args)) => check(&args),
        Some(Command::Collect(args)) => {
            commands::collect::run(&origin(&args.source), args.output.as_ref())?;
            Ok(Exit::Clean)
        }
        Some(Command::Rom(args)) => {
            let opts = commands::rom::RomOptions { file: args.file, device: args.device, format: args.format };
            Ok(if commands::rom::run(&opts)? { Exit::Findings } else { Exit::Clean })
        }
        Some(Command::Iommu { source, format, view }) => {
            commands::iommu::run(&origin(&source), format, &view)?;
            Ok(Exit::Clean)
        }
        Some(Command::Rules { json, patterns, literals }) => {
            if patterns || literals {
                commands::rules::signatures(literals)?;
                return Ok(Exit::Clean);
            }
            commands::rules::run(json)?;
            Ok(Exit::Clean)
        }
        Some(Command::Explain { code_or_name, markdown }) => {
            commands::explain::run(&code_or_name, markdown)?;
            Ok(Exit::Clean)
        }
        Some(Command::Completions { shell }) => {
            // Generated into memory first: clap_complete panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cli::command(), "vfio-doctor", &mut script);
            commands::emit(&String::from_utf8_lossy(&script), None)?;
            Ok(Exit::Clean)
        }
    }
}
