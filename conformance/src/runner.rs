//! Running the cases and writing the report (spec chapter 09, "Running the suite").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ompp::conformance::{
    Assertion, CaseResult, ExpectedFailure, Manifest, Profile, Report, RoleUnderTest, Summary,
    TranscriptStep, Verdict,
};
use ompp::requirements::Level;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::case::{Case, Checks};
use crate::cases;
use crate::target::{InProcess, Target};

/// How long one case may take before it is failed.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a case that waits for protocol time ([`cases::waits`]) may take.
pub const WAITING_CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// What `ompp-conformance run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The vendor manifest; `None` runs against the in-process reference.
    pub manifest: Option<PathBuf>,
    /// A glob over case ids (`*` and `?`); `None` runs every case.
    pub only: Option<String>,
    /// Where `report.json` and `summary.md` go.
    pub report_dir: PathBuf,
    /// How many cases run at once.
    pub concurrency: usize,
    /// Leave out the cases that wait for protocol time (a restricted run, OMPP-CONF-007).
    pub skip_waiting: bool,
}

/// Why a run could not be performed (exit status 2, OMPP-CONF-006): no case ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RunError {}

/// The async runtime of a command; `Err` is the exit status 2 after the reason is printed.
pub fn runtime() -> Result<tokio::runtime::Runtime, std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("ompp-conformance: cannot start the async runtime: {error}");
            std::process::ExitCode::from(2)
        })
}

/// Whether `id` matches `glob`, where `*` is any run of characters and `?` one character.
pub fn glob_match(glob: &str, id: &str) -> bool {
    fn go(g: &[char], s: &[char]) -> bool {
        match g.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let g: Vec<char> = glob.chars().collect();
    let s: Vec<char> = id.chars().collect();
    go(&g, &s)
}

/// Reads and checks a manifest: expected failures that each carry a reason and match at least
/// one case of the manifest's role (OMPP-CONF-011). The role's endpoints and identities are
/// checked when the target is built.
pub fn load_manifest(path: &Path) -> Result<Manifest, RunError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RunError(format!("manifest {}: {e}", path.display())))?;
    let manifest: Manifest =
        toml::from_str(&text).map_err(|e| RunError(format!("manifest {}: {e}", path.display())))?;
    let all: Vec<Case> = cases::all()
        .into_iter()
        .filter(|c| c.role == manifest.role)
        .collect();
    for entry in &manifest.expected_failures {
        if entry.reason.trim().is_empty() {
            return Err(RunError(format!(
                "manifest: expected failure {:?} has an empty reason",
                entry.case
            )));
        }
        if !all.iter().any(|c| glob_match(&entry.case, c.id)) {
            return Err(RunError(format!(
                "manifest: expected failure {:?} matches no case",
                entry.case
            )));
        }
    }
    Ok(manifest)
}

/// A role as the manifest and the report write it.
pub fn role_name(role: RoleUnderTest) -> &'static str {
    match role {
        RoleUnderTest::OperationCenter => "operation_center",
        RoleUnderTest::BankProcessor => "bank_processor",
        RoleUnderTest::SmsCenter => "sms_center",
        _ => "other",
    }
}

/// A verdict as the report writes it.
pub fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Warn => "warn",
        Verdict::Unsupported => "unsupported",
        Verdict::Error => "error",
        Verdict::ExpectedFailure => "expected_failure",
        Verdict::UnexpectedPass => "unexpected_pass",
        _ => "other",
    }
}

async fn reachable(target: &Target) -> Result<(), RunError> {
    for address in target.addresses() {
        let connect = tokio::net::TcpStream::connect(address.as_str());
        match tokio::time::timeout(Duration::from_secs(10), connect).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(RunError(format!("endpoint {address} unreachable: {e}"))),
            Err(_) => {
                return Err(RunError(format!(
                    "endpoint {address} unreachable: no connection within 10 s"
                )));
            }
        }
    }
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn result_of(case: &Case, verdict: Verdict, duration: Duration, checks: &Checks) -> CaseResult {
    CaseResult {
        id: case.id.to_owned(),
        title: case.title.to_owned(),
        role: case.role,
        level: case.level(),
        requirements: case.requirements.iter().map(|r| (*r).to_owned()).collect(),
        verdict,
        expected_failure_reason: None,
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        assertions: checks.take(),
        profile: case.profile,
    }
}

