//! What a case is, and how it records its assertions instead of panicking.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ompp::conformance::{Assertion, Profile, RoleUnderTest, TranscriptStep};
use ompp::error::ProtocolError;
use ompp::error::catalogue::wire_name;
use ompp::proto::v1::ErrorReason;
use ompp::requirements::Level;

use crate::target::Target;

/// The future a case body returns: `Err(Abort)` when the case could not proceed (the reason is
/// already recorded as a failed assertion).
pub type CaseFuture = Pin<Box<dyn Future<Output = Result<(), Abort>> + Send>>;

/// A case body: runs against the target and records into the checks.
pub type CaseFn = fn(Arc<Target>, Checks) -> CaseFuture;

/// One conformance case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Stable id, e.g. `oc.flow-a.happy-path`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// The role it certifies.
    pub role: RoleUnderTest,
    /// The profile it belongs to; `None` for rules every system of the role must follow.
    pub profile: Option<Profile>,
    /// The requirement ids it checks; the first is named by setup failures.
    pub requirements: &'static [&'static str],
    /// The body.
    pub run: CaseFn,
}

impl Case {
    /// The level of the case: `SHOULD` only when every requirement it checks is `SHOULD` or
    /// `MAY` (OMPP-CONF-004); an unknown id counts as `MUST`.
    pub fn level(&self) -> Level {
        let all_weak = self.requirements.iter().all(|id| {
            ompp::requirements::get(id)
                .is_some_and(|r| matches!(r.level, Level::Should | Level::May))
        });
        if all_weak && !self.requirements.is_empty() {
            Level::Should
        } else {
            Level::Must
        }
    }
}

/// A case stopped early; what stopped it is recorded as a failed assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abort;

/// The assertions of one case, shared with the runner so that they survive a timeout, with
/// the case's transcript.
#[derive(Debug, Clone)]
pub struct Checks {
    assertions: Arc<Mutex<Vec<Assertion>>>,
    transcript: Arc<Mutex<Vec<TranscriptStep>>>,
    setup_failed: Arc<AtomicBool>,
    primary: &'static str,
}

/// Field names whose values never appear in a transcript (OMPP-CONF-015).
const SECRET_FIELDS: [&str; 7] = [
    "password",
    "authorization_code",
    "session_token",
    "handset_token",
    "enrollment_token",
    "key_pem",
    "text",
];

/// The `Debug` form of a message with every secret field's value replaced by `<redacted>` and
/// every byte field (`..._der`) by its length.
pub fn redact(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(colon) = rest.find(": ") {
        let (head, tail) = rest.split_at(colon);
        let field = head
            .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .next()
            .unwrap_or_default();
        out.push_str(head);
        out.push_str(": ");
        let value = &tail[2..];
        if SECRET_FIELDS.contains(&field) && value.starts_with('"') {
            let end = string_end(value);
            out.push_str("<redacted>");
            rest = &value[end..];
        } else if field.ends_with("_der") && value.starts_with('[') {
            // The matching bracket: a repeated bytes field is a list of lists.
            let mut depth = 0usize;
            let end = value
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '[' => depth += 1,
                        ']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(value.len(), |(i, _)| i + 1);
            let bytes = value[..end]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .count();
            out.push_str(&format!("<{bytes} bytes>"));
            rest = &value[end..];
        } else {
            rest = value;
        }
    }
    out.push_str(rest);
    out
}

/// The index just past the closing quote of the Debug string literal at the start of `value`.
fn string_end(value: &str) -> usize {
    let mut escaped = false;
    for (i, c) in value.char_indices().skip(1) {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return i + 1,
            _ => escaped = false,
        }
    }
    value.len()
}

/// How a failed call looks in a report: the OMPP reason (with `attempts_left` when present),
/// or why the status is not an OMPP error.
pub fn describe_status(status: &tonic::Status) -> String {
    match ProtocolError::from_status(status) {
        Ok(error) => describe_error(&error),
        Err(why) => format!(
            "{:?} without a valid OMPP error ({why}): {}",
            status.code(),
            status.message()
        ),
    }
}

/// An OMPP error as `REASON` or `REASON, attempts_left=N`.
pub fn describe_error(error: &ProtocolError) -> String {
    match error.metadata.get("attempts_left") {
        Some(left) => format!("{}, attempts_left={left}", wire_name(error.reason)),
        None => wire_name(error.reason).to_owned(),
    }
}

impl Checks {
    /// Empty checks; setup failures name `primary`.
    pub fn new(primary: &'static str) -> Self {
        Self {
            assertions: Arc::new(Mutex::new(Vec::new())),
            transcript: Arc::new(Mutex::new(Vec::new())),
            setup_failed: Arc::new(AtomicBool::new(false)),
            primary,
        }
    }

