//! The flow C checkout (spec chapter 06) as a sans-IO state machine: no storage, no clock, no
//! password hashing, no SMS. The caller verifies the customer's identity and password, sends
//! the SMS, talks to the bank and passes `now`; this module decides the transitions and the
//! errors.
//!
//! Status and step move together (OMPP-FLC-003):
//!
//! ```text
//! PASSWORD ------install_code------> AUTHORIZATION_CODE ---right code---> PROCESSING
//! PENDING_CUSTOMER                   PENDING_CUSTOMER    (submit_code)    CONFIRMED
//!   |                                  |  ^ wrong code, code expired,        |
//!   |                                  |  | install_code again               | mark_settled,
//!   |                                  +--+ (attempts carry over)            | mark_failed
//!   |                                  |                                     v
//!   +--wrong password, expiry, cancel--+--5th wrong code----------------->  DONE (SETTLED,
//!      (FAILED, EXPIRED, CANCELLED)       (FAILED by TRIES_EXCEEDED)        FAILED, EXPIRED,
//!                                                                           CANCELLED)
//! ```
//!
//! Step `DONE` is terminal: once reached, every operation fails and changes nothing. The error
//! is that of the checkout's end where one fits (OMPP-FLC-009): `EXPIRED` on `EXPIRED`,
//! `CANCELLED_BY_MERCHANT` on `CANCELLED`, `TRIES_EXCEEDED` on `FAILED` by `TRIES_EXCEEDED`,
//! `INVALID_STATE` otherwise. [`Checkout::cancel`] follows OMPP-FLA-013 instead. The code and
//! the session token die when the checkout leaves step `AUTHORIZATION_CODE`.

use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::authcode::{self, Binding, StoredCode};
use crate::error::ProtocolError;
use crate::error::catalogue::wire_name;
use crate::limits::AUTH_CODE_ATTEMPTS;
use crate::proto::v1::{CheckoutStep, ErrorReason, PaymentStatus};
use crate::types::{AuthorizationCodeText, SessionToken, UnixMillis};

/// Why an operation on a [`Checkout`] failed. The checkout is as it was before the call, except
/// where the operation's doc says it moved (to `EXPIRED`, or to `FAILED`).
///
/// Its message never contains an authorization code (OMPP-AUTH-012).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", wire_name(*.reason))]
pub struct CheckoutError {
    /// The catalogue reason to answer with.
    pub reason: ErrorReason,
    /// Code entries left, set with `AUTHORIZATION_CODE_INCORRECT` (OMPP-AUTH-013).
    pub attempts_left: Option<u32>,
    /// Text for people.
    message: &'static str,
}

impl CheckoutError {
    fn new(reason: ErrorReason, message: &'static str) -> Self {
        Self {
            reason,
            attempts_left: None,
            message,
        }
    }

    fn invalid_state(message: &'static str) -> Self {
        Self::new(ErrorReason::InvalidState, message)
    }

    fn corrupt(message: &'static str) -> Self {
        Self::new(ErrorReason::Internal, message)
    }

    /// A short human-readable description; never to be parsed (OMPP-ERR-003).
    pub fn message(&self) -> &'static str {
        self.message
    }
}

impl From<CheckoutError> for ProtocolError {
    fn from(e: CheckoutError) -> Self {
        let error = ProtocolError::new(e.reason, e.message);
        // OMPP-AUTH-013: the entries left, as a decimal number. Nothing else: never the code
        // (OMPP-AUTH-012).
        match e.attempts_left {
            Some(n) => error.with_metadata("attempts_left", n),
            None => error,
        }
    }
}

const EXPIRED_MESSAGE: &str = "the checkout has expired";
const TRIES_EXCEEDED_MESSAGE: &str = "too many wrong authorization codes: the checkout has failed";
const CANCELLED_MESSAGE: &str = "the merchant cancelled the checkout";
const CREDENTIALS_REJECTED_MESSAGE: &str = "the credentials were not accepted";

