//! The reason catalogue (OMPP-ERR-001, OMPP-ERR-002): for each `ErrorReason`, its gRPC code, who
//! may send it, whether a retry can succeed, and its ISO 8583 / ISO 20022 equivalents.
//!
//! The meaning of each reason is its doc comment in `proto/ompp/v1/common.proto`; the spec's
//! catalogue table is generated from this data plus those comments (`cargo xtask spec`).

use serde::Serialize;
use tonic::Code;

use crate::proto::v1::ErrorReason;

/// A party that may send a reason.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The network server (merchant, registration, gateway and link services).
    NetworkServer,
    /// The mobile server (device and link services).
    MobileServer,
    /// A bank processor.
    BankProcessor,
    /// An SMS center.
    SmsCenter,
}

/// All parties that serve RPCs: for reasons any service may send.
const ANY: &[Party] = &[
    Party::NetworkServer,
    Party::MobileServer,
    Party::BankProcessor,
    Party::SmsCenter,
];
const NS: &[Party] = &[Party::NetworkServer];
const NS_MS: &[Party] = &[Party::NetworkServer, Party::MobileServer];
/// Reasons a bank processor or the network server decides and the mobile server forwards to
/// devices (OMPP-ERR-010).
const NS_MS_BP: &[Party] = &[
    Party::NetworkServer,
    Party::MobileServer,
    Party::BankProcessor,
];
const NS_SC: &[Party] = &[Party::NetworkServer, Party::SmsCenter];
const SC: &[Party] = &[Party::SmsCenter];

/// What a caller may do after receiving a reason.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retry {
    /// Retrying the same request cannot succeed.
    Never,
    /// A corrected request (other field values, credentials or key) may succeed.
    AfterCorrection,
    /// The same request may succeed after a delay (with backoff).
    AfterDelay,
    /// The outcome is unknown: query the state (e.g. `GetPayment`, `GetTransfer`) before
    /// retrying, or retry with the same idempotency key.
    QueryFirst,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonInfo {
    /// The reason.
    pub reason: ErrorReason,
    /// The gRPC status code every OMPP system sends with it (OMPP-ERR-002).
    pub code: Code,
    /// Who may send it.
    pub senders: &'static [Party],
    /// What a caller may do after it.
    pub retry: Retry,
    /// Closest ISO 8583 response code, if one exists.
    pub iso8583: Option<&'static str>,
    /// Closest ISO 20022 (ExternalStatusReason1Code) reason code, if one exists.
    pub iso20022: Option<&'static str>,
}

impl ReasonInfo {
    /// The reason's name on the wire (`ErrorInfo.reason`): the enum value name without its
    /// `ERROR_REASON_` prefix, e.g. `INSUFFICIENT_FUNDS`.
    pub fn wire_name(&self) -> &'static str {
        wire_name(self.reason)
    }
}

