//! Command-line arguments (clap derive). No logic: `lib::run` dispatches.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::commands::check::FailOn;
use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "vfio-doctor",
    version,
    about = "Diagnoses broken GPU passthrough (KVM/QEMU/libvirt, vfio-pci, OVMF): what is wrong, the evidence, and the exact fix",
    args_conflicts_with_subcommands = true,
    after_help = "Without a subcommand, runs `check` on this host (read-only; run as root to read the kernel log)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub check: CheckArgs,
}

/// The subcommands, as typed (for "did you mean" when a word is taken for a file).
pub const SUBCOMMANDS: &[&str] = &["check", "collect", "rom", "iommu", "rules", "explain", "completions"];

/// The command line with the help that is generated from the code: the `KIND:` words of
/// INPUT come from the source kind enum, so a kind added there is documented here by itself.
pub fn command() -> clap::Command {
    let help = format!(
        "Loose files to analyse (dmesg, domain XML, lspci -nnk, QEMU/Xorg logs, …, or a terminal \
         transcript mixing them); `-` is stdin; `KIND:PATH` forces the kind, one of: {}",
        crate::import::sniff::kind_list()
    );
    let with_kinds = |c: clap::Command| c.mut_arg("inputs", |a| a.help(help.clone()));
    let mut cmd = with_kinds(Cli::command());
    for sub in ["check", "collect", "iommu"] {
        cmd = cmd.mut_subcommand(sub, with_kinds);
    }
    cmd
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collect (or load a bundle, or read pasted files), diagnose, and report [default]
    Check(CheckArgs),
    /// Write a redacted bundle of this host (or of a --root tree, or of pasted files)
    Collect(CollectArgs),
    /// Inspect a GPU option ROM / vBIOS dump: its image chain, and the ROM rules' findings
    Rom(RomArgs),
    /// IOMMU groups with device names, drivers, boot VGA, link and reset, and whether each
    /// group can be passed to a VM
    Iommu {
        #[command(flatten)]
        source: SourceArgs,
        /// Output format
        #[arg(long, value_enum, default_value = "text")]
        format: crate::commands::iommu::IommuFormat,
        #[command(flatten)]
        view: IommuView,
    },
    /// List the rules
    Rules {
        /// Print the catalog as JSON
        #[arg(long)]
        json: bool,
        /// Print the log signatures long logs keep, one regex a line (for `rg -f`, bench/compare.sh)
        #[arg(long, conflicts_with = "json")]
        patterns: bool,
        /// Print the literals of the signatures' prefilter, one a line
        #[arg(long, conflicts_with_all = ["json", "patterns"])]
        literals: bool,
    },
    /// Print one rule's documentation
    Explain {
        /// A code (VD301) or name (bar-reservation-failure)
        code_or_name: String,
        /// Print the rule's Markdown document as written (default: rendered for the terminal)
        #[arg(long)]
        markdown: bool,
    },
    /// Print shell completions
    Completions {
        shell: clap_complete::Shell,
    },
}

/// What `iommu` shows, and how.
#[derive(Debug, Clone, Default, Args)]
pub struct IommuView {
    /// One line per device, as the guides' IOMMU-group loop prints it (`IOMMU Group 16 08:00.0
    /// VGA compatible controller [0300]: … [10de:1c02] Driver: vfio-pci`), for grep [default
    /// when stdout is not a terminal]
    #[arg(long, conflicts_with = "long")]
    pub compact: bool,
    /// Each group with its verdict and a table of its devices [default on a terminal]
    #[arg(long)]
    pub long: bool,
    /// Only the groups that hold a GPU
    #[arg(long)]
    pub gpu: bool,
    /// Only IOMMU group N
    #[arg(long, value_name = "N")]
    pub group: Option<String>,
}

/// Where the material comes from. With none of these, the live host is collected.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Loose files to analyse (dmesg, domain XML, lspci -nnk, QEMU/Xorg logs, …, or a terminal
    /// transcript mixing them); `-` is stdin; `KIND:PATH` forces the kind (the list of kinds is
    /// generated into the help by [`command`])
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// A bundle written by `vfio-doctor collect`
    #[arg(long, value_name = "FILE", conflicts_with = "root")]
    pub bundle: Option<PathBuf>,
    /// Read a tree that looks like a host's / (a mounted disk, a fixture) instead of this host
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Only this libvirt domain, or this Proxmox VE VMID
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    /// Keep host names, user names, addresses and serials (default: replaced by placeholders)
    #[arg(long)]
    pub no_redact: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format (default: from -o's extension, else text)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding at or above this severity exists
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: FailOn,
    /// Also load the rule documents in DIR
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// List every rule that could not run, with the reason, instead of the short "to check
    /// more" list of what to give next (JSON always has both)
    #[arg(long, visible_alias = "verbose")]
    pub all_not_evaluated: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Write the bundle to FILE (default: standard output)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RomArgs {
    /// The ROM file (a vBIOS dump, a `<rom file=…>`)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The card it must be for, as vendor:device (e.g. 10de:1c02)
    #[arg(long, value_name = "VVVV:DDDD")]
    pub device: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: crate::commands::rom::RomFormat,
}
