//! The flow A push payment state machine under an arbitrary sequence of operations and clock
//! steps (monotone, bounded). After every step:
//! - a terminal payment never changes, and every operation on it fails;
//! - attempts left never increase and never exceed the limit the payment was created with;
//! - a payment FAILED by TRIES_EXCEEDED has 0 attempts left;
//! - SETTLED only follows CONFIRMED, CONFIRMED only follows PENDING_CUSTOMER;
//! - a failed operation changes nothing, except the moves its doc names (to EXPIRED, to FAILED
//!   by TRIES_EXCEEDED, one attempt used by CREDENTIALS_REJECTED);
//! - at or after `expires_at` a waiting payment only ever expires;
//! - the failure reason is set exactly on DECLINED, EXPIRED, CANCELLED and FAILED, and the
//!   payment restores from its parts.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ompp::limits::PASSWORD_ATTEMPTS;
use ompp::payment::{PaymentError, PushPayment};
use ompp::proto::v1::{ErrorReason, PaymentStatus};
use ompp::types::UnixMillis;

#[derive(Debug, arbitrary::Arbitrary)]
enum Op {
    MarkPushed,
    Confirm { amount_ok: bool, password_ok: bool },
    Decline,
    Cancel,
    ExpireIfDue,
    MarkSettled,
    MarkFailed(u8),
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Step {
    /// Milliseconds the clock moves forward before the operation.
    advance_ms: u16,
    op: Op,
}

/// The payment's time to answer.
#[derive(Debug, arbitrary::Arbitrary)]
enum ExpiresIn {
    /// Up to 65.5 s, so that a few steps reach the deadline.
    Millis(u16),
    /// Never (the deadline saturates at the end of time).
    Max,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    start: UnixMillis,
    expires_in: ExpiresIn,
    max_attempts: u8,
    steps: Vec<Step>,
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

fn check_invariants(p: &PushPayment, max_attempts: u32) {
    assert!(p.attempts_left() <= max_attempts);
    assert_eq!(p.is_terminal(), is_terminal(p.status()));
    let has_reason = matches!(
        p.status(),
        PaymentStatus::Declined
            | PaymentStatus::Expired
            | PaymentStatus::Cancelled
            | PaymentStatus::Failed
    );
    assert_eq!(p.failure_reason().is_some(), has_reason, "{p:?}");
    if p.status() == PaymentStatus::Failed && p.failure_reason() == Some(ErrorReason::TriesExceeded)
    {
        assert_eq!(p.attempts_left(), 0, "{p:?}");
    }
    assert!(p.expires_at() >= p.created_at());
    let restored = PushPayment::restore(
        p.status(),
        p.created_at(),
        p.expires_at(),
        p.attempts_left(),
        p.failure_reason(),
    );
    assert_eq!(restored.as_ref(), Ok(p), "restore(parts) of {p:?}");
}

fuzz_target!(|input: Input| {
    let max_attempts = u32::from(input.max_attempts) % (PASSWORD_ATTEMPTS + 1);
    let mut now = input.start;
    let expires_in = match input.expires_in {
        ExpiresIn::Millis(ms) => Duration::from_millis(ms.into()),
        ExpiresIn::Max => Duration::MAX,
    };
    let mut p = PushPayment::new(now, expires_in, max_attempts);
    assert_eq!(p.status(), PaymentStatus::Created);
    assert_eq!(p.attempts_left(), max_attempts);
    check_invariants(&p, max_attempts);

    for step in input.steps.iter().take(64) {
        now = UnixMillis(now.0.saturating_add(i64::from(step.advance_ms)));
        let before = p.clone();
        let due = now >= p.expires_at();
        let mut takes_now = true;
        let result: Result<(), PaymentError> = match step.op {
            Op::MarkPushed => p.mark_pushed(now),
            Op::Confirm {
                amount_ok,
                password_ok,
            } => p.confirm(now, amount_ok, password_ok),
            Op::Decline => p.decline(now),
            Op::Cancel => p.cancel(now),
            Op::ExpireIfDue => {
                let expired = p.expire_if_due(now);
                assert_eq!(expired, p.status() != before.status());
                if expired {
                    assert_eq!(p.status(), PaymentStatus::Expired);
                }
                Ok(())
            }
            Op::MarkSettled => {
                takes_now = false;
                p.mark_settled()
            }
            Op::MarkFailed(reason) => {
                takes_now = false;
                let reason = ErrorReason::try_from(i32::from(reason % 48))
                    .unwrap_or(ErrorReason::Unspecified);
                p.mark_failed(reason)
            }
        };

        check_invariants(&p, max_attempts);
        assert!(p.attempts_left() <= before.attempts_left());
        assert_eq!(p.created_at(), before.created_at());
        assert_eq!(p.expires_at(), before.expires_at());

        // Terminal stays terminal, unchanged; every operation on it fails.
        if before.is_terminal() {
            assert_eq!(p, before, "a terminal payment changed on {:?}", step.op);
            if !matches!(step.op, Op::ExpireIfDue) {
                assert!(result.is_err(), "{:?} succeeded on {before:?}", step.op);
            }
            continue;
        }

        // Status moves.
        if p.status() != before.status() {
            let allowed = match p.status() {
                PaymentStatus::PendingCustomer => before.status() == PaymentStatus::Created,
                PaymentStatus::Confirmed => before.status() == PaymentStatus::PendingCustomer,
                PaymentStatus::Settled => before.status() == PaymentStatus::Confirmed,
                PaymentStatus::Declined => before.status() == PaymentStatus::PendingCustomer,
                PaymentStatus::Expired | PaymentStatus::Cancelled => matches!(
                    before.status(),
                    PaymentStatus::Created | PaymentStatus::PendingCustomer
                ),
                PaymentStatus::Failed => matches!(
                    before.status(),
                    PaymentStatus::PendingCustomer | PaymentStatus::Confirmed
                ),
                PaymentStatus::Created | PaymentStatus::Unspecified => false,
            };
            assert!(allowed, "{:?} -> {:?}", before.status(), p.status());
        }

        // At or after the deadline, a waiting payment only expires.
        let waiting = matches!(
            before.status(),
            PaymentStatus::Created | PaymentStatus::PendingCustomer
        );
        if waiting && due && takes_now {
            assert_eq!(
                p.status(),
                PaymentStatus::Expired,
                "{:?} after the deadline",
                step.op
            );
            if !matches!(step.op, Op::ExpireIfDue) {
                assert_eq!(
                    result.as_ref().map_err(|e| e.reason),
                    Err(ErrorReason::Expired)
                );
            }
        }

        // A failed operation changes nothing but the moves its doc names.
        if let Err(error) = &result {
            match error.reason {
                ErrorReason::Expired => assert_eq!(p.status(), PaymentStatus::Expired),
                ErrorReason::TriesExceeded => {
                    assert_eq!(p.status(), PaymentStatus::Failed);
                    assert_eq!(p.failure_reason(), Some(ErrorReason::TriesExceeded));
                    assert_eq!(before.attempts_left().saturating_sub(1), 0);
                }
                ErrorReason::CredentialsRejected => {
                    assert_eq!(p.status(), before.status());
                    assert_eq!(p.attempts_left() + 1, before.attempts_left());
                    assert_eq!(error.attempts_left, Some(p.attempts_left()));
                    assert!(p.attempts_left() > 0);
                }
                _ => assert_eq!(p, before, "{error:?} changed the payment"),
            }
        } else if p == before {
            assert!(
                matches!(step.op, Op::ExpireIfDue),
                "{:?} succeeded doing nothing",
                step.op
            );
        }
    }
});
