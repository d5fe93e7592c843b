//! The suite against the in-process reference: `list` is well-formed, and `run` without a
//! manifest passes every case and writes a complete report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::process::Command;

use ompp::conformance::{EvidenceIndex, Report, RoleUnderTest, Transcript, Verdict};

const BIN: &str = env!("CARGO_BIN_EXE_ompp-conformance");

#[test]
fn list_json_ids_are_unique_and_name_known_requirements() {
    let output = Command::new(BIN).args(["list", "--json"]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(cases.len() >= 16, "{} cases", cases.len());
    let mut ids = HashSet::new();
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "duplicate id {id}");
        let prefix = match case["role"].as_str().unwrap() {
            "operation_center" => "oc.",
            "bank_processor" => "bp.",
            "sms_center" => "sc.",
            other => panic!("{id}: unknown role {other}"),
        };
        assert!(id.starts_with(prefix), "{id} of role {}", case["role"]);
        assert!(["MUST", "SHOULD"].contains(&case["level"].as_str().unwrap()));
        let requirements = case["requirements"].as_array().unwrap();
        assert!(!requirements.is_empty(), "{id}");
        for requirement in requirements {
            let requirement = requirement.as_str().unwrap();
            assert!(
                ompp::requirements::get(requirement).is_some(),
                "{id}: unknown requirement {requirement}"
            );
        }
    }
}

#[test]
fn run_against_the_in_process_reference_passes_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("report");
    let output = Command::new(BIN)
        .args(["run", "--report-dir"])
        .arg(&report_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Report =
        serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap()).unwrap();
    let failures: Vec<_> = report
        .cases
        .iter()
        .flat_map(|c| {
            c.assertions
                .iter()
                .filter(|a| !a.passed)
                .map(move |a| (&c.id, a))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}\n{stdout}");
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(report.summary.failed, 0);
    assert!(report.conformant);
    assert_eq!(report.summary.passed as usize, report.cases.len());
    assert_eq!(report.protocol_version, ompp::PROTOCOL_VERSION);
    // OMPP-CONF-016: every assertion names one of its case's requirements.
    for case in &report.cases {
        assert_eq!(case.verdict, Verdict::Pass, "{}", case.id);
        assert!(!case.assertions.is_empty(), "{}", case.id);
        for assertion in &case.assertions {
            assert!(
                case.requirements.contains(&assertion.requirement),
                "{}: assertion {:?} names {} outside the case's requirements",
                case.id,
                assertion.description,
                assertion.requirement
            );
        }
        assert!(stdout.contains(&case.id), "{} not printed", case.id);
    }
    // The summary says flow C used the reference's own counterparties.
    let summary = std::fs::read_to_string(report_dir.join("summary.md")).unwrap();
    assert!(summary.contains("conformant"), "{summary}");
    assert!(summary.contains("SMS center"), "{summary}");
    check_evidence(&report_dir, &report);
}

/// OMPP-CONF-015: JUnit XML with one test case per case, a transcript per case without any
/// secret, and hashes that match the files.
fn check_evidence(dir: &std::path::Path, report: &Report) {
    let xml = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    let junit = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(junit.tests, report.cases.len());
    assert_eq!(junit.failures, 0);
    assert_eq!(junit.errors, 0);
    let index: EvidenceIndex =
        serde_json::from_slice(&std::fs::read(dir.join("evidence/hashes.json")).unwrap()).unwrap();
    assert_eq!(index.manifest_sha256, None);
    assert_eq!(
        index.spec_requirements_sha256,
        ompp_conformance::evidence::sha256_hex(ompp::requirements::registry_json().as_bytes())
    );
    let binary = std::fs::read(BIN).unwrap();
    assert_eq!(
        index.suite_binary_sha256,
        ompp_conformance::evidence::sha256_hex(&binary)
    );
    for file in &index.files {
        let bytes = std::fs::read(dir.join(&file.path)).unwrap();
        assert_eq!(
            file.sha256,
            ompp_conformance::evidence::sha256_hex(&bytes),
            "{}",
            file.path
        );
    }
    let mut steps = 0;
    for case in &report.cases {
        let path = format!("evidence/transcripts/{}.json", case.id);
        assert!(
            index.files.iter().any(|f| f.path == path),
            "{path} not hashed"
        );
        let text = std::fs::read_to_string(dir.join(&path)).unwrap();
        let transcript: Transcript = serde_json::from_str(&text).unwrap();
        assert_eq!(transcript.case, case.id);
        assert_eq!(transcript.verdict, case.verdict);
        steps += transcript.steps.len();
        // The customers' password and the session tokens never reach the evidence.
        assert!(
            !text.contains(ompp_conformance::target::PASSWORD),
            "{path} holds the password"
        );
        for field in [
            "password",
            "session_token",
            "authorization_code",
            "handset_token",
        ] {
            for (at, _) in text.match_indices(&format!("{field}: ")) {
                let value = &text[at + field.len() + 2..];
                assert!(value.starts_with("<redacted>"), "{path}: {field} shown");
            }
        }
    }
    assert!(steps >= report.cases.len(), "{steps} transcript steps");
    snapshot_transcripts(dir, report);
}

