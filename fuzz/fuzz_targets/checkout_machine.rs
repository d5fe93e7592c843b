//! The flow C checkout state machine with real authorization codes (`authcode::issue`, from a
//! deterministic RNG seeded by the input) under an arbitrary sequence of operations and clock
//! steps (monotone, bounded): password checks, code installs, code submissions with the right
//! code, a wrong code, an earlier code, a wrong binding or a wrong session token, settlement,
//! cancellation and expiry. After every step:
//! - an ended checkout never changes, and every operation on it fails (but `cancel` on a
//!   cancelled one, which succeeds per OMPP-FLA-013);
//! - a code is accepted at most once, only when it is the current code for the checkout's own
//!   binding with the current token, and always when it is that and still valid;
//! - wrong entries never exceed AUTH_CODE_ATTEMPTS and are exactly what the checkout counted;
//! - a failed operation changes nothing but the moves its doc names;
//! - status and step pair up: `restore(parts())` gives the same checkout back.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ompp::authcode::{self, Binding, StoredCode};
use ompp::checkout::{Checkout, CheckoutError};
use ompp::limits::AUTH_CODE_ATTEMPTS;
use ompp::money::Amount;
use ompp::proto::v1::{CheckoutStep, ErrorReason, PaymentStatus};
use ompp::types::{AuthorizationCodeText, MerchantId, PaymentId, SessionToken, UnixMillis};
use rand_core::{CryptoRng, RngCore};

/// SplitMix64: deterministic, seeded from the input. Marked `CryptoRng` only so that the API
/// accepts it.
struct SplitMix(u64);