/// The verdict of a case from its assertions (OMPP-CONF-004, OMPP-CONF-014): `pass` when every
/// one held; `error` when the only failure is a step the case needed but does not judge (or
/// the case recorded nothing); otherwise `fail` for a `MUST` case and `warn` for a `SHOULD` one.
pub fn verdict_of(level: Level, assertions: &[Assertion], setup_failed: bool) -> Verdict {
    let failures = assertions.iter().filter(|a| !a.passed).count();
    if assertions.is_empty() || (setup_failed && failures == 1) {
        Verdict::Error
    } else if failures == 0 {
        Verdict::Pass
    } else if level == Level::Must {
        Verdict::Fail
    } else {
        Verdict::Warn
    }
}

async fn run_case(case: Case, target: Arc<Target>) -> (CaseResult, Vec<TranscriptStep>) {
    let checks = Checks::new(
        case.requirements
            .first()
            .copied()
            .unwrap_or("OMPP-CONF-001"),
    );
    let started = Instant::now();
    let limit = if cases::waits(case.id) {
        WAITING_CASE_TIMEOUT
    } else {
        CASE_TIMEOUT
    };
    let outcome = tokio::time::timeout(limit, (case.run)(target, checks.clone())).await;
    if outcome.is_err() {
        checks.fail(
            "the case finishes in time",
            format!("still running after {} s", limit.as_secs()),
        );
    }
    let verdict = verdict_of(case.level(), &checks.take(), checks.setup_failed());
    (
        result_of(&case, verdict, started.elapsed(), &checks),
        checks.transcript(),
    )
}

fn apply_expected_failures(result: &mut CaseResult, expected: &[ExpectedFailure]) {
    let Some(entry) = expected.iter().find(|e| glob_match(&e.case, &result.id)) else {
        return;
    };
    match result.verdict {
        Verdict::Pass => result.verdict = Verdict::UnexpectedPass,
        Verdict::Fail | Verdict::Warn => {
            result.verdict = Verdict::ExpectedFailure;
            result.expected_failure_reason = Some(entry.reason.clone());
        }
        _ => {}
    }
}

/// Whether a report with these cases is conformant (OMPP-CONF-003, OMPP-CONF-007).
pub fn conformant(cases: &[CaseResult], complete: bool) -> bool {
    complete
        && cases.iter().all(|c| match c.verdict {
            Verdict::Fail | Verdict::ExpectedFailure | Verdict::Error => c.level != Level::Must,
            Verdict::UnexpectedPass => false,
            _ => true,
        })
}

/// Runs the suite and writes the report. `Err` means the run could not be performed and no
/// case ran (exit status 2).
pub async fn run(options: &RunOptions) -> Result<Report, RunError> {
    run_as(options, None).await
}