/// Everything a store must keep to restore a checkout with [`Checkout::restore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutParts {
    /// The payment's status.
    pub status: PaymentStatus,
    /// The checkout step.
    pub step: CheckoutStep,
    /// When the checkout was opened.
    pub created_at: UnixMillis,
    /// When the checkout expires (OMPP-FLC-001).
    pub expires_at: UnixMillis,
    /// Why it ended, when `FAILED`, `EXPIRED` or `CANCELLED`.
    pub failure_reason: Option<ErrorReason>,
    /// Wrong code entries left (OMPP-AUTH-004).
    pub code_attempts_left: u32,
    /// The current code, in step `AUTHORIZATION_CODE` only.
    pub code: Option<StoredCode>,
    /// SHA-256 of the current session token, in step `AUTHORIZATION_CODE` only.
    pub token_digest: Option<[u8; 32]>,
}

/// One flow C checkout: status and step (OMPP-FLC-003), deadline, code attempts, the current
/// code and session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    status: PaymentStatus,
    step: CheckoutStep,
    created_at: UnixMillis,
    expires_at: UnixMillis,
    failure_reason: Option<ErrorReason>,
    code_attempts_left: u32,
    code: Option<StoredCode>,
    token_digest: Option<[u8; 32]>,
}

impl Checkout {
    /// A new checkout: `PENDING_CUSTOMER`, step `PASSWORD`, `expires_at` = `now` + `expires_in`
    /// (saturating; OMPP-FLC-001 bounds it), [`AUTH_CODE_ATTEMPTS`] code entries left
    /// (OMPP-FLC-002).
    pub fn new(now: UnixMillis, expires_in: Duration) -> Self {
        Self {
            status: PaymentStatus::PendingCustomer,
            step: CheckoutStep::Password,
            created_at: now,
            expires_at: now.saturating_add(expires_in),
            failure_reason: None,
            code_attempts_left: AUTH_CODE_ATTEMPTS,
            code: None,
            token_digest: None,
        }
    }

    /// Rebuilds a checkout from stored parts (e.g. after a restart). Fails with `INTERNAL` (the
    /// store is corrupt) when the parts are inconsistent: a step and status the table of
    /// OMPP-FLC-003 does not pair, `expires_at` before `created_at`, more code entries left than
    /// [`AUTH_CODE_ATTEMPTS`], fewer than that in step `PASSWORD`, none left other than on
    /// `FAILED` by `TRIES_EXCEEDED` (which must have none), a failure reason on a checkout that
    /// did not fail or none (or one that does not fit) on one that did, a code or token outside
    /// step `AUTHORIZATION_CODE` or none in it, or a code that expires before it was issued.
    pub fn restore(parts: CheckoutParts) -> Result<Self, CheckoutError> {
        use CheckoutStep as Step;
        use PaymentStatus as Status;
        let CheckoutParts {
            status,
            step,
            created_at,
            expires_at,
            failure_reason,
            code_attempts_left,
            code,
            token_digest,
        } = parts;
        // OMPP-FLC-003: the pairs of the table.
        let paired = match step {
            Step::Password | Step::AuthorizationCode => status == Status::PendingCustomer,
            Step::Processing => status == Status::Confirmed,
            Step::Done => matches!(
                status,
                Status::Settled | Status::Failed | Status::Expired | Status::Cancelled
            ),
            Step::Unspecified => false,
        };
        if !paired {
            return Err(CheckoutError::corrupt(
                "the step and the status do not pair",
            ));
        }
        if expires_at < created_at {
            return Err(CheckoutError::corrupt("expires_at is before created_at"));
        }
        if code_attempts_left > AUTH_CODE_ATTEMPTS {
            return Err(CheckoutError::corrupt(
                "code_attempts_left is above the code attempt limit",
            ));
        }
        // Attempts are only used in step AUTHORIZATION_CODE, which never leads back to PASSWORD.
        if step == Step::Password && code_attempts_left != AUTH_CODE_ATTEMPTS {
            return Err(CheckoutError::corrupt(
                "code attempts were used before any code was issued",
            ));
        }
        match (status, failure_reason) {
            (Status::PendingCustomer | Status::Confirmed | Status::Settled, None)
            | (Status::Expired, Some(ErrorReason::Expired))
            | (Status::Cancelled, Some(ErrorReason::CancelledByMerchant)) => {}
            (Status::Failed, Some(reason)) if fits_failed(reason) => {}
            _ => {
                return Err(CheckoutError::corrupt(
                    "the failure reason is missing or does not fit the status",
                ));
            }
        }
        // OMPP-AUTH-004: no entries left exactly when failed by tries exceeded.
        let tries_exceeded =
            status == Status::Failed && failure_reason == Some(ErrorReason::TriesExceeded);
        if tries_exceeded != (code_attempts_left == 0) {
            return Err(CheckoutError::corrupt(
                "no code attempts left does not go with failed by TRIES_EXCEEDED",
            ));
        }
        let in_code_step = step == Step::AuthorizationCode;
        if in_code_step != code.is_some() || in_code_step != token_digest.is_some() {
            return Err(CheckoutError::corrupt(
                "a code and a session token exist exactly in step AUTHORIZATION_CODE",
            ));
        }
        if code
            .as_ref()
            .is_some_and(|c| c.expires_at() < c.issued_at())
        {
            return Err(CheckoutError::corrupt(
                "the code expires before it was issued",
            ));
        }
        Ok(Self {
            status,
            step,
            created_at,
            expires_at,
            failure_reason,
            code_attempts_left,
            code,
            token_digest,
        })
    }

