//! The flow A push payment as a sans-IO state machine: no storage, no clock, no password
//! hashing. The caller verifies the amount and the password and passes `now`; this module
//! decides the transitions and the errors.
//!
//! ```text
//! CREATED --mark_pushed--> PENDING_CUSTOMER --confirm--> CONFIRMED --mark_settled--> SETTLED
//!    |                        |   |   |                      |
//!    |                        |   |   +--decline--> DECLINED +--mark_failed--> FAILED (reason)
//!    |                        |   +--3rd wrong password--> FAILED (TRIES_EXCEEDED)
//!    +--------cancel----------+--cancel--> CANCELLED
//!    +--------expiry----------+--expiry--> EXPIRED
//! ```
//!
//! `SETTLED`, `DECLINED`, `EXPIRED`, `CANCELLED` and `FAILED` are terminal: once reached,
//! every operation fails and changes nothing (OMPP-FLA-020). The error a terminal payment
//! answers with is that of its end where one fits (OMPP-FLA-015): `EXPIRED` on `EXPIRED`,
//! `TRIES_EXCEEDED` on `FAILED` by tries exceeded, `DECLINED_BY_CUSTOMER` on `DECLINED`,
//! `CANCELLED_BY_MERCHANT` on `CANCELLED`, `INVALID_STATE` otherwise. A server answering per
//! OMPP-FLA-013 / OMPP-FLA-015 (e.g. a `CancelPayment` on a cancelled payment returns it
//! unchanged) reads the payment's status after such an error.

use std::time::Duration;

use crate::error::ProtocolError;
use crate::error::catalogue::wire_name;
use crate::limits::PASSWORD_ATTEMPTS;
use crate::proto::v1::{ErrorReason, PaymentStatus};
use crate::types::UnixMillis;

/// Why an operation on a [`PushPayment`] failed. The payment is as it was before the call,
/// except where the operation's doc says it moved (to `EXPIRED`, or to `FAILED` by
/// `TRIES_EXCEEDED`).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", wire_name(*.reason))]
pub struct PaymentError {
    /// The catalogue reason to answer with.
    pub reason: ErrorReason,
    /// Password attempts left, set with `CREDENTIALS_REJECTED` (OMPP-FLA-008).
    pub attempts_left: Option<u32>,
    /// Text for people.
    message: &'static str,
}

impl PaymentError {
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

impl From<PaymentError> for ProtocolError {
    fn from(e: PaymentError) -> Self {
        let error = ProtocolError::new(e.reason, e.message);
        match e.attempts_left {
            Some(n) => error.with_metadata("attempts_left", n),
            None => error,
        }
    }
}

const EXPIRED_MESSAGE: &str = "the payment has expired";
const TRIES_EXCEEDED_MESSAGE: &str = "too many wrong passwords: the payment has failed";

/// One flow A payment's lifecycle: status, deadline, password attempts and failure reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPayment {
    status: PaymentStatus,
    created_at: UnixMillis,
    expires_at: UnixMillis,
    attempts_left: u32,
    failure_reason: Option<ErrorReason>,
}

impl PushPayment {
    /// New payment in `CREATED`. `expires_at` = `now` + `expires_in` (saturating);
    /// `attempts_left` = `max_attempts` (the protocol's is [`PASSWORD_ATTEMPTS`],
    /// OMPP-FLA-002; [`PushPayment::restore`] accepts no more than that).
    pub fn new(now: UnixMillis, expires_in: Duration, max_attempts: u32) -> Self {
        Self {
            status: PaymentStatus::Created,
            created_at: now,
            expires_at: now.saturating_add(expires_in),
            attempts_left: max_attempts,
            failure_reason: None,
        }
    }

