//! The oracle: which answers pass, and how failures are classed.

use super::*;

/// The oracle's judgement of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An OK answer.
    Ok,
    /// A well-formed OMPP error: the gRPC code and the reason's wire name.
    Rejected {
        /// The gRPC code.
        code: tonic::Code,
        /// The OMPP reason.
        reason: &'static str,
    },
    /// Not acceptable.
    Failure {
        /// What kind of failure, for counting (no ids or messages in it).
        class: String,
        /// Why, in full.
        why: String,
    },
}

impl Verdict {
    /// Whether this is a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failure { .. })
    }

    /// The key under which the summary counts it.
    pub fn key(&self) -> String {
        match self {
            Self::Ok => "OK".into(),
            Self::Rejected { code, reason } => format!("{code:?} {reason}"),
            Self::Failure { class, .. } => format!("FAILURE {class}"),
        }
    }
}

/// Judges a status: a failure unless it is a well-formed OMPP error.
pub fn judge_status(status: &tonic::Status) -> Verdict {
    match ProtocolError::from_status(status) {
        Ok(error) => Verdict::Rejected {
            code: status.code(),
            reason: wire_name(error.reason),
        },
        Err(why) => {
            let class = match &why {
                NotAnOmppStatus::NoErrorInfo => format!("{:?} without ErrorInfo", status.code()),
                NotAnOmppStatus::WrongDomain(_) => {
                    format!("{:?} with a foreign ErrorInfo domain", status.code())
                }
                NotAnOmppStatus::UnknownReason(_) => {
                    format!("{:?} with an unknown reason", status.code())
                }
                NotAnOmppStatus::WrongCode { expected, actual } => {
                    format!("{actual:?} where the catalogue says {expected:?}")
                }
                _ => format!("{:?} not an OMPP error", status.code()),
            };
            Verdict::Failure {
                class,
                why: format!(
                    "{:?} is not a well-formed OMPP error ({why}); message: {:?}",
                    status.code(),
                    status.message()
                ),
            }
        }
    }
}

/// Judges an outcome.
pub fn judge(outcome: &Outcome) -> Verdict {
    match outcome {
        Outcome::Ok(_) => Verdict::Ok,
        Outcome::Status(status) => judge_status(status),
        Outcome::Transport(error) => Verdict::Failure {
            class: "transport error".into(),
            why: format!("transport error: {error}"),
        },
        Outcome::Timeout => Verdict::Failure {
            class: "timeout".into(),
            why: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
        },
    }
}

/// Judges the answer to `input`: [`judge`], and an input larger than `MAX_REQUEST_BYTES` must
/// be rejected with `MESSAGE_TOO_LARGE` (OMPP-MSG-010), whatever else is wrong with it.
pub fn judge_input(input: &[u8], outcome: &Outcome) -> Verdict {
    let verdict = judge(outcome);
    if input.len() <= ompp::limits::MAX_REQUEST_BYTES {
        return verdict;
    }
    let too_large = wire_name(ompp::proto::v1::ErrorReason::MessageTooLarge);
    match &verdict {
        Verdict::Rejected { reason, .. } if *reason == too_large => verdict,
        other => Verdict::Failure {
            class: format!(
                "oversized request not rejected with MESSAGE_TOO_LARGE (OMPP-MSG-010), {}",
                if matches!(other, Verdict::Failure { .. }) {
                    "answered without a valid OMPP error"
                } else {
                    "answered OK or with another OMPP error"
                }
            ),
            why: format!(
                "a {} byte request (limit {}) was answered {}",
                input.len(),
                ompp::limits::MAX_REQUEST_BYTES,
                match &verdict {
                    Verdict::Failure { why, .. } => why.clone(),
                    other => other.key(),
                }
            ),
        },
    }
}

/// Whether the channel should be rebuilt after this outcome.
pub(super) fn broken(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok(_) => false,
        Outcome::Transport(_) | Outcome::Timeout => true,
        Outcome::Status(status) => {
            ProtocolError::from_status(status).is_err()
                && matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                )
        }
    }
}