    /// The parts to store; [`Checkout::restore`] rebuilds the same checkout from them.
    pub fn parts(&self) -> CheckoutParts {
        CheckoutParts {
            status: self.status,
            step: self.step,
            created_at: self.created_at,
            expires_at: self.expires_at,
            failure_reason: self.failure_reason,
            code_attempts_left: self.code_attempts_left,
            code: self.code.clone(),
            token_digest: self.token_digest,
        }
    }

    /// The payment's status.
    pub fn status(&self) -> PaymentStatus {
        self.status
    }

    /// The step the payment page shows (OMPP-FLC-003).
    pub fn step(&self) -> CheckoutStep {
        self.step
    }

    /// When the checkout was opened.
    pub fn created_at(&self) -> UnixMillis {
        self.created_at
    }

    /// When the checkout expires unless it reached `PROCESSING` (OMPP-FLC-010).
    pub fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }

    /// Why the checkout ended, set exactly when it is `FAILED`, `EXPIRED` or `CANCELLED`.
    pub fn failure_reason(&self) -> Option<ErrorReason> {
        self.failure_reason
    }

    /// Wrong code entries left, counted over every code issued (OMPP-AUTH-004, OMPP-AUTH-008).
    pub fn code_attempts_left(&self) -> u32 {
        self.code_attempts_left
    }

    /// When the current code stops being accepted (OMPP-AUTH-002): in step
    /// `AUTHORIZATION_CODE` only, never later than the checkout's `expires_at`.
    pub fn code_expires_at(&self) -> Option<UnixMillis> {
        if self.step != CheckoutStep::AuthorizationCode {
            return None;
        }
        self.code
            .as_ref()
            .map(|code| code.expires_at().min(self.expires_at))
    }

    /// Whether the checkout ended (step `DONE`: `SETTLED`, `FAILED`, `EXPIRED`, `CANCELLED`).
    pub fn is_terminal(&self) -> bool {
        self.step == CheckoutStep::Done
    }

    /// Expires the checkout if it is due: in step `PASSWORD` or `AUTHORIZATION_CODE` and
    /// `now >= expires_at`, it becomes `EXPIRED` (step `DONE`, reason `EXPIRED`) and its code
    /// dies (OMPP-FLC-010). A checkout in `PROCESSING` never expires. Returns whether it expired
    /// now.
    pub fn expire_if_due(&mut self, now: UnixMillis) -> bool {
        // OMPP-FLC-010: from `expires_at` on, inclusive; not in PROCESSING.
        if self.awaits_customer() && now >= self.expires_at {
            self.end(PaymentStatus::Expired, ErrorReason::Expired);
            true
        } else {
            false
        }
    }

    /// The password step (`SubmitPassword`), after the caller looked up the identity and
    /// verified the password. Checks in order (OMPP-FLC-009): a terminal checkout (its
    /// terminal error); `now >= expires_at` (the checkout becomes `EXPIRED`, error `EXPIRED`);
    /// step `PROCESSING` (`INVALID_STATE`). Then `credentials_ok == false` ends the checkout:
    /// `FAILED` with `CREDENTIALS_REJECTED`, step `DONE`, error `CREDENTIALS_REJECTED`
    /// (OMPP-FLC-005). `true` changes nothing: the caller then sends the SMS and calls
    /// [`Checkout::install_code`].
    pub fn check_password(
        &mut self,
        now: UnixMillis,
        credentials_ok: bool,
    ) -> Result<(), CheckoutError> {
        self.check_awaiting_customer(now)?;
        if !credentials_ok {
            // OMPP-FLC-005: a wrong password ends the checkout, in either step.
            self.end(PaymentStatus::Failed, ErrorReason::CredentialsRejected);
            return Err(CheckoutError::new(
                ErrorReason::CredentialsRejected,
                CREDENTIALS_REJECTED_MESSAGE,
            ));
        }
        Ok(())
    }

    /// After the SMS with the code was accepted: `code` and `token` replace any previous code
    /// and token, which stop working, while the code entries left carry over (OMPP-AUTH-008);
    /// the step becomes `AUTHORIZATION_CODE` (OMPP-FLC-004). The state checks are those of
    /// [`Checkout::check_password`].
    pub fn install_code(
        &mut self,
        now: UnixMillis,
        code: StoredCode,
        token: &SessionToken,
    ) -> Result<(), CheckoutError> {
        self.check_awaiting_customer(now)?;
        // OMPP-AUTH-008: new code and token; `code_attempts_left` is kept.
        self.code = Some(code);
        self.token_digest = Some(authcode::token_digest(token));
        self.step = CheckoutStep::AuthorizationCode;
        Ok(())
    }

    /// The code step (`SubmitAuthorizationCode`). Checks in order:
    /// - the state (OMPP-FLC-009): a terminal checkout (its terminal error); `now >=
    ///   expires_at` (the checkout becomes `EXPIRED`, error `EXPIRED`); step `PASSWORD` or
    ///   `PROCESSING` (`INVALID_STATE`);
    /// - `token` is not the current session token: `CREDENTIALS_REJECTED`, nothing changes
    ///   (OMPP-GW-003);
    /// - `now >= code_expires_at`: `EXPIRED`, nothing changes, the step stays
    ///   `AUTHORIZATION_CODE` (OMPP-AUTH-009);
    /// - a wrong code uses one entry (OMPP-AUTH-004): at the last, the checkout becomes `FAILED`
    ///   with `TRIES_EXCEEDED` (step `DONE`, the code dead) and so does the error; otherwise
    ///   `AUTHORIZATION_CODE_INCORRECT` with the entries left (OMPP-AUTH-013).
    ///
    /// The right code (for `binding`, the checkout's current values, OMPP-AUTH-007) moves the
    /// checkout to `CONFIRMED`, step `PROCESSING`, and consumes the code and the token
    /// (OMPP-AUTH-003, OMPP-FLC-007): the caller then executes the transfer.
    pub fn submit_code(
        &mut self,
        now: UnixMillis,
        key: &[u8; 32],
        binding: &Binding<'_>,
        token: &SessionToken,
        typed: &AuthorizationCodeText,
    ) -> Result<(), CheckoutError> {
        self.check_live(now)?;
        let (Some(code), Some(digest)) = (&self.code, &self.token_digest) else {
            // OMPP-FLC-009: step PASSWORD or PROCESSING (restore guarantees both exist in step
            // AUTHORIZATION_CODE).
            return Err(CheckoutError::invalid_state(
                "the checkout is not waiting for an authorization code",
            ));
        };
        // OMPP-GW-003: the current token only, compared in constant time; no attempt used.
        let presented = authcode::token_digest(token);
        if !bool::from(presented[..].ct_eq(&digest[..])) {
            return Err(CheckoutError::new(
                ErrorReason::CredentialsRejected,
                "the session token is not the checkout's current one",
            ));
        }
        // OMPP-AUTH-009: an expired code uses no attempt and changes nothing.
        if self.code_expires_at().is_some_and(|at| now >= at) {
            return Err(CheckoutError::new(
                ErrorReason::Expired,
                "the authorization code has expired; pass the password step again for a new one",
            ));
        }
        // OMPP-AUTH-003, OMPP-AUTH-007: bound to checkout, amount and payee; constant time.
        if authcode::matches(code, key, binding, typed) {
            // OMPP-FLC-007: CONFIRMED, step PROCESSING; the code is used up (OMPP-AUTH-003).
            self.status = PaymentStatus::Confirmed;
            self.step = CheckoutStep::Processing;
            self.code = None;
            self.token_digest = None;
            return Ok(());
        }
        // OMPP-AUTH-004: counted over every code issued for the checkout.
        self.code_attempts_left = self.code_attempts_left.saturating_sub(1);
        if self.code_attempts_left == 0 {
            self.end(PaymentStatus::Failed, ErrorReason::TriesExceeded);
            return Err(CheckoutError::new(
                ErrorReason::TriesExceeded,
                TRIES_EXCEEDED_MESSAGE,
            ));
        }
        // OMPP-AUTH-013: the entries left go with the error.
        Err(CheckoutError {
            attempts_left: Some(self.code_attempts_left),
            ..CheckoutError::new(
                ErrorReason::AuthorizationCodeIncorrect,
                "the authorization code is not correct",
            )
        })
    }

    /// The bank completed the transfer: `CONFIRMED` -> `SETTLED`, step `DONE` (OMPP-FLC-007).
    /// Any other state fails (the terminal error, or `INVALID_STATE`) and changes nothing.
    pub fn mark_settled(&mut self) -> Result<(), CheckoutError> {
        self.check_confirmed()?;
        self.status = PaymentStatus::Settled;
        self.step = CheckoutStep::Done;
        Ok(())
    }

    /// The bank rejected the transfer: `CONFIRMED` -> `FAILED` with `reason` (the bank's
    /// `reject_reason`, OMPP-FLC-007), step `DONE`. Any other state fails (the terminal error,
    /// or `INVALID_STATE`); a reason that cannot end a confirmed checkout (`UNSPECIFIED`, or one
    /// reserved for another end: `EXPIRED`, `DECLINED_BY_CUSTOMER`, `CANCELLED_BY_MERCHANT`,
    /// `TRIES_EXCEEDED`) fails with `INTERNAL`. Either way nothing changes.
    pub fn mark_failed(&mut self, reason: ErrorReason) -> Result<(), CheckoutError> {
        self.check_confirmed()?;
        if !fits_failed(reason) || reason == ErrorReason::TriesExceeded {
            return Err(CheckoutError::corrupt(
                "this reason cannot end a confirmed checkout",
            ));
        }
        self.end(PaymentStatus::Failed, reason);
        Ok(())
    }

    /// The merchant's `CancelPayment` (OMPP-FLA-013, which applies to checkouts): in step
    /// `PASSWORD` or `AUTHORIZATION_CODE`, the checkout becomes `CANCELLED` with
    /// `CANCELLED_BY_MERCHANT` (step `DONE`) and its code dies. On a checkout already
    /// `CANCELLED` it succeeds and changes nothing (the handler returns the payment as it is).
    /// Anything else fails with `INVALID_STATE`: `PROCESSING`, another terminal status, or a
    /// checkout due to expire at `now`, which becomes `EXPIRED` first (OMPP-FLC-010).
    pub fn cancel(&mut self, now: UnixMillis) -> Result<(), CheckoutError> {
        if self.status == PaymentStatus::Cancelled {
            return Ok(());
        }
        // OMPP-FLC-010: a checkout is expired from its `expires_at` on, whoever looks.
        self.expire_if_due(now);
        if !self.awaits_customer() {
            // OMPP-FLA-013: CONFIRMED or any other terminal status.
            return Err(CheckoutError::invalid_state(
                "the checkout can no longer be cancelled",
            ));
        }
        self.end(PaymentStatus::Cancelled, ErrorReason::CancelledByMerchant);
        Ok(())
    }

    /// Whether the checkout waits for the customer: step `PASSWORD` or `AUTHORIZATION_CODE`.
    fn awaits_customer(&self) -> bool {
        matches!(
            self.step,
            CheckoutStep::Password | CheckoutStep::AuthorizationCode
        )
    }

    /// Ends the checkout: step `DONE`, `status` with `reason`; the code and token die.
    fn end(&mut self, status: PaymentStatus, reason: ErrorReason) {
        self.status = status;
        self.step = CheckoutStep::Done;
        self.failure_reason = Some(reason);
        self.code = None;
        self.token_digest = None;
    }

    /// The error every customer call on an ended checkout fails with (OMPP-FLC-009), `None`
    /// when it has not ended.
    fn terminal_error(&self) -> Option<CheckoutError> {
        if !self.is_terminal() {
            return None;
        }
        Some(match (self.status, self.failure_reason) {
            (PaymentStatus::Expired, _) => {
                CheckoutError::new(ErrorReason::Expired, EXPIRED_MESSAGE)
            }
            (PaymentStatus::Cancelled, _) => {
                CheckoutError::new(ErrorReason::CancelledByMerchant, CANCELLED_MESSAGE)
            }
            (PaymentStatus::Failed, Some(ErrorReason::TriesExceeded)) => {
                CheckoutError::new(ErrorReason::TriesExceeded, TRIES_EXCEEDED_MESSAGE)
            }
            _ => CheckoutError::invalid_state("the checkout has already ended"),
        })
    }

    /// Fails on an ended checkout, then expires a due one and fails with `EXPIRED`
    /// (OMPP-FLC-009, OMPP-FLC-010).
    fn check_live(&mut self, now: UnixMillis) -> Result<(), CheckoutError> {
        if let Some(error) = self.terminal_error() {
            return Err(error);
        }
        if self.expire_if_due(now) {
            return Err(CheckoutError::new(ErrorReason::Expired, EXPIRED_MESSAGE));
        }
        Ok(())
    }

    /// [`Checkout::check_live`], then fails with `INVALID_STATE` unless in step `PASSWORD` or
    /// `AUTHORIZATION_CODE` (OMPP-FLC-009).
    fn check_awaiting_customer(&mut self, now: UnixMillis) -> Result<(), CheckoutError> {
        self.check_live(now)?;
        if !self.awaits_customer() {
            return Err(CheckoutError::invalid_state(
                "the checkout is no longer waiting for the customer",
            ));
        }
        Ok(())
    }

    /// Fails unless the checkout is `CONFIRMED` (step `PROCESSING`).
    fn check_confirmed(&self) -> Result<(), CheckoutError> {
        if let Some(error) = self.terminal_error() {
            return Err(error);
        }
        if self.status != PaymentStatus::Confirmed {
            return Err(CheckoutError::invalid_state(
                "the checkout is not confirmed",
            ));
        }
        Ok(())
    }
}