    /// Rebuilds a payment from stored fields (e.g. after a server restart). Fails with
    /// `INTERNAL` (the store is corrupt) when the parts are inconsistent: `UNSPECIFIED` status,
    /// `expires_at` before `created_at`, `attempts_left` above [`PASSWORD_ATTEMPTS`], a failure
    /// reason on a non-terminal or `SETTLED` payment, none (or one that does not fit) on a
    /// `DECLINED`, `EXPIRED`, `CANCELLED` or `FAILED` one, or `FAILED` by `TRIES_EXCEEDED` with
    /// attempts left.
    pub fn restore(
        status: PaymentStatus,
        created_at: UnixMillis,
        expires_at: UnixMillis,
        attempts_left: u32,
        failure_reason: Option<ErrorReason>,
    ) -> Result<Self, PaymentError> {
        if expires_at < created_at {
            return Err(PaymentError::corrupt("expires_at is before created_at"));
        }
        if attempts_left > PASSWORD_ATTEMPTS {
            return Err(PaymentError::corrupt(
                "attempts_left is above the password attempt limit",
            ));
        }
        match (status, failure_reason) {
            (PaymentStatus::Unspecified, _) => {
                return Err(PaymentError::corrupt("the status is UNSPECIFIED"));
            }
            (
                PaymentStatus::Created
                | PaymentStatus::PendingCustomer
                | PaymentStatus::Confirmed
                | PaymentStatus::Settled,
                Some(_),
            ) => {
                return Err(PaymentError::corrupt(
                    "a failure reason on a payment that has not failed",
                ));
            }
            (
                PaymentStatus::Created
                | PaymentStatus::PendingCustomer
                | PaymentStatus::Confirmed
                | PaymentStatus::Settled,
                None,
            ) => {}
            (PaymentStatus::Declined, Some(ErrorReason::DeclinedByCustomer))
            | (PaymentStatus::Expired, Some(ErrorReason::Expired))
            | (PaymentStatus::Cancelled, Some(ErrorReason::CancelledByMerchant)) => {}
            (PaymentStatus::Failed, Some(ErrorReason::TriesExceeded)) => {
                if attempts_left != 0 {
                    return Err(PaymentError::corrupt(
                        "failed by TRIES_EXCEEDED with attempts left",
                    ));
                }
            }
            (PaymentStatus::Failed, Some(reason)) if fits_failed(reason) => {}
            (
                PaymentStatus::Declined
                | PaymentStatus::Expired
                | PaymentStatus::Cancelled
                | PaymentStatus::Failed,
                _,
            ) => {
                return Err(PaymentError::corrupt(
                    "the failure reason is missing or does not fit the status",
                ));
            }
        }
        Ok(Self {
            status,
            created_at,
            expires_at,
            attempts_left,
            failure_reason,
        })
    }

    /// The status.
    pub fn status(&self) -> PaymentStatus {
        self.status
    }

    /// When the payment was created.
    pub fn created_at(&self) -> UnixMillis {
        self.created_at
    }