    /// The transcript so far.
    pub fn transcript(&self) -> Vec<TranscriptStep> {
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a step the case needed but does not judge failed ([`Checks::setup`]).
    pub fn setup_failed(&self) -> bool {
        self.setup_failed.load(Ordering::Relaxed)
    }

    /// Adds a step to the transcript.
    pub fn log<T: Debug>(&self, step: &str, result: &Result<tonic::Response<T>, tonic::Status>) {
        let (outcome, answer) = match result {
            Ok(response) => (
                "ok".to_owned(),
                redact(&format!("{:?}", response.get_ref())),
            ),
            Err(status) => (
                format!("{:?}", status.code()),
                match ProtocolError::from_status(status) {
                    Ok(error) => {
                        redact(&format!("{} {:?}", wire_name(error.reason), error.metadata))
                    }
                    Err(why) => format!("not an OMPP error: {why}"),
                },
            ),
        };
        self.transcript
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(TranscriptStep {
                step: step.to_owned(),
                outcome,
                answer,
            });
    }

    /// Every assertion recorded so far.
    pub fn take(&self) -> Vec<Assertion> {
        self.assertions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records one assertion and returns whether it passed.
    pub fn record(
        &self,
        requirement: &str,
        description: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
        passed: bool,
    ) -> bool {
        self.assertions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Assertion {
                description: description.into(),
                requirement: requirement.to_owned(),
                expected: expected.into(),
                actual: actual.into(),
                passed,
            });
        passed
    }

    /// Records whether `actual` equals `expected` (both shown with `Debug`).
    pub fn equal<T: PartialEq + Debug>(
        &self,
        requirement: &str,
        description: impl Into<String>,
        expected: T,
        actual: T,
    ) -> bool {
        let passed = expected == actual;
        self.record(
            requirement,
            description,
            format!("{expected:?}"),
            format!("{actual:?}"),
            passed,
        )
    }

    /// Records that a call failed with the OMPP error `expected` (domain, reason and code as
    /// the catalogue says); returns the error when it did.
    pub fn reason<T: Debug>(
        &self,
        requirement: &str,
        description: impl Into<String>,
        result: Result<tonic::Response<T>, tonic::Status>,
        expected: ErrorReason,
    ) -> Option<ProtocolError> {
        let description = description.into();
        self.log(&description, &result);
        let (actual, error) = match result {
            Ok(_) => ("OK (the call succeeded)".to_owned(), None),
            Err(status) => match ProtocolError::from_status(&status) {
                Ok(error) => (describe_error(&error), Some(error)),
                Err(_) => (describe_status(&status), None),
            },
        };
        let passed = error.as_ref().is_some_and(|e| e.reason == expected);
        self.record(
            requirement,
            description,
            wire_name(expected),
            actual,
            passed,
        );
        error.filter(|_| passed)
    }

    /// Records that a call the requirement says succeeds did succeed; aborts the case if not.
    pub fn succeeds<T: Debug>(
        &self,
        requirement: &str,
        description: impl Into<String>,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> Result<T, Abort> {
        let description = description.into();
        self.log(&description, &result);
        match result {
            Ok(response) => {
                self.record(requirement, description, "OK", "OK", true);
                Ok(response.into_inner())
            }
            Err(status) => {
                self.record(
                    requirement,
                    description,
                    "OK",
                    describe_status(&status),
                    false,
                );
                Err(Abort)
            }
        }
    }

    /// A step the case needs but does not judge (fixtures, connections): records nothing on
    /// success, and a failed assertion on the case's first requirement otherwise.
    pub fn setup<T, E: std::fmt::Display>(
        &self,
        description: &str,
        result: Result<T, E>,
    ) -> Result<T, Abort> {
        result.map_err(|error| {
            self.setup_failed.store(true, Ordering::Relaxed);
            self.record(
                self.primary,
                format!("case could not proceed: {description}"),
                "success",
                error.to_string(),
                false,
            );
            Abort
        })
    }

    /// Like [`Checks::setup`] for a call: the status is described as an OMPP error.
    pub fn setup_call<T: Debug>(
        &self,
        description: &str,
        result: Result<tonic::Response<T>, tonic::Status>,
    ) -> Result<T, Abort> {
        self.log(description, &result);
        match result {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => self.setup(description, Err(describe_status(&status))),
        }
    }

    /// Records a failure the case cannot get past, and aborts.
    pub fn fail(&self, description: &str, actual: impl Into<String>) -> Abort {
        self.record(self.primary, description, "success", actual, false);
        Abort
    }
}

/// A proto enum value name without its type prefix (`PAYMENT_STATUS_SETTLED` -> `SETTLED`).
pub fn short_name(name: &str) -> String {
    [
        "PAYMENT_STATUS_",
        "PAYMENT_FLOW_",
        "CHECKOUT_STEP_",
        "ERROR_REASON_",
    ]
    .iter()
    .find_map(|prefix| name.strip_prefix(prefix))
    .unwrap_or(name)
    .to_owned()
}