/// [`run`] for the role `role` (`ompp-conformance run --role`): without a manifest, the
/// in-process reference of that role is certified; with one, the manifest's role must be the
/// same. `None`: the manifest's role, or the operation center.
pub async fn run_as(options: &RunOptions, role: Option<RoleUnderTest>) -> Result<Report, RunError> {
    let manifest = options.manifest.as_deref().map(load_manifest).transpose()?;
    let role = match (&manifest, role) {
        (Some(manifest), Some(role)) if manifest.role != role => {
            return Err(RunError(format!(
                "--role {} but the manifest's role is {}",
                role_name(role),
                role_name(manifest.role)
            )));
        }
        (Some(manifest), _) => manifest.role,
        (None, role) => role.unwrap_or(RoleUnderTest::OperationCenter),
    };
    let catalogue: Vec<Case> = cases::all()
        .into_iter()
        .filter(|c| c.role == role)
        .collect();
    let selected: Vec<Case> = catalogue
        .iter()
        .filter(|c| options.only.as_deref().is_none_or(|g| glob_match(g, c.id)))
        .filter(|c| !(options.skip_waiting && cases::waits(c.id)))
        .copied()
        .collect();
    if selected.is_empty() {
        return Err(RunError(format!(
            "--only {:?} matches no case of the role {}",
            options.only.as_deref().unwrap_or_default(),
            role_name(role)
        )));
    }
    let started_at = now_rfc3339();
    let mut notes = Vec::new();
    let (reference, target) = match (&manifest, &options.manifest) {
        (Some(manifest), Some(path)) => {
            let base = path.parent().unwrap_or(Path::new("."));
            let target = if role == RoleUnderTest::OperationCenter {
                Target::from_manifest(manifest, base).await
            } else {
                crate::roles::from_manifest(manifest, base)
            };
            (None, target.map_err(RunError)?)
        }
        _ if role != RoleUnderTest::OperationCenter => {
            let (reference, target) = crate::roles::start_in_process(role, |_| {})
                .await
                .map_err(RunError)?;
            notes.push(format!(
                "self-test: the system under test is the in-process reference {} alone; the \
                 suite played the network server{}",
                role_name(role),
                if role == RoleUnderTest::SmsCenter {
                    " and the handsets"
                } else {
                    ""
                }
            ));
            (Some(reference), target)
        }
        _ => {
            let (reference, target) = InProcess::start().await.map_err(RunError)?;
            notes.push(
                "self-test: the system under test is the in-process reference implementation, \
                 started with fast (insecure) password hashing"
                    .to_owned(),
            );
            (Some(reference), target)
        }
    };
    if let Some(support) = &target.checkout {
        notes.push(support.note.clone());
    }
    if let Err(error) = reachable(&target).await {
        if let Some(reference) = reference {
            reference.stop().await;
        }
        return Err(error);
    }
    notes.push(coverage_note(&cases::all()));
    let restricted = selected.len() != catalogue.len();
    if restricted {
        let mut how = Vec::new();
        if let Some(glob) = &options.only {
            how.push(format!("--only {glob:?}"));
        }
        if options.skip_waiting {
            how.push("--skip-waiting".to_owned());
        }
        notes.push(format!(
            "restricted run ({}): {} of {} cases; not conformant by OMPP-CONF-007",
            how.join(", "),
            selected.len(),
            catalogue.len()
        ));
    }

    let target = Arc::new(target);
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut results: HashMap<&'static str, (CaseResult, Vec<TranscriptStep>)> = HashMap::new();
    let mut progress = (0, selected.len());
    println!(
        "running {} cases against {} ({} at a time)",
        selected.len(),
        target.role.as_ref().map_or_else(
            || target.network_url.clone(),
            |role| role
                .urls()
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        options.concurrency.max(1)
    );
    // Cases that wait for protocol time start first, so the others run while they wait; the
    // cases that must run alone (cases::exclusive) start last.
    let mut order: Vec<&Case> = selected.iter().collect();
    order.sort_by_key(|c| (!cases::waits(c.id), cases::exclusive(c.id)));
    let alone = Arc::new(tokio::sync::RwLock::new(()));
    for case in order {
        if let Some(profile) = case.profile
            && !target.profiles.contains(&profile)
        {
            let checks = Checks::new("OMPP-CONF-013");
            let result = result_of(case, Verdict::Unsupported, Duration::ZERO, &checks);
            print_line(&mut progress, &result);
            results.insert(case.id, (result, Vec::new()));
            continue;
        }
        let case = *case;
        let target = target.clone();
        let permits = permits.clone();
        let alone = alone.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            // A case that sends load (OMPP-CONF-010) or makes the suite's counterparties
            // refuse everyone runs alone; the cases that wait for protocol time go on waiting
            // meanwhile. The lock is fair, and such cases are spawned last, so they run once
            // every other case has started and ended.
            let (_shared, _alone) = if cases::exclusive(case.id) {
                (None, Some(alone.write_owned().await))
            } else if cases::waits(case.id) {
                (None, None)
            } else {
                (Some(alone.read_owned().await), None)
            };
            (case.id, run_case(case, target).await)
        });
    }
    let expected = manifest
        .as_ref()
        .map(|m| m.expected_failures.clone())
        .unwrap_or_default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((id, (mut result, transcript))) => {
                apply_expected_failures(&mut result, &expected);
                print_line(&mut progress, &result);
                results.insert(id, (result, transcript));
            }
            Err(error) => {
                // A panicking case is a suite bug; it must still show up as a failure.
                tracing::error!(%error, "a case task failed");
            }
        }
    }
    for case in &selected {
        if !results.contains_key(case.id) {
            let checks = Checks::new(
                case.requirements
                    .first()
                    .copied()
                    .unwrap_or("OMPP-CONF-001"),
            );
            checks.fail("the case runs to its end", "the case task failed");
            let mut result = result_of(case, Verdict::Error, Duration::ZERO, &checks);
            apply_expected_failures(&mut result, &expected);
            print_line(&mut progress, &result);
            results.insert(case.id, (result, Vec::new()));
        }
    }
    if let Some(reference) = reference {
        reference.stop().await;
    }

    let (cases, transcripts): (Vec<CaseResult>, Vec<Vec<TranscriptStep>>) =
        selected.iter().filter_map(|c| results.remove(c.id)).unzip();
    let summary = summarize(&cases);
    let report = Report {
        suite_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: ompp::PROTOCOL_VERSION.to_owned(),
        started_at,
        finished_at: now_rfc3339(),
        role,
        profiles: target.profiles.clone(),
        endpoints: target.endpoints.clone(),
        summary,
        conformant: conformant(&cases, !restricted),
        cases,
        notes,
    };
    write_report(&report, &options.report_dir)?;
    crate::evidence::write(
        &options.report_dir,
        &report,
        &transcripts,
        options.manifest.as_deref(),
    )
    .map_err(RunError)?;
    Ok(report)
}

