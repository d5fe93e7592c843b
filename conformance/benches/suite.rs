//! Times the whole conformance suite against the in-process reference (issue 6: under 30 s
//! wall on a 2-core machine, every case included). Run with
//! `cargo bench -p ompp-conformance --bench suite`; prints the wall time per concurrency, the
//! slowest cases and whether every case passed: the full suite, and the suite without the cases
//! that wait for protocol time (`--skip-waiting`: a checkout's shortest lifetime is 60 s, so no
//! full run can be shorter than that).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::time::Instant;

use ompp_conformance::runner::{self, RunOptions};

/// The target for one full run.
const TARGET_SECONDS: f64 = 30.0;

fn main() -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("suite bench: cannot start the async runtime");
        return ExitCode::FAILURE;
    };
    let mut ok = true;
    let mut rows = Vec::new();
    for (concurrency, skip_waiting) in [(4, true), (8, true), (8, false)] {
        let Ok(dir) = tempfile::tempdir() else {
            eprintln!("suite bench: cannot create a temporary directory");
            return ExitCode::FAILURE;
        };
        let options = RunOptions {
            manifest: None,
            only: None,
            report_dir: dir.path().to_owned(),
            concurrency,
            skip_waiting,
        };
        let started = Instant::now();
        let report = match runtime.block_on(runner::run(&options)) {
            Ok(report) => report,
            Err(error) => {
                eprintln!("suite bench: run not performed: {error}");
                return ExitCode::FAILURE;
            }
        };
        let wall = started.elapsed().as_secs_f64();
        let mut slowest: Vec<_> = report
            .cases
            .iter()
            .map(|c| (c.duration_ms, c.id.clone()))
            .collect();
        slowest.sort_unstable_by(|a, b| b.cmp(a));
        // A run without the waiting cases is restricted, never conformant (OMPP-CONF-007):
        // there, every case it ran must pass.
        let passed = if skip_waiting {
            report
                .cases
                .iter()
                .all(|c| c.verdict == ompp::conformance::Verdict::Pass)
        } else {
            report.conformant
        };
        ok &= passed;
        rows.push((
            skip_waiting,
            concurrency,
            report.cases.len(),
            wall,
            passed,
            slowest,
        ));
    }
    println!("\n=========== conformance suite against the in-process reference ===========");
    for (skip_waiting, concurrency, cases, wall, passed, slowest) in &rows {
        println!(
            "{} concurrency {concurrency}: {cases} cases in {wall:.2} s wall ({}; target < {TARGET_SECONDS} s: {})",
            if *skip_waiting {
                "without waiting cases,"
            } else {
                "full suite,           "
            },
            if *passed {
                "all passed"
            } else {
                "NOT all passed"
            },
            if *wall < TARGET_SECONDS {
                "PASS"
            } else {
                "MISS"
            }
        );
        for (ms, id) in slowest.iter().take(3) {
            println!("    slowest: {id} {ms} ms");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