/// Whether `reason` may be the failure reason of a `FAILED` checkout: any but `UNSPECIFIED` and
/// the reasons of the other terminal statuses.
fn fits_failed(reason: ErrorReason) -> bool {
    !matches!(
        reason,
        ErrorReason::Unspecified
            | ErrorReason::Expired
            | ErrorReason::DeclinedByCustomer
            | ErrorReason::CancelledByMerchant
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMillis = UnixMillis(1_700_000_000_000);

    #[test]
    fn new_checkout() {
        let c = Checkout::new(T0, Duration::from_secs(900));
        assert_eq!(c.status(), PaymentStatus::PendingCustomer);
        assert_eq!(c.step(), CheckoutStep::Password);
        assert_eq!(c.created_at(), T0);
        assert_eq!(c.expires_at(), UnixMillis(T0.0 + 900_000));
        assert_eq!(c.failure_reason(), None);
        assert_eq!(c.code_attempts_left(), AUTH_CODE_ATTEMPTS);
        assert_eq!(c.code_expires_at(), None);
        assert!(!c.is_terminal());
        assert_eq!(Checkout::restore(c.parts()), Ok(c));
    }

    #[test]
    fn error_converts_to_protocol_error() {
        let err = CheckoutError {
            attempts_left: Some(3),
            ..CheckoutError::new(ErrorReason::AuthorizationCodeIncorrect, "wrong")
        };
        assert_eq!(err.to_string(), "AUTHORIZATION_CODE_INCORRECT: wrong");
        let err: ProtocolError = err.into();
        assert_eq!(err.reason, ErrorReason::AuthorizationCodeIncorrect);
        assert_eq!(
            err.metadata.get("attempts_left").map(String::as_str),
            Some("3")
        );
        let err: ProtocolError = CheckoutError::invalid_state("no").into();
        assert!(err.metadata.is_empty());
        assert_eq!(err.message, "no");
    }

    #[test]
    fn processing_has_no_code_step_state() {
        // Cancel and expiry leave a checkout in PROCESSING alone.
        let mut c = Checkout::restore(CheckoutParts {
            status: PaymentStatus::Confirmed,
            step: CheckoutStep::Processing,
            created_at: T0,
            expires_at: T0,
            failure_reason: None,
            code_attempts_left: 2,
            code: None,
            token_digest: None,
        })
        .unwrap();
        let before = c.clone();
        assert!(!c.expire_if_due(UnixMillis(i64::MAX)));
        assert_eq!(
            c.cancel(UnixMillis(i64::MAX)).unwrap_err().reason,
            ErrorReason::InvalidState
        );
        assert_eq!(c, before);
    }
}