/// Counts the verdicts.
pub fn summarize(cases: &[CaseResult]) -> Summary {
    let mut summary = Summary::default();
    for case in cases {
        let slot = match case.verdict {
            Verdict::Pass => &mut summary.passed,
            Verdict::Fail => &mut summary.failed,
            Verdict::Warn => &mut summary.warnings,
            Verdict::Unsupported => &mut summary.unsupported,
            Verdict::ExpectedFailure => &mut summary.expected_failures,
            Verdict::UnexpectedPass => &mut summary.unexpected_passes,
            _ => &mut summary.errors,
        };
        *slot += 1;
    }
    summary
}

/// How many of the requirements the suite must check (`MUST`, not *(audit)*) its cases check
/// (OMPP-CONF-016), for the role this version certifies.
pub fn coverage_note(catalogue: &[Case]) -> String {
    let checkable: Vec<&str> = ompp::requirements::all()
        .iter()
        .filter(|r| crate::coverage::must_check(r))
        .map(|r| r.id.as_str())
        .collect();
    let checked = checkable
        .iter()
        .filter(|id| catalogue.iter().any(|c| c.requirements.contains(id)))
        .count();
    format!(
        "coverage: the cases of suite {} check {checked} of the {} non-audit MUST requirements \
         of the specification (all roles); a conformant verdict covers only what the cases check",
        env!("CARGO_PKG_VERSION"),
        checkable.len()
    )
}

/// The verdict counts in one line, as the terminal and the summary show them.
pub fn counts_line(s: Summary) -> String {
    format!(
        "{} passed, {} failed, {} warnings, {} unsupported, {} errors, {} expected failures, {} unexpected passes",
        s.passed,
        s.failed,
        s.warnings,
        s.unsupported,
        s.errors,
        s.expected_failures,
        s.unexpected_passes
    )
}

/// One line of the live view: progress, verdict, case, time.
fn print_line(progress: &mut (usize, usize), result: &CaseResult) {
    progress.0 += 1;
    println!(
        "[{:>3}/{}] {:<17} {:<48} {:>6} ms",
        progress.0,
        progress.1,
        verdict_name(result.verdict).to_uppercase(),
        result.id,
        result.duration_ms
    );
}

fn endpoint_list(endpoints: &ompp::conformance::Endpoints) -> String {
    let listed: Vec<String> = [
        ("network", &endpoints.network),
        ("mobile", &endpoints.mobile),
        ("bank", &endpoints.bank),
        ("sms", &endpoints.sms),
        ("handset", &endpoints.handset),
    ]
    .iter()
    .filter_map(|(name, url)| url.as_ref().map(|url| format!("{name} {url}")))
    .collect();
    if listed.is_empty() {
        "-".to_owned()
    } else {
        listed.join(", ")
    }
}