    /// When the customer's time to answer runs out (OMPP-FLA-001).
    pub fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }

    /// Password attempts left (OMPP-FLA-002).
    pub fn attempts_left(&self) -> u32 {
        self.attempts_left
    }

    /// Why the payment ended, set exactly when it is `DECLINED`, `EXPIRED`, `CANCELLED` or
    /// `FAILED` (OMPP-FLA-019).
    pub fn failure_reason(&self) -> Option<ErrorReason> {
        self.failure_reason
    }

    /// Whether the status is terminal: `SETTLED`, `DECLINED`, `EXPIRED`, `CANCELLED`, `FAILED`.
    pub fn is_terminal(&self) -> bool {
        is_terminal(self.status)
    }

    /// `CREATED` -> `PENDING_CUSTOMER`: the request was relayed for pushing. Expiry is checked
    /// first (as in [`PushPayment::confirm`]); any other status fails with `INVALID_STATE`.
    pub fn mark_pushed(&mut self, now: UnixMillis) -> Result<(), PaymentError> {
        self.check_live(now)?;
        if self.status != PaymentStatus::Created {
            return Err(PaymentError::invalid_state(
                "the payment was already pushed",
            ));
        }
        self.status = PaymentStatus::PendingCustomer;
        Ok(())
    }

    /// The customer's confirmation, after the caller compared the amount and verified the
    /// password. Checks in order: terminal (the terminal error); `now >= expires_at` (the
    /// payment becomes `EXPIRED`, error `EXPIRED`); not `PENDING_CUSTOMER` (`INVALID_STATE`);
    /// amount differs (`AMOUNT_MISMATCH`, nothing changes); wrong password (one attempt used:
    /// `CREDENTIALS_REJECTED` with the attempts left, or, at the last, `FAILED` with
    /// `TRIES_EXCEEDED`). Both right: `CONFIRMED`.
    pub fn confirm(
        &mut self,
        now: UnixMillis,
        amount_matches: bool,
        password_ok: bool,
    ) -> Result<(), PaymentError> {
        self.check_live(now)?;
        if self.status != PaymentStatus::PendingCustomer {
            return Err(PaymentError::invalid_state(
                "the payment is not waiting for the customer",
            ));
        }
        // OMPP-FLA-007: checked before the password, consumes no attempt.
        if !amount_matches {
            return Err(PaymentError::new(
                ErrorReason::AmountMismatch,
                "the confirmed amount differs from the payment's amount",
            ));
        }
        if !password_ok {
            // OMPP-FLA-002, OMPP-FLA-008: the attempt limit.
            self.attempts_left = self.attempts_left.saturating_sub(1);
            if self.attempts_left == 0 {
                self.end(PaymentStatus::Failed, ErrorReason::TriesExceeded);
                return Err(PaymentError::new(
                    ErrorReason::TriesExceeded,
                    TRIES_EXCEEDED_MESSAGE,
                ));
            }
            return Err(PaymentError {
                attempts_left: Some(self.attempts_left),
                ..PaymentError::new(
                    ErrorReason::CredentialsRejected,
                    "the credentials were not accepted",
                )
            });
        }
        self.status = PaymentStatus::Confirmed;
        Ok(())
    }

    /// `PENDING_CUSTOMER` -> `DECLINED` (reason `DECLINED_BY_CUSTOMER`, OMPP-FLA-011). Terminal
    /// and expiry are checked first, as in [`PushPayment::confirm`]; any other status fails
    /// with `INVALID_STATE`.
    pub fn decline(&mut self, now: UnixMillis) -> Result<(), PaymentError> {
        self.check_live(now)?;
        if self.status != PaymentStatus::PendingCustomer {
            return Err(PaymentError::invalid_state(
                "the payment is not waiting for the customer",
            ));
        }
        self.end(PaymentStatus::Declined, ErrorReason::DeclinedByCustomer);
        Ok(())
    }

    /// `CREATED` or `PENDING_CUSTOMER` -> `CANCELLED` (reason `CANCELLED_BY_MERCHANT`,
    /// OMPP-FLA-013). Terminal and expiry are checked first; `CONFIRMED` fails with
    /// `INVALID_STATE`. On an already cancelled payment the error is `CANCELLED_BY_MERCHANT`,
    /// which a `CancelPayment` handler answers by returning the payment unchanged.
    pub fn cancel(&mut self, now: UnixMillis) -> Result<(), PaymentError> {
        self.check_live(now)?;
        match self.status {
            PaymentStatus::Created | PaymentStatus::PendingCustomer => {
                self.end(PaymentStatus::Cancelled, ErrorReason::CancelledByMerchant);
                Ok(())
            }
            _ => Err(PaymentError::invalid_state(
                "the payment is settling and can no longer be cancelled",
            )),
        }
    }

    /// Expires the payment if it is due: not terminal, not `CONFIRMED` (a confirmed payment is
    /// settling and never expires) and `now >= expires_at` (OMPP-FLA-012). Returns whether it
    /// expired now.
    pub fn expire_if_due(&mut self, now: UnixMillis) -> bool {
        let waiting = matches!(
            self.status,
            PaymentStatus::Created | PaymentStatus::PendingCustomer
        );
        // OMPP-FLA-001, OMPP-FLA-012: expired from `expires_at` on, inclusive.
        if waiting && now >= self.expires_at {
            self.end(PaymentStatus::Expired, ErrorReason::Expired);
            true
        } else {
            false
        }
    }

    /// `CONFIRMED` -> `SETTLED`: the transfer was booked. Any other status fails (the terminal
    /// error, or `INVALID_STATE`).
    pub fn mark_settled(&mut self) -> Result<(), PaymentError> {
        self.check_confirmed()?;
        self.status = PaymentStatus::Settled;
        Ok(())
    }

    /// `CONFIRMED` -> `FAILED` with `reason`, e.g. `INSUFFICIENT_FUNDS` or `ACCOUNT_BLOCKED`
    /// (OMPP-FLA-010). Any other status fails (the terminal error, or `INVALID_STATE`); a reason
    /// that cannot end a confirmed payment (`UNSPECIFIED`, or one reserved for another end:
    /// `EXPIRED`, `DECLINED_BY_CUSTOMER`, `CANCELLED_BY_MERCHANT`, `TRIES_EXCEEDED`) fails with
    /// `INTERNAL`. Either way nothing changes.
    pub fn mark_failed(&mut self, reason: ErrorReason) -> Result<(), PaymentError> {
        self.check_confirmed()?;
        if !fits_failed(reason) || reason == ErrorReason::TriesExceeded {
            return Err(PaymentError::corrupt(
                "this reason cannot end a confirmed payment",
            ));
        }
        self.end(PaymentStatus::Failed, reason);
        Ok(())
    }

    /// Moves to a terminal `status` with `reason`.
    fn end(&mut self, status: PaymentStatus, reason: ErrorReason) {
        self.status = status;
        self.failure_reason = Some(reason);
    }

    /// The error every operation on a terminal payment fails with (OMPP-FLA-015), `None` when
    /// the payment is not terminal.
    fn terminal_error(&self) -> Option<PaymentError> {
        if !self.is_terminal() {
            return None;
        }
        Some(match (self.status, self.failure_reason) {
            (PaymentStatus::Expired, _) => PaymentError::new(ErrorReason::Expired, EXPIRED_MESSAGE),
            (PaymentStatus::Failed, Some(ErrorReason::TriesExceeded)) => {
                PaymentError::new(ErrorReason::TriesExceeded, TRIES_EXCEEDED_MESSAGE)
            }
            (PaymentStatus::Declined, _) => PaymentError::new(
                ErrorReason::DeclinedByCustomer,
                "the customer declined the payment",
            ),
            (PaymentStatus::Cancelled, _) => PaymentError::new(
                ErrorReason::CancelledByMerchant,
                "the merchant cancelled the payment",
            ),
            _ => PaymentError::invalid_state("the payment is already final"),
        })
    }

    /// Fails on a terminal payment, then expires a due one and fails with `EXPIRED`.
    fn check_live(&mut self, now: UnixMillis) -> Result<(), PaymentError> {
        if let Some(error) = self.terminal_error() {
            return Err(error);
        }
        // OMPP-FLA-001, OMPP-FLA-012: nothing but expiry happens at or after `expires_at`.
        if self.expire_if_due(now) {
            return Err(PaymentError::new(ErrorReason::Expired, EXPIRED_MESSAGE));
        }
        Ok(())
    }

    /// Fails unless the payment is `CONFIRMED`.
    fn check_confirmed(&self) -> Result<(), PaymentError> {
        if let Some(error) = self.terminal_error() {
            return Err(error);
        }
        if self.status != PaymentStatus::Confirmed {
            return Err(PaymentError::invalid_state("the payment is not confirmed"));
        }
        Ok(())
    }
}