/// The wire name of a reason: `ERROR_REASON_INSUFFICIENT_FUNDS` -> `INSUFFICIENT_FUNDS`.
pub fn wire_name(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// The reason whose wire name is `name`, if any (never `UNSPECIFIED`).
pub fn from_wire_name(name: &str) -> Option<ErrorReason> {
    let reason = ErrorReason::from_str_name(&format!("ERROR_REASON_{name}"))?;
    (reason != ErrorReason::Unspecified).then_some(reason)
}

const fn entry(
    reason: ErrorReason,
    code: Code,
    senders: &'static [Party],
    retry: Retry,
    iso8583: Option<&'static str>,
    iso20022: Option<&'static str>,
) -> ReasonInfo {
    ReasonInfo {
        reason,
        code,
        senders,
        retry,
        iso8583,
        iso20022,
    }
}

use ErrorReason as R;
use Retry::{AfterCorrection, AfterDelay, Never, QueryFirst};

/// The catalogue, one entry per reason except `UNSPECIFIED`, in enum order.
#[rustfmt::skip]
pub const CATALOGUE: &[ReasonInfo] = &[
    //    reason                          gRPC code                 senders   retry            ISO 8583    ISO 20022
    entry(R::InvalidField,                Code::InvalidArgument,    ANY,      AfterCorrection, Some("30"), Some("CH16")),
    entry(R::MessageTooLarge,             Code::ResourceExhausted,  ANY,      AfterCorrection, Some("30"), None),
    entry(R::UnauthenticatedPeer,         Code::Unauthenticated,    ANY,      AfterCorrection, None,       None),
    entry(R::IdentityMismatch,            Code::PermissionDenied,   NS,       AfterCorrection, Some("58"), None),
    entry(R::PeerNotAllowed,              Code::PermissionDenied,   ANY,      Never,           Some("58"), None),
    entry(R::UnknownMerchant,             Code::PermissionDenied,   NS,       Never,           Some("03"), None),
    entry(R::UnknownCustomer,             Code::NotFound,           NS,       AfterCorrection, Some("14"), Some("AC01")),
    entry(R::CredentialsRejected,         Code::PermissionDenied,   NS_MS,    AfterCorrection, Some("55"), None),
    entry(R::TriesExceeded,               Code::FailedPrecondition, NS_MS,    Never,           Some("75"), None),
    entry(R::InsufficientFunds,           Code::FailedPrecondition, NS_MS_BP, Never,           Some("51"), Some("AM04")),
    entry(R::IdempotencyConflict,         Code::AlreadyExists,      ANY,      AfterCorrection, Some("94"), Some("AM05")),
    entry(R::UpstreamTimeout,             Code::DeadlineExceeded,   NS_MS,    QueryFirst,      Some("68"), Some("AB05")),
    entry(R::Expired,                     Code::FailedPrecondition, NS_MS,    Never,           None,       None),
    entry(R::DeclinedByCustomer,          Code::FailedPrecondition, NS_MS,    Never,           Some("17"), Some("MS02")),
    entry(R::CancelledByMerchant,         Code::FailedPrecondition, NS_MS,    Never,           None,       None),
    entry(R::InvalidState,                Code::FailedPrecondition, NS_MS,    Never,           Some("12"), None),
    entry(R::NotFound,                    Code::NotFound,           ANY,      Never,           Some("25"), None),
    entry(R::AmountMismatch,              Code::InvalidArgument,    NS_MS,    AfterCorrection, Some("13"), Some("AM12")),
    entry(R::CurrencyMismatch,            Code::InvalidArgument,    NS_MS_BP, AfterCorrection, None,       Some("AM11")),
    entry(R::AmountLimitExceeded,         Code::FailedPrecondition, NS_MS_BP, Never,           Some("61"), Some("AM02")),
    entry(R::LinkStaleMessage,            Code::FailedPrecondition, NS_MS,    AfterCorrection, None,       None),
    entry(R::LinkReplay,                  Code::AlreadyExists,      NS_MS,    Never,           Some("94"), None),
    entry(R::LinkRateLimited,             Code::ResourceExhausted,  NS_MS,    AfterDelay,      None,       None),
    entry(R::LinkSenderMismatch,          Code::PermissionDenied,   NS_MS,    Never,           None,       None),
    entry(R::PayeeCodeMalformed,          Code::InvalidArgument,    NS_MS,    Never,           None,       None),
    entry(R::PayeeCodeNotOmpp,            Code::InvalidArgument,    NS_MS,    Never,           None,       None),
    entry(R::PayeeCodeSignatureInvalid,   Code::InvalidArgument,    NS_MS,    Never,           None,       None),
    entry(R::PayeeCodeUsed,               Code::FailedPrecondition, NS_MS,    Never,           None,       None),
    entry(R::AuthorizationCodeIncorrect,  Code::PermissionDenied,   NS,       AfterCorrection, None,       None),
    entry(R::UnknownAccount,              Code::NotFound,           NS_MS_BP, Never,           Some("14"), Some("AC01")),
    entry(R::AccountBlocked,              Code::FailedPrecondition, NS_MS_BP, Never,           Some("62"), Some("AC06")),
    entry(R::DeviceNotPaired,             Code::PermissionDenied,   NS_MS,    Never,           None,       None),
    entry(R::UnknownHandset,              Code::PermissionDenied,   SC,       Never,           None,       None),
    entry(R::SmsUndeliverable,            Code::Unavailable,        NS_SC,    AfterDelay,      None,       None),
    entry(R::RateLimited,                 Code::ResourceExhausted,  ANY,      AfterDelay,      None,       None),
    entry(R::ServiceUnavailable,          Code::Unavailable,        ANY,      AfterDelay,      Some("91"), None),
    entry(R::Unsupported,                 Code::Unimplemented,      ANY,      Never,           Some("12"), None),
    entry(R::Internal,                    Code::Internal,           ANY,      QueryFirst,      Some("96"), None),
    entry(R::EnrollmentRejected,          Code::PermissionDenied,   NS,       Never,           None,       None),
    entry(R::CsrRejected,                 Code::InvalidArgument,    NS,       AfterCorrection, None,       None),
    entry(R::AlreadyRegistered,           Code::AlreadyExists,      NS,       Never,           None,       None),
];

/// The catalogue entry of `reason`; `UNSPECIFIED` (never sent) maps to `INTERNAL`.
pub fn info(reason: ErrorReason) -> &'static ReasonInfo {
    let find = |r: ErrorReason| CATALOGUE.iter().find(|e| e.reason == r);
    // The catalogue test proves every reason but UNSPECIFIED has an entry, INTERNAL included.
    find(reason)
        .or_else(|| find(ErrorReason::Internal))
        .unwrap_or(&CATALOGUE[0])
}
