//! The evidence of a run (spec chapter 09, "Evidence"): `junit.xml` for CI systems, one
//! transcript per case with secrets redacted, and `evidence/hashes.json` with the digests of
//! the suite, the spec and the manifest, and of every file written (OMPP-CONF-015).

use std::path::Path;
use std::time::Duration;

use ompp::conformance::{
    CaseResult, EvidenceIndex, HashedFile, Report, Transcript, TranscriptStep, Verdict,
};
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use sha2::{Digest, Sha256};

use crate::runner::verdict_name;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn failed_assertions(case: &CaseResult) -> String {
    case.assertions
        .iter()
        .filter(|a| !a.passed)
        .map(|a| {
            format!(
                "{} ({}): expected {}, got {}",
                a.description, a.requirement, a.expected, a.actual
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report as JUnit XML: one test suite per role, one test case per case. `fail` and
/// `unexpected_pass` are failures, `error` is an error, `unsupported` is skipped; `warn` and
/// `expected_failure` pass with the reason in `system-out`, since they do not fail the run.
pub fn junit_xml(report: &Report) -> Result<String, String> {
    let mut junit = quick_junit::Report::new("ompp-conformance");
    let mut suite = TestSuite::new(crate::runner::role_name(report.role));
    for case in &report.cases {
        let message = format!("{} ({})", verdict_name(case.verdict), case.level.keyword());
        let status = match case.verdict {
            Verdict::Fail | Verdict::UnexpectedPass => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status
                    .set_message(message.clone())
                    .set_description(failed_assertions(case));
                status
            }
            Verdict::Error => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_message(message.clone())
                    .set_description(failed_assertions(case));
                status
            }
            Verdict::Unsupported => {
                let mut status = TestCaseStatus::skipped();
                status.set_message("unsupported: profile not declared");
                status
            }
            _ => TestCaseStatus::success(),
        };
        let mut test = TestCase::new(case.id.clone(), status);
        let class = case
            .id
            .rsplit_once('.')
            .map_or(case.id.as_str(), |(c, _)| c);
        test.set_classname(class.to_owned());
        test.set_time(Duration::from_millis(case.duration_ms));
        match case.verdict {
            Verdict::Warn => {
                test.set_system_out(format!("{message}\n{}", failed_assertions(case)));
            }
            Verdict::ExpectedFailure => {
                test.set_system_out(format!(
                    "{message}: {}",
                    case.expected_failure_reason.as_deref().unwrap_or_default()
                ));
            }
            _ => {}
        }
        suite.add_test_case(test);
    }
    junit.add_test_suite(suite);
    junit.to_string().map_err(|e| format!("junit.xml: {e}"))
}

/// Writes `junit.xml`, `evidence/transcripts/<case>.json` and `evidence/hashes.json` into
/// `dir`, next to the `report.json` and `summary.md` already there. `transcripts` is in the
/// order of `report.cases`.
pub fn write(
    dir: &Path,
    report: &Report,
    transcripts: &[Vec<TranscriptStep>],
    manifest: Option<&Path>,
) -> Result<(), String> {
    let transcript_dir = dir.join("evidence").join("transcripts");
    std::fs::create_dir_all(&transcript_dir)
        .map_err(|e| format!("{}: {e}", transcript_dir.display()))?;
    let mut files = Vec::new();
    for name in ["report.json", "summary.md"] {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(HashedFile {
            path: name.to_owned(),
            sha256: sha256_hex(&bytes),
        });
    }
    let mut put = |relative: String, bytes: Vec<u8>| -> Result<(), String> {
        let path = dir.join(&relative);
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(HashedFile {
            path: relative,
            sha256: sha256_hex(&bytes),
        });
        Ok(())
    };
    put("junit.xml".to_owned(), junit_xml(report)?.into_bytes())?;
    for (case, steps) in report.cases.iter().zip(transcripts) {
        let transcript = Transcript {
            case: case.id.clone(),
            verdict: case.verdict,
            steps: steps.clone(),
        };
        let json = serde_json::to_vec_pretty(&transcript).map_err(|e| e.to_string())?;
        put(format!("evidence/transcripts/{}.json", case.id), json)?;
    }
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let binary = std::env::current_exe().map_err(|e| format!("the suite's executable: {e}"))?;
    let index = EvidenceIndex {
        suite_version: report.suite_version.clone(),
        suite_binary_sha256: sha256_hex(&read(&binary)?),
        protocol_version: report.protocol_version.clone(),
        spec_requirements_sha256: sha256_hex(ompp::requirements::registry_json().as_bytes()),
        manifest_sha256: manifest.map(read).transpose()?.map(|b| sha256_hex(&b)),
        files,
    };
    let json = serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())?;
    let path = dir.join("evidence").join("hashes.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))
}