fn is_terminal(status: PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Settled
            | PaymentStatus::Declined
            | PaymentStatus::Expired
            | PaymentStatus::Cancelled
            | PaymentStatus::Failed
    )
}

/// Whether `reason` may be the failure reason of a `FAILED` payment: any but `UNSPECIFIED` and
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
    const EXPIRY: Duration = Duration::from_secs(120);
    const DEADLINE: UnixMillis = UnixMillis(T0.0 + 120_000);

    fn at(offset_ms: i64) -> UnixMillis {
        UnixMillis(T0.0 + offset_ms)
    }

    fn pending() -> PushPayment {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        p.mark_pushed(at(10)).unwrap();
        p
    }

    fn confirmed() -> PushPayment {
        let mut p = pending();
        p.confirm(at(1_000), true, true).unwrap();
        p
    }

    fn reason_of(result: Result<(), PaymentError>) -> ErrorReason {
        result.unwrap_err().reason
    }

    #[test]
    fn new_payment() {
        let p = PushPayment::new(T0, EXPIRY, 3);
        assert_eq!(p.status(), PaymentStatus::Created);
        assert_eq!(p.created_at(), T0);
        assert_eq!(p.expires_at(), DEADLINE);
        assert_eq!(p.attempts_left(), 3);
        assert_eq!(p.failure_reason(), None);
        assert!(!p.is_terminal());
    }

    #[test]
    fn happy_path() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        p.mark_pushed(at(5)).unwrap();
        assert_eq!(p.status(), PaymentStatus::PendingCustomer);
        p.confirm(at(30_000), true, true).unwrap();
        assert_eq!(p.status(), PaymentStatus::Confirmed);
        assert_eq!(p.attempts_left(), 3);
        p.mark_settled().unwrap();
        assert_eq!(p.status(), PaymentStatus::Settled);
        assert_eq!(p.failure_reason(), None);
        assert!(p.is_terminal());
    }

    #[test]
    fn settlement_failure() {
        let mut p = confirmed();
        p.mark_failed(ErrorReason::InsufficientFunds).unwrap();
        assert_eq!(p.status(), PaymentStatus::Failed);
        assert_eq!(p.failure_reason(), Some(ErrorReason::InsufficientFunds));
        // A confirmation retried after a settlement failure: INVALID_STATE (not TRIES_EXCEEDED).
        assert_eq!(
            reason_of(p.confirm(at(2_000), true, true)),
            ErrorReason::InvalidState
        );
    }

    #[test]
    fn mark_failed_rejects_reasons_of_other_ends() {
        for reason in [
            ErrorReason::Unspecified,
            ErrorReason::Expired,
            ErrorReason::DeclinedByCustomer,
            ErrorReason::CancelledByMerchant,
            ErrorReason::TriesExceeded,
        ] {
            let mut p = confirmed();
            assert_eq!(reason_of(p.mark_failed(reason)), ErrorReason::Internal);
            assert_eq!(p, confirmed());
        }
    }

    #[test]
    fn settle_and_fail_need_confirmed() {
        let mut p = pending();
        assert_eq!(reason_of(p.mark_settled()), ErrorReason::InvalidState);
        assert_eq!(
            reason_of(p.mark_failed(ErrorReason::InsufficientFunds)),
            ErrorReason::InvalidState
        );
        assert_eq!(p, pending());
    }

    #[test]
    fn decline() {
        let mut p = pending();
        p.decline(at(1_000)).unwrap();
        assert_eq!(p.status(), PaymentStatus::Declined);
        assert_eq!(p.failure_reason(), Some(ErrorReason::DeclinedByCustomer));
        // A retried decline keeps getting the same answer.
        assert_eq!(
            reason_of(p.decline(at(2_000))),
            ErrorReason::DeclinedByCustomer
        );
    }

    #[test]
    fn decline_needs_pending() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        assert_eq!(reason_of(p.decline(at(1))), ErrorReason::InvalidState);
        assert_eq!(p.status(), PaymentStatus::Created);
        let mut p = confirmed();
        assert_eq!(reason_of(p.decline(at(2_000))), ErrorReason::InvalidState);
        assert_eq!(p.status(), PaymentStatus::Confirmed);
    }

    #[test]
    fn confirm_and_push_need_the_right_status() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        assert_eq!(
            reason_of(p.confirm(at(1), true, true)),
            ErrorReason::InvalidState
        );
        assert_eq!(p.attempts_left(), 3);
        let mut p = pending();
        assert_eq!(reason_of(p.mark_pushed(at(20))), ErrorReason::InvalidState);
        let mut p = confirmed();
        assert_eq!(
            reason_of(p.confirm(at(2_000), true, false)),
            ErrorReason::InvalidState
        );
        assert_eq!(p, confirmed());
    }

    #[test]
    fn expires_at_exactly_expires_at() {
        let mut p = pending();
        assert!(!p.expire_if_due(at(119_999)));
        assert_eq!(p.status(), PaymentStatus::PendingCustomer);
        assert!(p.expire_if_due(DEADLINE));
        assert_eq!(p.status(), PaymentStatus::Expired);
        assert_eq!(p.failure_reason(), Some(ErrorReason::Expired));
        assert!(!p.expire_if_due(at(500_000)));
    }

    #[test]
    fn confirm_one_millisecond_before_expiry_succeeds() {
        let mut p = pending();
        p.confirm(at(119_999), true, true).unwrap();
        assert_eq!(p.status(), PaymentStatus::Confirmed);
    }

    #[test]
    fn confirm_at_expiry_expires_the_payment() {
        let mut p = pending();
        assert_eq!(
            reason_of(p.confirm(DEADLINE, true, true)),
            ErrorReason::Expired
        );
        assert_eq!(p.status(), PaymentStatus::Expired);
        assert_eq!(p.failure_reason(), Some(ErrorReason::Expired));
        assert_eq!(p.attempts_left(), 3);
        // Later attempts keep getting EXPIRED.
        assert_eq!(
            reason_of(p.confirm(at(200_000), true, true)),
            ErrorReason::Expired
        );
    }

    #[test]
    fn decline_cancel_and_push_check_expiry_first() {
        let mut p = pending();
        assert_eq!(reason_of(p.decline(DEADLINE)), ErrorReason::Expired);
        assert_eq!(p.status(), PaymentStatus::Expired);

        let mut p = pending();
        assert_eq!(reason_of(p.cancel(DEADLINE)), ErrorReason::Expired);
        assert_eq!(p.status(), PaymentStatus::Expired);

        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        assert_eq!(reason_of(p.mark_pushed(DEADLINE)), ErrorReason::Expired);
        assert_eq!(p.status(), PaymentStatus::Expired);
    }

    #[test]
    fn expiry_is_checked_before_amount_and_password() {
        let mut p = pending();
        assert_eq!(
            reason_of(p.confirm(DEADLINE, false, false)),
            ErrorReason::Expired
        );
        assert_eq!(p.attempts_left(), 3);
    }

    #[test]
    fn created_payment_expires_too() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        assert!(p.expire_if_due(DEADLINE));
        assert_eq!(p.status(), PaymentStatus::Expired);
    }

    #[test]
    fn confirmed_payment_never_expires() {
        let mut p = confirmed();
        assert!(!p.expire_if_due(DEADLINE));
        assert!(!p.expire_if_due(UnixMillis(i64::MAX)));
        assert_eq!(p.status(), PaymentStatus::Confirmed);
        // Settling after the deadline still works.
        p.mark_settled().unwrap();
        assert_eq!(p.status(), PaymentStatus::Settled);
    }

    #[test]
    fn cancel_before_push() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        p.cancel(at(1)).unwrap();
        assert_eq!(p.status(), PaymentStatus::Cancelled);
        assert_eq!(p.failure_reason(), Some(ErrorReason::CancelledByMerchant));
    }

    #[test]
    fn cancel_after_push() {
        let mut p = pending();
        p.cancel(at(1_000)).unwrap();
        assert_eq!(p.status(), PaymentStatus::Cancelled);
        assert_eq!(p.failure_reason(), Some(ErrorReason::CancelledByMerchant));
        // The device's late confirmation.
        assert_eq!(
            reason_of(p.confirm(at(2_000), true, true)),
            ErrorReason::CancelledByMerchant
        );
        // A repeated cancel.
        assert_eq!(
            reason_of(p.cancel(at(3_000))),
            ErrorReason::CancelledByMerchant
        );
        assert_eq!(p.status(), PaymentStatus::Cancelled);
    }

    #[test]
    fn cancel_after_confirm_is_rejected() {
        let mut p = confirmed();
        assert_eq!(reason_of(p.cancel(at(2_000))), ErrorReason::InvalidState);
        assert_eq!(p, confirmed());
    }

    #[test]
    fn wrong_password_once_then_right() {
        let mut p = pending();
        let err = p.confirm(at(1_000), true, false).unwrap_err();
        assert_eq!(err.reason, ErrorReason::CredentialsRejected);
        assert_eq!(err.attempts_left, Some(2));
        assert_eq!(p.attempts_left(), 2);
        assert_eq!(p.status(), PaymentStatus::PendingCustomer);
        p.confirm(at(2_000), true, true).unwrap();
        assert_eq!(p.status(), PaymentStatus::Confirmed);
        assert_eq!(p.attempts_left(), 2);
    }

    #[test]
    fn three_wrong_passwords_fail_the_payment() {
        let mut p = pending();
        let first = p.confirm(at(1_000), true, false).unwrap_err();
        assert_eq!(first.attempts_left, Some(2));
        let second = p.confirm(at(2_000), true, false).unwrap_err();
        assert_eq!(second.reason, ErrorReason::CredentialsRejected);
        assert_eq!(second.attempts_left, Some(1));
        let third = p.confirm(at(3_000), true, false).unwrap_err();
        assert_eq!(third.reason, ErrorReason::TriesExceeded);
        assert_eq!(third.attempts_left, None);
        assert_eq!(p.status(), PaymentStatus::Failed);
        assert_eq!(p.failure_reason(), Some(ErrorReason::TriesExceeded));
        assert_eq!(p.attempts_left(), 0);

        // A fourth attempt, even with the right password, gets the same answer.
        let before = p.clone();
        assert_eq!(
            reason_of(p.confirm(at(4_000), true, true)),
            ErrorReason::TriesExceeded
        );
        assert_eq!(p, before);
        assert_eq!(reason_of(p.decline(at(5_000))), ErrorReason::TriesExceeded);
    }

    #[test]
    fn amount_mismatch_consumes_no_attempt() {
        let mut p = pending();
        for i in 0..5 {
            let err = p.confirm(at(1_000 + i), false, false).unwrap_err();
            assert_eq!(err.reason, ErrorReason::AmountMismatch);
            assert_eq!(err.attempts_left, None);
        }
        assert_eq!(p, pending());
        p.confirm(at(9_000), true, true).unwrap();
        assert_eq!(p.attempts_left(), 3);
    }

    #[test]
    fn error_converts_to_protocol_error() {
        let mut p = pending();
        let err: ProtocolError = p.confirm(at(1), true, false).unwrap_err().into();
        assert_eq!(err.reason, ErrorReason::CredentialsRejected);
        assert_eq!(
            err.metadata.get("attempts_left").map(String::as_str),
            Some("2")
        );
        assert!(!err.message.is_empty());

        p.cancel(at(2)).unwrap();
        let err: ProtocolError = p.confirm(at(3), true, true).unwrap_err().into();
        assert_eq!(err.reason, ErrorReason::CancelledByMerchant);
        assert!(err.metadata.is_empty());
    }

    #[test]
    fn error_display_names_the_reason() {
        let mut p = PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS);
        let err = p.confirm(DEADLINE, true, true).unwrap_err();
        assert_eq!(err.to_string(), "EXPIRED: the payment has expired");
        assert_eq!(err.message(), EXPIRED_MESSAGE);
    }

    /// One payment in each terminal status, reached through the API.
    fn terminal_payments() -> Vec<PushPayment> {
        let mut settled = confirmed();
        settled.mark_settled().unwrap();
        let mut declined = pending();
        declined.decline(at(1_000)).unwrap();
        let mut expired = pending();
        assert!(expired.expire_if_due(DEADLINE));
        let mut cancelled = pending();
        cancelled.cancel(at(1_000)).unwrap();
        let mut tries_exceeded = pending();
        for i in 0..3 {
            let _ = tries_exceeded.confirm(at(1_000 + i), true, false);
        }
        let mut insufficient = confirmed();
        insufficient
            .mark_failed(ErrorReason::InsufficientFunds)
            .unwrap();
        vec![
            settled,
            declined,
            expired,
            cancelled,
            tries_exceeded,
            insufficient,
        ]
    }

    type Operation = (
        &'static str,
        fn(&mut PushPayment, UnixMillis) -> Option<ErrorReason>,
    );

    fn operations() -> Vec<Operation> {
        vec![
            ("mark_pushed", |p, now| {
                p.mark_pushed(now).err().map(|e| e.reason)
            }),
            ("confirm", |p, now| {
                p.confirm(now, true, true).err().map(|e| e.reason)
            }),
            ("confirm wrong amount", |p, now| {
                p.confirm(now, false, true).err().map(|e| e.reason)
            }),
            ("confirm wrong password", |p, now| {
                p.confirm(now, true, false).err().map(|e| e.reason)
            }),
            ("decline", |p, now| p.decline(now).err().map(|e| e.reason)),
            ("cancel", |p, now| p.cancel(now).err().map(|e| e.reason)),
            ("mark_settled", |p, _| {
                p.mark_settled().err().map(|e| e.reason)
            }),
            ("mark_failed", |p, _| {
                p.mark_failed(ErrorReason::InsufficientFunds)
                    .err()
                    .map(|e| e.reason)
            }),
            ("expire_if_due", |p, now| {
                // Reports no error; must not change anything either.
                (!p.expire_if_due(now)).then_some(ErrorReason::Unspecified)
            }),
        ]
    }

    #[test]
    fn terminal_payments_never_change() {
        let terminal = terminal_payments();
        let statuses: Vec<_> = terminal.iter().map(PushPayment::status).collect();
        assert_eq!(
            statuses,
            [
                PaymentStatus::Settled,
                PaymentStatus::Declined,
                PaymentStatus::Expired,
                PaymentStatus::Cancelled,
                PaymentStatus::Failed,
                PaymentStatus::Failed,
            ]
        );
        for payment in terminal {
            assert!(payment.is_terminal());
            let expected = match (payment.status(), payment.failure_reason()) {
                (PaymentStatus::Expired, _) => ErrorReason::Expired,
                (PaymentStatus::Failed, Some(ErrorReason::TriesExceeded)) => {
                    ErrorReason::TriesExceeded
                }
                (PaymentStatus::Declined, _) => ErrorReason::DeclinedByCustomer,
                (PaymentStatus::Cancelled, _) => ErrorReason::CancelledByMerchant,
                _ => ErrorReason::InvalidState,
            };
            for (name, operation) in operations() {
                // Before the deadline, at it, and long after.
                for now in [at(1_500), DEADLINE, at(10_000_000)] {
                    let mut p = payment.clone();
                    let got = operation(&mut p, now);
                    assert_eq!(
                        p,
                        payment,
                        "{name} changed a {:?} payment",
                        payment.status()
                    );
                    let want = if name == "expire_if_due" {
                        ErrorReason::Unspecified
                    } else {
                        expected
                    };
                    assert_eq!(got, Some(want), "{name} on {:?}", payment.status());
                }
            }
        }
    }

    #[test]
    fn restore_round_trip() {
        let mut all = terminal_payments();
        all.extend([
            PushPayment::new(T0, EXPIRY, PASSWORD_ATTEMPTS),
            pending(),
            confirmed(),
        ]);
        let mut once_wrong = pending();
        let _ = once_wrong.confirm(at(1), true, false);
        all.push(once_wrong);
        for p in all {
            let restored = PushPayment::restore(
                p.status(),
                p.created_at(),
                p.expires_at(),
                p.attempts_left(),
                p.failure_reason(),
            )
            .unwrap();
            assert_eq!(restored, p);
        }
    }

    #[test]
    fn restore_rejects_inconsistent_parts() {
        use ErrorReason as R;
        use PaymentStatus as S;
        let bad: [(S, UnixMillis, u32, Option<R>); 14] = [
            (S::Unspecified, DEADLINE, 3, None),
            (
                S::PendingCustomer,
                at(-1), /* before created_at */
                3,
                None,
            ),
            (S::PendingCustomer, DEADLINE, PASSWORD_ATTEMPTS + 1, None),
            (S::Created, DEADLINE, 3, Some(R::Expired)),
            (S::PendingCustomer, DEADLINE, 3, Some(R::TriesExceeded)),
            (S::Confirmed, DEADLINE, 3, Some(R::InsufficientFunds)),
            (S::Settled, DEADLINE, 3, Some(R::Unspecified)),
            (S::Declined, DEADLINE, 3, None),
            (S::Declined, DEADLINE, 3, Some(R::Expired)),
            (S::Expired, DEADLINE, 3, Some(R::DeclinedByCustomer)),
            (S::Cancelled, DEADLINE, 3, None),
            (S::Failed, DEADLINE, 3, None),
            (S::Failed, DEADLINE, 1, Some(R::TriesExceeded)),
            (S::Failed, DEADLINE, 3, Some(R::CancelledByMerchant)),
        ];
        for (status, expires_at, attempts_left, reason) in bad {
            let err = PushPayment::restore(status, T0, expires_at, attempts_left, reason)
                .expect_err("inconsistent parts must be rejected");
            assert_eq!(err.reason, ErrorReason::Internal, "{status:?} {reason:?}");
        }
        // The boundaries that are fine.
        PushPayment::restore(S::Created, T0, T0, 0, None).unwrap();
        PushPayment::restore(S::Failed, T0, DEADLINE, 0, Some(R::TriesExceeded)).unwrap();
        PushPayment::restore(S::Failed, T0, DEADLINE, 2, Some(R::AccountBlocked)).unwrap();
    }

    #[test]
    fn restored_payment_keeps_working() {
        let mut p =
            PushPayment::restore(PaymentStatus::PendingCustomer, T0, DEADLINE, 1, None).unwrap();
        assert_eq!(
            reason_of(p.confirm(at(5), true, false)),
            ErrorReason::TriesExceeded
        );
        assert_eq!(p.status(), PaymentStatus::Failed);
    }
}
