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

/// A transcript with everything that differs from run to run replaced, so that the reference
/// implementation's transcripts can be kept as snapshots and any change on the wire shows up
/// in review: ids and other hex runs of 10 or more digits (`[hex]`), numbers of 6 or more
/// digits such as timestamps (`[n]`), numbers after a `-` (the suite's run-unique counters),
/// digits after a mask (`*`, `•`), payee-code payloads (signed, with an expiry), byte counts of
/// certificates, and sub-second parts of timestamps.
pub fn normalized(steps: &[TranscriptStep]) -> String {
    steps
        .iter()
        .map(|s| {
            format!(
                "{}\n  -> {}: {}\n",
                normalize(&s.step),
                s.outcome,
                normalize(&s.answer)
            )
        })
        .collect()
}

/// See [`normalized`].
pub fn normalize(text: &str) -> String {
    let text =
        replace_string_field(text, "payload", "<payload>").replace("nanos: 0 ", "nanos: [n] ");
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let previous = i.checked_sub(1).map(|j| chars[j]);
        // A word that ends in ten or more hex digits (ids such as `pay_…`, `Q…`, `C-…`).
        if c.is_ascii_alphanumeric() && !previous.is_some_and(|p| p.is_ascii_alphanumeric()) {
            let word_end = run_end(&chars, i, char::is_ascii_alphanumeric);
            let hex_start = (i..word_end)
                .rev()
                .take_while(|&k| chars[k].is_ascii_hexdigit())
                .last()
                .unwrap_or(word_end);
            let digits = chars[hex_start..word_end].iter().all(char::is_ascii_digit);
            // A prefixed id (`Q…`) is hex even when its digits happen to be all decimal.
            if word_end - hex_start >= 10
                && (!digits || hex_start > i)
                && !(c == 'o' && chars.get(i + 1) == Some(&'c'))
            {
                out.extend(&chars[i..hex_start]);
                out.push_str("[hex]");
                i = word_end;
                continue;
            }
        }
        // The suite's run tag: `oc` and ten hex digits (Target::key).
        if c == 'o'
            && chars.get(i + 1) == Some(&'c')
            && !previous.is_some_and(|p| p.is_ascii_alphanumeric())
        {
            let end = run_end(&chars, i + 2, |c| c.is_ascii_hexdigit());
            if end - (i + 2) >= 10 && run_end(&chars, i, |c| c.is_ascii_alphanumeric()) == end {
                out.push_str("oc[hex]");
                i = end;
                continue;
            }
        }
        if c.is_ascii_digit() && !previous.is_some_and(|p| p.is_ascii_alphanumeric()) {
            let end = run_end(&chars, i, |c| c.is_ascii_digit());
            let counter = matches!(previous, Some('-' | '•' | '*'));
            if end - i >= 6 || counter {
                out.push_str("[n]");
                i = end;
                continue;
            }
        }
        if c == '<'
            && let Some(len) = byte_count(&chars[i..])
        {
            out.push_str("<bytes>");
            i += len;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn run_end(chars: &[char], start: usize, keep: impl Fn(&char) -> bool) -> usize {
    chars[start..]
        .iter()
        .position(|c| !keep(c))
        .map_or(chars.len(), |n| start + n)
}

/// The length of a `<N bytes>` marker at the start of `chars`.
fn byte_count(chars: &[char]) -> Option<usize> {
    let digits = chars[1..].iter().take_while(|c| c.is_ascii_digit()).count();
    let tail: String = chars.get(1 + digits..1 + digits + 7)?.iter().collect();
    (digits > 0 && tail == " bytes>").then_some(1 + digits + 7)
}

/// Replaces the value of every `field: "..."` in a `Debug` rendering.
fn replace_string_field(text: &str, field: &str, with: &str) -> String {
    let marker = format!("{field}: \"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&marker) {
        out.push_str(&rest[..at]);
        out.push_str(field);
        out.push_str(": ");
        out.push_str(with);
        let value = &rest[at + marker.len()..];
        let mut escaped = false;
        let end = value
            .char_indices()
            .find(|&(_, c)| {
                let close = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                close
            })
            .map_or(value.len(), |(i, _)| i + 1);
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_replaces_what_varies_and_keeps_the_rest() {
        assert_eq!(
            normalize(
                r#"Payment { payment_id: "pay_212c09647fc92f84fd66ce8d6b97d61f", merchant_id: "M-1042", code_id: "Q6b138c6f9cc9bca96f", other_code_id: "Q809844377596272824", minor_units: 4990, created_at: Some(Timestamp { seconds: 1795563709, nanos: 445000000 }), merchant_reference: "ocaabd38ea00-order-125", phone: "+49•••••123", expires_in: 120, payload: "0002\"01", certificate_der: <617 bytes>, attempts_left: 2 }"#
            ),
            r#"Payment { payment_id: "pay_[hex]", merchant_id: "M-[n]", code_id: "Q[hex]", other_code_id: "Q[hex]", minor_units: 4990, created_at: Some(Timestamp { seconds: [n], nanos: [n] }), merchant_reference: "oc[hex]-order-[n]", phone: "+49•••••[n]", expires_in: 120, payload: <payload>, certificate_der: <bytes>, attempts_left: 2 }"#
        );
    }
}
