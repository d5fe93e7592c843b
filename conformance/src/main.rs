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
    /// Print every requirement of the spec with the cases that check it; with `--check`, exit
    /// 1 when a MUST requirement has no case and is not in conformance/uncovered-must.txt,
    /// when a listed one has a case, or when a case names an id the spec does not define.
    Coverage {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Fail on any coverage problem (CI).
        #[arg(long)]
        check: bool,
    },
    /// Run the cases and write report.json, summary.md, junit.xml and the evidence folder.
    Run {
        /// The vendor manifest (TOML); without it the in-process reference is certified.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// The role certified without a manifest: operation-center (default), bank-processor
        /// or sms-center (the reference of that role alone is started in-process and the suite
        /// plays the network server). With a manifest, the manifest's `role` decides.
        #[arg(long, value_parser = ompp_conformance::roles::parse_role)]
        role: Option<ompp::conformance::RoleUnderTest>,
        /// Run only the cases whose id matches this glob (`*`, `?`); such a run is never
        /// conformant (OMPP-CONF-007).
        #[arg(long)]
        only: Option<String>,
        /// Leave out the cases that wait for protocol time (a payment's and a checkout's
        /// expiry, 30 s and 60 s): for quick iterations; such a run is never conformant
        /// (OMPP-CONF-007).
        #[arg(long)]
        skip_waiting: bool,
        /// Where to write report.json, summary.md, junit.xml and evidence/.
        #[arg(long, default_value = "conformance-report")]
        report_dir: PathBuf,
        /// How many cases run at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Fuzz a live system: mutated requests to every unary method over the real mutual-TLS
    /// channels, judged by the OMPP error model, with health and money-conservation checks.
    Fuzz {
        /// The vendor manifest (TOML); without it the in-process reference is fuzzed.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// How long to fuzz (`60s`, `5m`, `500ms`).
        #[arg(long, default_value = "60s", value_parser = ompp_conformance::fuzz::parse_duration)]
        duration: std::time::Duration,
        /// The RNG seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where failing inputs are written.
        #[arg(long, default_value = "fuzz-findings")]
        out: PathBuf,
        /// How many calls are in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Send this saved input once to `--method` and print the verdict, instead of fuzzing.
        #[arg(long, requires = "method")]
        replay: Option<PathBuf>,
        /// The method path of `--replay`, e.g. `/ompp.v1.MerchantPaymentService/CreatePayment`.
        #[arg(long, requires = "replay")]
        method: Option<String>,
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
                runner::role_name(case.role),
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

fn coverage(json: bool, check: bool) -> ExitCode {
    use ompp_conformance::coverage;
    let catalogue = cases::all();
    let self_checks = match coverage::parse_self_checks(coverage::SELF_CHECKS) {
        Ok(checks) => checks,
        Err(error) => {
            eprintln!("ompp-conformance: {error}");
            return ExitCode::from(2);
        }
    };
    let rows = coverage::rows(&catalogue, &self_checks);
    if json {
        match serde_json::to_string_pretty(&rows) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("ompp-conformance: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        for row in &rows {
            let cases = if row.audit {
                "(audit: checked by inspection, no case)".to_owned()
            } else if row.withdrawn {
                "(withdrawn)".to_owned()
            } else if !row.self_checks.is_empty() && row.cases.is_empty() {
                format!(
                    "(no system under test; checked by {})",
                    row.self_checks.join(", ")
                )
            } else if row.cases.is_empty() {
                "-".to_owned()
            } else {
                row.cases.join(" ")
            };
            println!("{:<16} {:<6} {cases}", row.id, row.level.keyword());
        }
        let must: Vec<_> = rows
            .iter()
            .filter(|r| r.level == ompp::requirements::Level::Must && !r.audit && !r.withdrawn)
            .collect();
        let covered = must.iter().filter(|r| !r.cases.is_empty()).count();
        let self_checked = must
            .iter()
            .filter(|r| r.cases.is_empty() && !r.self_checks.is_empty())
            .count();
        println!(
            "\n{covered} of {} non-audit MUST requirements have a case, {self_checked} more have \
             no system under test and are checked by the project's own tests; {} cases",
            must.len(),
            catalogue.len()
        );
    }
    if check {
        let mut problems = coverage::problems(
            &catalogue,
            &self_checks,
            &coverage::parse_list(coverage::UNCOVERED_MUST),
        );
        // The named tests can only be looked up in a source tree (CI); a suite binary on its
        // own checks the table's ids and subjects only.
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        if root.join(".ci/run").is_file() {
            problems.extend(coverage::self_check_problems(&self_checks, root));
        }
        for problem in &problems {
            eprintln!("coverage: {problem}");
        }
        if !problems.is_empty() {
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List { json } => list(json),
        Command::Coverage { json, check } => coverage(json, check),
        Command::Fuzz {
            manifest,
            duration,
            seed,
            out,
            concurrency,
            replay,
            method,
        } => {
            let options = ompp_conformance::fuzz::FuzzOptions {
                manifest,
                duration,
                seed,
                out,
                concurrency,
                progress: true,
                ..ompp_conformance::fuzz::FuzzOptions::default()
            };
            let replay = replay.as_deref().zip(method.as_deref());
            ompp_conformance::fuzz::command(&options, replay)
        }
        Command::Run {
            manifest,
            role,
            only,
            skip_waiting,
            report_dir,
            concurrency,
        } => {
            let options = RunOptions {
                manifest,
                only,
                report_dir,
                concurrency,
                skip_waiting,
            };
            let runtime = match runner::runtime() {
                Ok(runtime) => runtime,
                Err(status) => return status,
            };
            match runtime.block_on(runner::run_as(&options, role)) {
                Err(error) => {
                    eprintln!("ompp-conformance: run not performed: {error}");
                    ExitCode::from(2)
                }
                Ok(report) => {
                    println!(
                        "\n{}: {}; report in {}",
                        if report.conformant {
                            "CONFORMANT"
                        } else {
                            "NOT CONFORMANT"
                        },
                        runner::counts_line(report.summary),
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