/// The reference's transcripts, normalized, are kept as snapshots: any change on the wire
/// shows up in review (`cargo insta review`).
fn snapshot_transcripts(dir: &std::path::Path, report: &Report) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots/transcripts");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for case in &report.cases {
            let path = dir.join(format!("evidence/transcripts/{}.json", case.id));
            let transcript: Transcript =
                serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            insta::assert_snapshot!(
                case.id.clone(),
                ompp_conformance::evidence::normalized(&transcript.steps)
            );
        }
    });
}

/// `run --role bank-processor|sms-center`: the reference of that role alone, with the suite
/// playing the network server (and the handsets), passes every case of the role.
#[test]
fn run_against_the_in_process_bank_processor_and_sms_center_passes_every_case() {
    for (flag, role, prefix) in [
        ("bank-processor", RoleUnderTest::BankProcessor, "bp."),
        ("sms-center", RoleUnderTest::SmsCenter, "sc."),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let report_dir = dir.path().join("report");
        let output = Command::new(BIN)
            .args(["run", "--role", flag, "--report-dir"])
            .arg(&report_dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Report =
            serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap())
                .unwrap();
        let failures: Vec<_> = report
            .cases
            .iter()
            .flat_map(|c| {
                c.assertions
                    .iter()
                    .filter(|a| !a.passed)
                    .map(move |a| (&c.id, a))
            })
            .collect();
        assert!(failures.is_empty(), "{flag}: {failures:#?}\n{stdout}");
        assert_eq!(output.status.code(), Some(0), "{flag}: {stdout}");
        assert_eq!(report.role, role);
        assert!(report.conformant, "{flag}");
        assert!(
            report.cases.len() >= 7,
            "{flag}: {} cases",
            report.cases.len()
        );
        for case in &report.cases {
            assert!(case.id.starts_with(prefix), "{flag}: {}", case.id);
            assert_eq!(case.role, role);
            assert_eq!(case.verdict, Verdict::Pass, "{}", case.id);
            for assertion in &case.assertions {
                assert!(
                    case.requirements.contains(&assertion.requirement),
                    "{}: assertion {:?} names {} outside the case's requirements",
                    case.id,
                    assertion.description,
                    assertion.requirement
                );
            }
        }
        let summary = std::fs::read_to_string(report_dir.join("summary.md")).unwrap();
        assert!(
            summary.contains(runner_role_name(role)),
            "{flag}: the summary states the role: {summary}"
        );
        check_evidence(&report_dir, &report);
    }
}

fn runner_role_name(role: RoleUnderTest) -> &'static str {
    ompp_conformance::runner::role_name(role)
}

#[test]
fn a_restricted_run_is_never_conformant() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["run", "--only", "oc.tls.*", "--report-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report: Report =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    assert!(report.cases.iter().all(|c| c.id.starts_with("oc.tls.")));
    assert!(report.cases.iter().all(|c| c.verdict == Verdict::Pass));
    assert!(!report.conformant);
}