fn profile_list(profiles: &[Profile]) -> String {
    profiles
        .iter()
        .map(|p| cases::profile_name(Some(*p)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The human-readable summary: counts, verdict, notes and every failed assertion.
pub fn summary_markdown(report: &Report) -> String {
    let s = report.summary;
    let mut md = format!(
        "# OMPP conformance report\n\n\
         - suite {} for {}; role {}; profiles: {}\n\
         - endpoints: {}\n\
         - started {}, finished {}\n\
         - **{}**: {}\n",
        report.suite_version,
        report.protocol_version,
        role_name(report.role),
        profile_list(&report.profiles),
        endpoint_list(&report.endpoints),
        report.started_at,
        report.finished_at,
        if report.conformant {
            "conformant"
        } else {
            "not conformant"
        },
        counts_line(s),
    );
    if !report.notes.is_empty() {
        md.push_str("\n## Notes\n\n");
        for note in &report.notes {
            md.push_str(&format!("- {note}\n"));
        }
    }
    md.push_str(
        "\n## Cases\n\n| verdict | case | level | requirements | ms |\n|---|---|---|---|---|\n",
    );
    for case in &report.cases {
        md.push_str(&format!(
            "| {} | `{}` | {} | {} | {} |\n",
            verdict_name(case.verdict),
            case.id,
            case.level.keyword(),
            case.requirements.join(" "),
            case.duration_ms
        ));
    }
    let failed: Vec<_> = report
        .cases
        .iter()
        .flat_map(|c| {
            c.assertions
                .iter()
                .filter(|a| !a.passed)
                .map(move |a| (c, a))
        })
        .collect();
    if !failed.is_empty() {
        md.push_str("\n## Failed assertions\n\n");
        for (case, a) in failed {
            md.push_str(&format!(
                "- `{}` ({}): {} — expected {}, got {}{}\n",
                case.id,
                a.requirement,
                a.description,
                a.expected,
                a.actual,
                case.expected_failure_reason
                    .as_deref()
                    .map(|r| format!(" (expected failure: {r})"))
                    .unwrap_or_default()
            ));
        }
    }
    md
}

/// Writes `report.json` and `summary.md` into `dir`.
pub fn write_report(report: &Report, dir: &Path) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(|e| RunError(format!("{}: {e}", dir.display())))?;
    let json =
        serde_json::to_string_pretty(report).map_err(|e| RunError(format!("report: {e}")))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| RunError(format!("{}: {e}", path.display())))
    };
    write("report.json", &json)?;
    write("summary.md", &summary_markdown(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_ids() {
        assert!(glob_match("oc.flow-a.*", "oc.flow-a.happy-path"));
        assert!(glob_match("*", "oc.tls.unknown-ca"));
        assert!(glob_match("oc.tls.?nknown-ca", "oc.tls.unknown-ca"));
        assert!(!glob_match("oc.flow-b.*", "oc.flow-a.happy-path"));
        assert!(!glob_match("oc.flow-a", "oc.flow-a.happy-path"));
    }

    fn case(level: Level, verdict: Verdict) -> CaseResult {
        CaseResult {
            id: "oc.x".into(),
            title: String::new(),
            role: RoleUnderTest::OperationCenter,
            level,
            requirements: vec![],
            verdict,
            expected_failure_reason: None,
            duration_ms: 0,
            assertions: vec![],
            profile: None,
        }
    }

    #[test]
    fn conformance_follows_levels_and_verdicts() {
        assert!(conformant(&[case(Level::Must, Verdict::Pass)], true));
        assert!(!conformant(&[case(Level::Must, Verdict::Pass)], false));
        assert!(!conformant(&[case(Level::Must, Verdict::Fail)], true));
        assert!(!conformant(
            &[case(Level::Must, Verdict::ExpectedFailure)],
            true
        ));
        assert!(conformant(&[case(Level::Should, Verdict::Warn)], true));
        assert!(!conformant(&[case(Level::Must, Verdict::Error)], true));
        assert!(conformant(&[case(Level::Should, Verdict::Error)], true));
        assert!(!conformant(
            &[case(Level::Should, Verdict::UnexpectedPass)],
            true
        ));
        assert!(conformant(&[case(Level::Must, Verdict::Unsupported)], true));
    }

    fn assertion(passed: bool) -> Assertion {
        Assertion {
            description: "d".into(),
            requirement: "OMPP-FLA-001".into(),
            expected: "e".into(),
            actual: "a".into(),
            passed,
        }
    }

    #[test]
    fn verdicts_follow_assertions_levels_and_setup() {
        let (ok, bad) = (assertion(true), assertion(false));
        assert_eq!(
            verdict_of(Level::Must, std::slice::from_ref(&ok), false),
            Verdict::Pass
        );
        assert_eq!(
            verdict_of(Level::Must, &[ok.clone(), bad.clone()], false),
            Verdict::Fail
        );
        assert_eq!(
            verdict_of(Level::Should, &[ok.clone(), bad.clone()], false),
            Verdict::Warn
        );
        // Only the setup step failed: the suite could not run the case.
        assert_eq!(
            verdict_of(Level::Must, &[ok.clone(), bad.clone()], true),
            Verdict::Error
        );
        // A judged failure before the setup failure still fails the case.
        assert_eq!(
            verdict_of(Level::Must, &[bad.clone(), bad], true),
            Verdict::Fail
        );
        assert_eq!(verdict_of(Level::Must, &[], false), Verdict::Error);
    }

    #[test]
    fn expected_failures_turn_verdicts() {
        let expected = [ExpectedFailure {
            case: "oc.*".into(),
            reason: "ticket 1".into(),
        }];
        let mut failed = case(Level::Must, Verdict::Fail);
        apply_expected_failures(&mut failed, &expected);
        assert_eq!(failed.verdict, Verdict::ExpectedFailure);
        assert_eq!(failed.expected_failure_reason.as_deref(), Some("ticket 1"));
        let mut passed = case(Level::Must, Verdict::Pass);
        apply_expected_failures(&mut passed, &expected);
        assert_eq!(passed.verdict, Verdict::UnexpectedPass);
    }
}