impl RngCore for SplitMix {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

impl CryptoRng for SplitMix {}

#[derive(Debug, arbitrary::Arbitrary)]
enum Op {
    CheckPassword(bool),
    /// Issue a code (digits clamped by `issue`; validity up to 524 s, or `Duration::MAX` when
    /// `None`) and install it.
    IssueAndInstall {
        digits: u8,
        validity_ms: Option<u16>,
    },
    SubmitRight,
    SubmitTyped {
        len: u8,
        digits: [u8; 8],
    },
    SubmitEarlierCode(u8),
    SubmitWrongBinding(u8),
    SubmitWrongToken,
    MarkSettled,
    MarkFailed(u8),
    Cancel,
    ExpireIfDue,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Step {
    advance_ms: u16,
    op: Op,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    start: UnixMillis,
    /// Milliseconds (reduced to at most an hour), or `Duration::MAX` when `None`.
    expires_in_ms: Option<u32>,
    key: [u8; 32],
    seed: u64,
    payment_id: PaymentId,
    merchant_id: MerchantId,
    amount: Amount,
    steps: Vec<Step>,
}

/// The code and token the checkout holds, as the customer's SMS and page have them.
struct Current {
    code: AuthorizationCodeText,
    token: SessionToken,
    stored: StoredCode,
}

/// Another valid id: one more character, or (at the maximum length) a different last one.
fn other_id(id: &str) -> String {
    if id.len() < 64 {
        format!("{id}x")
    } else {
        let last = if id.ends_with('x') { "y" } else { "x" };
        format!("{}{last}", &id[..id.len() - 1])
    }
}

fn check_invariants(c: &Checkout, wrong_entries: u32) {
    assert_eq!(
        Checkout::restore(c.parts()).as_ref(),
        Ok(c),
        "restore(parts) of {c:?}"
    );
    assert!(wrong_entries <= AUTH_CODE_ATTEMPTS);
    assert_eq!(c.code_attempts_left(), AUTH_CODE_ATTEMPTS - wrong_entries);
    assert_eq!(c.is_terminal(), c.step() == CheckoutStep::Done);
    if let Some(at) = c.code_expires_at() {
        assert!(at <= c.expires_at());
    }
    assert_eq!(
        c.code_expires_at().is_some(),
        c.step() == CheckoutStep::AuthorizationCode
    );
}

fuzz_target!(|input: Input| {
    let Input {
        start,
        expires_in_ms,
        key,
        seed,
        payment_id,
        merchant_id,
        amount,
        steps,
    } = input;
    let mut rng = SplitMix(seed);
    let binding = Binding {
        payment_id: &payment_id,
        amount,
        merchant_id: &merchant_id,
    };
    let other_amount = Amount::from_minor_units(
        amount.currency(),
        amount.minor_units().checked_add(1).unwrap_or(1),
    )
    .expect("positive");
    let other_payment = PaymentId::parse(&other_id(payment_id.as_str())).expect("an id");
    let other_merchant = MerchantId::parse(&other_id(merchant_id.as_str())).expect("an id");

    let mut now = start;
    let expires_in = match expires_in_ms {
        Some(ms) => Duration::from_millis((ms % 3_600_000).into()),
        None => Duration::MAX,
    };
    let mut c = Checkout::new(now, expires_in);
    let mut current: Option<Current> = None;
    let mut earlier: Vec<AuthorizationCodeText> = Vec::new();
    let mut wrong_entries = 0;
    let mut accepted = 0;
    check_invariants(&c, wrong_entries);

    for step in steps.iter().take(64) {
        now = UnixMillis(now.0.saturating_add(i64::from(step.advance_ms)));
        let before = c.clone();
        let due = now >= before.expires_at();
        // For submissions: (the token is the current one, the typed code is the current one and
        // the binding the checkout's own).
        let mut submission: Option<(bool, bool)> = None;
        let mut installed: Option<Current> = None;

        let mut submit = |c: &mut Checkout,
                          binding: &Binding<'_>,
                          token: &SessionToken,
                          typed: &AuthorizationCodeText,
                          binding_ok: bool| {
            let token_ok = current.as_ref().is_some_and(|cur| cur.token == *token);
            let code_ok = current.as_ref().is_some_and(|cur| cur.code == *typed);
            submission = Some((token_ok, code_ok && binding_ok));
            c.submit_code(now, &key, binding, token, typed)
        };

        let result: Result<(), CheckoutError> = match &step.op {
            Op::CheckPassword(ok) => c.check_password(now, *ok),
            Op::IssueAndInstall {
                digits,
                validity_ms,
            } => {
                let validity = match validity_ms {
                    Some(ms) => Duration::from_millis(u64::from(*ms) * 8),
                    None => Duration::MAX,
                };
                let (code, stored) = authcode::issue(
                    &mut rng,
                    &key,
                    &binding,
                    usize::from(*digits),
                    now,
                    validity,
                    c.expires_at(),
                );
                assert!((6..=8).contains(&code.expose().len()));
                assert!(authcode::matches(&stored, &key, &binding, &code));
                let token = authcode::session_token(&mut rng);
                let result = c.install_code(now, stored.clone(), &token);
                if result.is_ok() {
                    installed = Some(Current {
                        code,
                        token,
                        stored,
                    });
                }
                result
            }
            Op::SubmitRight => {
                let (code, token) = match &current {
                    Some(cur) => (cur.code.clone(), cur.token.clone()),
                    None => (
                        AuthorizationCodeText::parse("000000").expect("6 digits"),
                        authcode::session_token(&mut rng),
                    ),
                };
                submit(&mut c, &binding, &token, &code, true)
            }
            Op::SubmitTyped { len, digits } => {
                let len = 6 + usize::from(len % 3);
                let text: String = digits[..len]
                    .iter()
                    .map(|d| char::from(b'0' + d % 10))
                    .collect();
                let typed = AuthorizationCodeText::parse(&text).expect("6 to 8 digits");
                let token = match &current {
                    Some(cur) => cur.token.clone(),
                    None => authcode::session_token(&mut rng),
                };
                submit(&mut c, &binding, &token, &typed, true)
            }
            Op::SubmitEarlierCode(index) => {
                let Some(typed) = (!earlier.is_empty())
                    .then(|| earlier[usize::from(*index) % earlier.len()].clone())
                else {
                    continue;
                };
                let token = match &current {
                    Some(cur) => cur.token.clone(),
                    None => authcode::session_token(&mut rng),
                };
                submit(&mut c, &binding, &token, &typed, true)
            }
            Op::SubmitWrongBinding(which) => {
                let Some((code, token)) = current
                    .as_ref()
                    .map(|cur| (cur.code.clone(), cur.token.clone()))
                else {
                    continue;
                };
                let wrong = match which % 3 {
                    0 => Binding {
                        amount: other_amount,
                        ..binding
                    },
                    1 => Binding {
                        payment_id: &other_payment,
                        ..binding
                    },
                    _ => Binding {
                        merchant_id: &other_merchant,
                        ..binding
                    },
                };
                submit(&mut c, &wrong, &token, &code, false)
            }
            Op::SubmitWrongToken => {
                let token = authcode::session_token(&mut rng);
                let code = match &current {
                    Some(cur) => cur.code.clone(),
                    None => AuthorizationCodeText::parse("123456").expect("6 digits"),
                };
                submit(&mut c, &binding, &token, &code, true)
            }
            Op::MarkSettled => c.mark_settled(),
            Op::MarkFailed(reason) => {
                let reason = ErrorReason::try_from(i32::from(reason % 48))
                    .unwrap_or(ErrorReason::Unspecified);
                c.mark_failed(reason)
            }
            Op::Cancel => c.cancel(now),
            Op::ExpireIfDue => {
                let expired = c.expire_if_due(now);
                assert_eq!(expired, c != before);
                Ok(())
            }
        };

        // Bookkeeping of the harness's view.
        let awaiting = matches!(
            before.step(),
            CheckoutStep::Password | CheckoutStep::AuthorizationCode
        );
        if submission.is_some() && result.is_ok() {
            accepted += 1;
        }
        match &result {
            Err(e) if e.reason == ErrorReason::AuthorizationCodeIncorrect => wrong_entries += 1,
            Err(e)
                if e.reason == ErrorReason::TriesExceeded
                    && submission.is_some()
                    && !before.is_terminal() =>
            {
                wrong_entries += 1
            }
            _ => {}
        }
        if let Some(new) = installed {
            if let Some(old) = current.replace(new) {
                earlier.push(old.code);
            }
        }
        if c.step() != CheckoutStep::AuthorizationCode {
            if let Some(old) = current.take() {
                earlier.push(old.code);
            }
        }

        check_invariants(&c, wrong_entries);
        // The harness's current code is the checkout's.
        assert_eq!(
            c.parts().code.as_ref(),
            current.as_ref().map(|cur| &cur.stored)
        );
        if let Some(cur) = &current {
            assert_eq!(
                c.code_expires_at(),
                Some(cur.stored.expires_at().min(c.expires_at()))
            );
        }
        assert!(accepted <= 1, "a second code was accepted");
        assert!(c.code_attempts_left() <= before.code_attempts_left());
        assert_eq!(c.created_at(), before.created_at());
        assert_eq!(c.expires_at(), before.expires_at());

        // An ended checkout never changes; every operation on it fails, but a repeated cancel.
        if before.is_terminal() {
            assert_eq!(c, before, "an ended checkout changed on {:?}", step.op);
            match step.op {
                Op::ExpireIfDue => {}
                Op::Cancel if before.status() == PaymentStatus::Cancelled => {
                    assert!(result.is_ok())
                }
                _ => assert!(result.is_err(), "{:?} succeeded on {before:?}", step.op),
            }
            continue;
        }

        // Operations that read the clock: from `expires_at` on a waiting checkout only expires.
        let reads_clock = !matches!(step.op, Op::MarkSettled | Op::MarkFailed(_));
        if awaiting && due && reads_clock {
            assert_eq!(
                c.status(),
                PaymentStatus::Expired,
                "{:?} after expiry",
                step.op
            );
            assert_eq!(c.failure_reason(), Some(ErrorReason::Expired));
        }

        // Submissions.
        if let Some((token_ok, code_ok)) = submission {
            if result.is_ok() {
                assert!(token_ok && code_ok, "{:?} was accepted", step.op);
                assert_eq!(c.status(), PaymentStatus::Confirmed);
                assert_eq!(c.step(), CheckoutStep::Processing);
            }
            let live_code = before
                .code_expires_at()
                .is_some_and(|code_expires_at| now < code_expires_at);
            if live_code && token_ok && code_ok {
                assert_eq!(result, Ok(()), "the right code was refused");
            }
            if let Err(e) = &result {
                match e.reason {
                    ErrorReason::CredentialsRejected => {
                        assert!(!token_ok);
                        assert_eq!(c, before);
                    }
                    ErrorReason::AuthorizationCodeIncorrect => {
                        assert!(token_ok && !code_ok);
                        assert_eq!(e.attempts_left, Some(c.code_attempts_left()));
                        assert!(c.code_attempts_left() > 0);
                    }
                    ErrorReason::TriesExceeded => {
                        assert!(token_ok && !code_ok);
                        assert_eq!(before.code_attempts_left(), 1);
                        assert_eq!(c.status(), PaymentStatus::Failed);
                    }
                    ErrorReason::Expired => {
                        if c.status() != PaymentStatus::Expired {
                            // The code expired, not the checkout: nothing changes.
                            assert_eq!(c, before);
                            assert!(!live_code);
                        }
                    }
                    ErrorReason::InvalidState => {
                        assert_eq!(c, before);
                        assert_ne!(before.step(), CheckoutStep::AuthorizationCode);
                    }
                    other => panic!("submit_code failed with {other:?}"),
                }
            }
        } else if let Err(e) = &result {
            match e.reason {
                ErrorReason::Expired => assert_eq!(c.status(), PaymentStatus::Expired),
                ErrorReason::CredentialsRejected => {
                    assert!(matches!(step.op, Op::CheckPassword(false)));
                    assert_eq!(c.status(), PaymentStatus::Failed);
                    assert_eq!(c.failure_reason(), Some(ErrorReason::CredentialsRejected));
                }
                ErrorReason::InvalidState if matches!(step.op, Op::Cancel) => {
                    // Cancel expires a due checkout first, then refuses.
                    assert!(c == before || c.status() == PaymentStatus::Expired);
                }
                _ => assert_eq!(c, before, "{e:?} changed the checkout"),
            }
        }

        // Status moves.
        if c.status() != before.status() {
            let allowed = match c.status() {
                PaymentStatus::Confirmed => submission.is_some(),
                PaymentStatus::Settled => before.status() == PaymentStatus::Confirmed,
                PaymentStatus::Expired | PaymentStatus::Cancelled => awaiting,
                PaymentStatus::Failed => true,
                _ => false,
            };
            assert!(allowed, "{:?} -> {:?}", before.status(), c.status());
        }
    }
});
