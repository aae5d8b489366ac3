//! Entry point: parse arguments, run, map the result to an exit code (0 clean, 1 findings,
//! 2 the tool could not do its job, or too little was checked to mean anything) with a one-line
//! error.

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    let matches = vfio_doctor::cli::command().get_matches();
    let cli = vfio_doctor::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match vfio_doctor::run(cli) {
        Ok(vfio_doctor::Exit::Clean) => ExitCode::SUCCESS,
        Ok(vfio_doctor::Exit::Findings) => ExitCode::from(1),
        Ok(vfio_doctor::Exit::NothingChecked) => ExitCode::from(2),
        Err(e) => {
            eprintln!("vfio-doctor: {e}");
            ExitCode::from(2)
        }
    }
}
