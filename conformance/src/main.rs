//! `ompp-conformance`: the OMPP conformance suite.
//!
//! `list` prints the cases; `run` runs them against the system a manifest describes, or
//! against the in-process reference without one, and writes `report.json` and `summary.md`.
//! Exit status (OMPP-CONF-006): 0 conformant, 1 not conformant, 2 the run could not be
//! performed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ompp_conformance::runner::{self, RunOptions};
use ompp_conformance::{case::Case, cases};
use serde::Serialize;

/// OMPP conformance suite: certifies a running system from outside.
#[derive(Debug, Parser)]
#[command(name = "ompp-conformance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every case with its id, role, profile, level, title and requirement ids.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the cases and write the report.
    Run {
        /// The vendor manifest (TOML); without it the in-process reference is certified.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Run only the cases whose id matches this glob (`*`, `?`); such a run is never
        /// conformant (OMPP-CONF-007).
        #[arg(long)]
        only: Option<String>,
        /// Where to write report.json and summary.md.
        #[arg(long, default_value = "conformance-report")]
        report_dir: PathBuf,
        /// How many cases run at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
}

#[derive(Debug, Serialize)]
struct Listed {
    id: &'static str,
    title: &'static str,
    role: ompp::conformance::RoleUnderTest,
    profile: &'static str,
    level: ompp::requirements::Level,
    requirements: &'static [&'static str],
}

fn listed(case: &Case) -> Listed {
    Listed {
        id: case.id,
        title: case.title,
        role: case.role,
        profile: cases::profile_name(case.profile),
        level: case.level(),
        requirements: case.requirements,
    }
}

fn list(json: bool) -> ExitCode {
    let all: Vec<Listed> = cases::all().iter().map(listed).collect();
    if json {
        match serde_json::to_string_pretty(&all) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("ompp-conformance: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        for case in &all {
            println!(
                "{:<40} {:<16} {:<12} {:<6} {}\n{:<40} {}",
                case.id,
                "operation_center",
                case.profile,
                case.level.keyword(),
                case.requirements.join(" "),
                "",
                case.title
            );
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List { json } => list(json),
        Command::Run {
            manifest,
            only,
            report_dir,
            concurrency,
        } => {
            let options = RunOptions {
                manifest,
                only,
                report_dir,
                concurrency,
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("ompp-conformance: {error}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(runner::run(&options)) {
                Err(error) => {
                    eprintln!("ompp-conformance: run not performed: {error}");
                    ExitCode::from(2)
                }
                Ok(report) => {
                    let s = report.summary;
                    println!(
                        "\n{}: {} passed, {} failed, {} expected failures, {} unexpected passes, {} skipped; report in {}",
                        if report.conformant {
                            "CONFORMANT"
                        } else {
                            "NOT CONFORMANT"
                        },
                        s.passed,
                        s.failed,
                        s.expected_failures,
                        s.unexpected_passes,
                        s.skipped,
                        options.report_dir.display()
                    );
                    for note in &report.notes {
                        println!("note: {note}");
                    }
                    if report.conformant {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
            }
        }
    }
}
