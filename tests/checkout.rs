//! The flow C checkout machine (spec chapter 06) driven through its public API, on a virtual
//! clock (plain `UnixMillis` values) and a deterministic random number generator.
// The helpers below build fixtures for the tests: a failed unwrap there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ompp::authcode::{self, Binding, StoredCode};
use ompp::checkout::{Checkout, CheckoutError, CheckoutParts};
use ompp::error::ProtocolError;
use ompp::limits::AUTH_CODE_ATTEMPTS;
use ompp::money::{Amount, Currency};
use ompp::proto::v1::{CheckoutStep, ErrorReason, PaymentStatus};
use ompp::types::{AuthorizationCodeText, MerchantId, PaymentId, SessionToken, UnixMillis};
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

/// Deterministic bytes for tests: SHA-256 of a seed and a counter, block after block. Marked
/// `CryptoRng` only so that the API accepts it.
struct TestRng {
    seed: u64,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl TestRng {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for byte in dst {
            if self.used == self.block.len() {
                let mut h = Sha256::new();
                h.update(self.seed.to_be_bytes());
                h.update(self.counter.to_be_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

impl CryptoRng for TestRng {}

const KEY: [u8; 32] = [0x5a; 32];
const T0: UnixMillis = UnixMillis(1_700_000_000_000);
/// Checkout lifetime: 900 s (the default of OMPP-FLC-001).
const CHECKOUT_LIFETIME: Duration = Duration::from_secs(900);
const DEADLINE: UnixMillis = UnixMillis(T0.0 + 900_000);
/// Code validity: 300 s (the default of OMPP-AUTH-002).
const CODE_VALIDITY: Duration = Duration::from_secs(300);

fn at(offset_ms: i64) -> UnixMillis {
    UnixMillis(T0.0 + offset_ms)
}

/// A checkout's world: its ids and amount, and the generator.
struct World {
    payment_id: PaymentId,
    merchant_id: MerchantId,
    amount: Amount,
    rng: TestRng,
}

/// A code as the customer received it, with the token the page holds.
struct Issued {
    code: AuthorizationCodeText,
    token: SessionToken,
}

impl World {
    fn new() -> Self {
        Self {
            payment_id: PaymentId::parse("P-7731").unwrap(),
            merchant_id: MerchantId::parse("M-1042").unwrap(),
            amount: Amount::from_minor_units(Currency::from_code("EUR").unwrap(), 5990).unwrap(),
            rng: TestRng::new(2024),
        }
    }

    fn binding(&self) -> Binding<'_> {
        Binding {
            payment_id: &self.payment_id,
            amount: self.amount,
            merchant_id: &self.merchant_id,
        }
    }

    /// The server's `SubmitPassword` with the right password at `now`: a new code and token.
    fn password_step(&mut self, c: &mut Checkout, now: UnixMillis) -> Issued {
        c.check_password(now, true).unwrap();
        let (code, stored) = self.issue(now, c.expires_at());
        let token = authcode::session_token(&mut self.rng);
        c.install_code(now, stored, &token).unwrap();
        Issued { code, token }
    }

    fn issue(
        &mut self,
        now: UnixMillis,
        checkout_expires_at: UnixMillis,
    ) -> (AuthorizationCodeText, StoredCode) {
        let binding = Binding {
            payment_id: &self.payment_id,
            amount: self.amount,
            merchant_id: &self.merchant_id,
        };
        authcode::issue(
            &mut self.rng,
            &KEY,
            &binding,
            6,
            now,
            CODE_VALIDITY,
            checkout_expires_at,
        )
    }

    fn submit(
        &self,
        c: &mut Checkout,
        now: UnixMillis,
        token: &SessionToken,
        typed: &AuthorizationCodeText,
    ) -> Result<(), CheckoutError> {
        c.submit_code(now, &KEY, &self.binding(), token, typed)
    }
}

/// A code that differs from `code` (same length).
fn wrong(code: &AuthorizationCodeText) -> AuthorizationCodeText {
    let flipped: String = code
        .expose()
        .chars()
        .map(|c| if c == '0' { '1' } else { '0' })
        .collect();
    AuthorizationCodeText::parse(&flipped).unwrap()
}

fn reason_of(result: Result<(), CheckoutError>) -> ErrorReason {
    result.unwrap_err().reason
}

fn fresh() -> Checkout {
    Checkout::new(T0, CHECKOUT_LIFETIME)
}

/// A checkout in step AUTHORIZATION_CODE, its code issued at 10 s.
fn in_code_step(w: &mut World) -> (Checkout, Issued) {
    let mut c = fresh();
    let issued = w.password_step(&mut c, at(10_000));
    (c, issued)
}

fn processing(w: &mut World) -> Checkout {
    let (mut c, issued) = in_code_step(w);
    w.submit(&mut c, at(20_000), &issued.token, &issued.code)
        .unwrap();
    c
}

fn assert_pair(c: &Checkout, step: CheckoutStep, status: PaymentStatus) {
    assert_eq!((c.step(), c.status()), (step, status));
}

#[test]
fn happy_path_through_every_step() {
    let mut w = World::new();
    let mut c = Checkout::new(T0, CHECKOUT_LIFETIME);
    assert_pair(&c, CheckoutStep::Password, PaymentStatus::PendingCustomer);
    assert_eq!(c.expires_at(), DEADLINE);
    assert_eq!(c.code_attempts_left(), AUTH_CODE_ATTEMPTS);

    // The right password alone changes nothing: the SMS may still fail.
    c.check_password(at(5_000), true).unwrap();
    assert_eq!(c, fresh());

    let (code, stored) = w.issue(at(10_000), c.expires_at());
    let token = authcode::session_token(&mut w.rng);
    c.install_code(at(10_000), stored, &token).unwrap();
    assert_pair(
        &c,
        CheckoutStep::AuthorizationCode,
        PaymentStatus::PendingCustomer,
    );
    assert_eq!(c.code_expires_at(), Some(at(310_000)));
    assert_eq!(c.code_attempts_left(), 5);
    assert_eq!(c.failure_reason(), None);

    w.submit(&mut c, at(60_000), &token, &code).unwrap();
    assert_pair(&c, CheckoutStep::Processing, PaymentStatus::Confirmed);
    assert_eq!(c.code_expires_at(), None);
    assert_eq!(c.code_attempts_left(), 5);
    // The code and the token are used up.
    assert_eq!(c.parts().code, None);
    assert_eq!(c.parts().token_digest, None);

    c.mark_settled().unwrap();
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Settled);
    assert_eq!(c.failure_reason(), None);
    assert!(c.is_terminal());
}

#[test]
fn bank_rejection_fails_the_checkout() {
    let mut w = World::new();
    let mut c = processing(&mut w);
    c.mark_failed(ErrorReason::InsufficientFunds).unwrap();
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Failed);
    assert_eq!(c.failure_reason(), Some(ErrorReason::InsufficientFunds));
}

#[test]
fn mark_failed_rejects_reasons_of_other_ends() {
    let mut w = World::new();
    let confirmed = processing(&mut w);
    for reason in [
        ErrorReason::Unspecified,
        ErrorReason::Expired,
        ErrorReason::DeclinedByCustomer,
        ErrorReason::CancelledByMerchant,
        ErrorReason::TriesExceeded,
    ] {
        let mut c = confirmed.clone();
        assert_eq!(reason_of(c.mark_failed(reason)), ErrorReason::Internal);
        assert_eq!(c, confirmed);
    }
}

#[test]
fn settle_and_fail_need_processing() {
    let mut w = World::new();
    let (code_step, _) = in_code_step(&mut w);
    for mut c in [fresh(), code_step] {
        let before = c.clone();
        assert_eq!(reason_of(c.mark_settled()), ErrorReason::InvalidState);
        assert_eq!(
            reason_of(c.mark_failed(ErrorReason::InsufficientFunds)),
            ErrorReason::InvalidState
        );
        assert_eq!(c, before);
    }
}

#[test]
fn wrong_password_fails_the_checkout() {
    let mut c = fresh();
    let err = c.check_password(at(1_000), false).unwrap_err();
    assert_eq!(err.reason, ErrorReason::CredentialsRejected);
    assert_eq!(err.attempts_left, None);
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Failed);
    assert_eq!(c.failure_reason(), Some(ErrorReason::CredentialsRejected));
    // One try per checkout: the right password afterwards is too late.
    assert_eq!(
        reason_of(c.check_password(at(2_000), true)),
        ErrorReason::InvalidState
    );
}

#[test]
fn wrong_password_on_resend_fails_the_checkout_and_kills_the_code() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    assert_eq!(
        reason_of(c.check_password(at(20_000), false)),
        ErrorReason::CredentialsRejected
    );
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Failed);
    assert_eq!(c.failure_reason(), Some(ErrorReason::CredentialsRejected));
    assert_eq!(c.code_expires_at(), None);
    assert_eq!(
        reason_of(w.submit(&mut c, at(30_000), &issued.token, &issued.code)),
        ErrorReason::InvalidState
    );
}

#[test]
fn wrong_code_then_right() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    let err = w
        .submit(&mut c, at(20_000), &issued.token, &wrong(&issued.code))
        .unwrap_err();
    assert_eq!(err.reason, ErrorReason::AuthorizationCodeIncorrect);
    assert_eq!(err.attempts_left, Some(4));
    assert_eq!(c.code_attempts_left(), 4);
    assert_pair(
        &c,
        CheckoutStep::AuthorizationCode,
        PaymentStatus::PendingCustomer,
    );
    // OMPP-AUTH-013: the metadata carries the same number.
    let protocol: ProtocolError = err.into();
    assert_eq!(
        protocol.metadata.get("attempts_left").map(String::as_str),
        Some("4")
    );

    w.submit(&mut c, at(30_000), &issued.token, &issued.code)
        .unwrap();
    assert_pair(&c, CheckoutStep::Processing, PaymentStatus::Confirmed);
    assert_eq!(c.code_attempts_left(), 4);
}

#[test]
fn five_wrong_codes_fail_the_checkout_for_good() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    let bad = wrong(&issued.code);
    for left in (1..=4).rev() {
        let err = w
            .submit(&mut c, at(20_000), &issued.token, &bad)
            .unwrap_err();
        assert_eq!(err.reason, ErrorReason::AuthorizationCodeIncorrect);
        assert_eq!(err.attempts_left, Some(left));
        assert_eq!(c.code_attempts_left(), left);
    }
    let fifth = w
        .submit(&mut c, at(21_000), &issued.token, &bad)
        .unwrap_err();
    assert_eq!(fifth.reason, ErrorReason::TriesExceeded);
    assert_eq!(fifth.attempts_left, None);
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Failed);
    assert_eq!(c.failure_reason(), Some(ErrorReason::TriesExceeded));
    assert_eq!(c.code_attempts_left(), 0);
    assert_eq!(c.code_expires_at(), None);

    // The code is dead: the right one is refused the same way, and nothing changes.
    let before = c.clone();
    assert_eq!(
        reason_of(w.submit(&mut c, at(22_000), &issued.token, &issued.code)),
        ErrorReason::TriesExceeded
    );
    assert_eq!(
        reason_of(c.check_password(at(23_000), true)),
        ErrorReason::TriesExceeded
    );
    assert_eq!(c, before);
}

#[test]
fn a_new_code_keeps_the_count_and_kills_the_old_code_and_token() {
    let mut w = World::new();
    let (mut c, first) = in_code_step(&mut w);
    for _ in 0..2 {
        let _ = w.submit(&mut c, at(20_000), &first.token, &wrong(&first.code));
    }
    assert_eq!(c.code_attempts_left(), 3);

    // OMPP-AUTH-008: SubmitPassword again in step AUTHORIZATION_CODE.
    let second = w.password_step(&mut c, at(60_000));
    assert_ne!(second.token, first.token);
    assert_eq!(c.code_attempts_left(), 3);
    assert_eq!(c.code_expires_at(), Some(at(360_000)));
    assert_pair(
        &c,
        CheckoutStep::AuthorizationCode,
        PaymentStatus::PendingCustomer,
    );

    // The old token: rejected, no attempt used.
    let before = c.clone();
    assert_eq!(
        reason_of(w.submit(&mut c, at(61_000), &first.token, &second.code)),
        ErrorReason::CredentialsRejected
    );
    assert_eq!(c, before);
    // The old code with the new token: an incorrect code (unless the two codes happen to be
    // equal, which the seed rules out).
    assert_ne!(first.code, second.code);
    let err = w
        .submit(&mut c, at(62_000), &second.token, &first.code)
        .unwrap_err();
    assert_eq!(err.reason, ErrorReason::AuthorizationCodeIncorrect);
    assert_eq!(err.attempts_left, Some(2));
    // The new code and token work.
    w.submit(&mut c, at(63_000), &second.token, &second.code)
        .unwrap();
    assert_pair(&c, CheckoutStep::Processing, PaymentStatus::Confirmed);
}

#[test]
fn wrong_session_token_uses_no_attempt() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    let stranger = authcode::session_token(&mut w.rng);
    let before = c.clone();
    for typed in [issued.code.clone(), wrong(&issued.code)] {
        for _ in 0..10 {
            let err = w.submit(&mut c, at(20_000), &stranger, &typed).unwrap_err();
            assert_eq!(err.reason, ErrorReason::CredentialsRejected);
            assert_eq!(err.attempts_left, None);
        }
    }
    assert_eq!(c, before);
    w.submit(&mut c, at(30_000), &issued.token, &issued.code)
        .unwrap();
    assert_eq!(c.code_attempts_left(), 5);
}

#[test]
fn an_expired_code_uses_no_attempt_and_keeps_the_step() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    let code_end = c.code_expires_at().unwrap();
    assert_eq!(code_end, at(310_000));
    let before = c.clone();
    for now in [code_end, at(500_000)] {
        for typed in [issued.code.clone(), wrong(&issued.code)] {
            assert_eq!(
                reason_of(w.submit(&mut c, now, &issued.token, &typed)),
                ErrorReason::Expired
            );
        }
    }
    assert_eq!(c, before);
    assert_pair(
        &c,
        CheckoutStep::AuthorizationCode,
        PaymentStatus::PendingCustomer,
    );
    // A new code through the password step works.
    let again = w.password_step(&mut c, at(700_000));
    // 700 s + 300 s passes the checkout's 900 s: capped (OMPP-AUTH-002).
    assert_eq!(c.code_expires_at(), Some(DEADLINE));
    w.submit(&mut c, at(710_000), &again.token, &again.code)
        .unwrap();
    assert_eq!(c.code_attempts_left(), 5);
}

#[test]
fn a_code_is_accepted_until_one_millisecond_before_it_expires() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    w.submit(&mut c, at(309_999), &issued.token, &issued.code)
        .unwrap();
    assert_eq!(c.status(), PaymentStatus::Confirmed);
}

#[test]
fn code_expiry_never_passes_the_checkout_expiry() {
    let mut w = World::new();
    let mut c = Checkout::new(T0, Duration::from_secs(60));
    w.password_step(&mut c, at(10_000));
    assert_eq!(c.code_expires_at(), Some(at(60_000)));
    assert_eq!(c.code_expires_at(), Some(c.expires_at()));
}

#[test]
fn a_code_for_another_binding_is_incorrect() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    let other_payment = PaymentId::parse("P-7732").unwrap();
    let other_merchant = MerchantId::parse("M-1043").unwrap();
    let more = Amount::from_minor_units(w.amount.currency(), 5991).unwrap();
    let bindings = [
        Binding {
            payment_id: &other_payment,
            ..w.binding()
        },
        Binding {
            amount: more,
            ..w.binding()
        },
        Binding {
            merchant_id: &other_merchant,
            ..w.binding()
        },
    ];
    for (i, binding) in bindings.iter().enumerate() {
        let err = c
            .submit_code(at(20_000), &KEY, binding, &issued.token, &issued.code)
            .unwrap_err();
        assert_eq!(err.reason, ErrorReason::AuthorizationCodeIncorrect);
        assert_eq!(err.attempts_left, Some(4 - u32::try_from(i).unwrap()));
    }
    w.submit(&mut c, at(30_000), &issued.token, &issued.code)
        .unwrap();
}

#[test]
fn the_checkout_expires_in_the_password_step() {
    let mut c = fresh();
    assert!(!c.expire_if_due(at(899_999)));
    assert_eq!(c, fresh());
    let mut late = c.clone();
    assert!(c.expire_if_due(DEADLINE));
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Expired);
    assert_eq!(c.failure_reason(), Some(ErrorReason::Expired));
    assert!(!c.expire_if_due(at(10_000_000)));

    // A password at the deadline: EXPIRED, and the checkout is expired, whatever the password.
    for ok in [true, false] {
        let mut c = late.clone();
        assert_eq!(
            reason_of(c.check_password(DEADLINE, ok)),
            ErrorReason::Expired
        );
        assert_pair(&c, CheckoutStep::Done, PaymentStatus::Expired);
    }
    // One millisecond earlier the password step is still open.
    late.check_password(at(899_999), true).unwrap();
}

#[test]
fn the_checkout_expires_in_the_code_step() {
    let mut w = World::new();
    let (code_step, issued) = in_code_step(&mut w);

    let mut c = code_step.clone();
    assert!(c.expire_if_due(DEADLINE));
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Expired);
    assert_eq!(c.code_expires_at(), None);
    assert_eq!(c.parts().code, None);

    // Submitting at the deadline expires it too, and uses no attempt.
    let mut c = code_step.clone();
    assert_eq!(
        reason_of(w.submit(&mut c, DEADLINE, &issued.token, &issued.code)),
        ErrorReason::Expired
    );
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Expired);
    assert_eq!(c.code_attempts_left(), 5);
    // And from then on the answer is EXPIRED, even with the right code.
    assert_eq!(
        reason_of(w.submit(&mut c, at(1_000_000), &issued.token, &issued.code)),
        ErrorReason::Expired
    );

    let mut c = code_step;
    let (_, stored) = w.issue(DEADLINE, c.expires_at());
    assert_eq!(
        reason_of(c.install_code(DEADLINE, stored, &issued.token)),
        ErrorReason::Expired
    );
    assert_eq!(c.status(), PaymentStatus::Expired);
}

#[test]
fn processing_never_expires() {
    let mut w = World::new();
    let mut c = processing(&mut w);
    let before = c.clone();
    for now in [DEADLINE, at(10_000_000), UnixMillis(i64::MAX)] {
        assert!(!c.expire_if_due(now));
    }
    assert_eq!(c, before);
    c.mark_settled().unwrap();
    assert_eq!(c.status(), PaymentStatus::Settled);
}

#[test]
fn replaying_the_code_after_success_is_invalid_state() {
    let mut w = World::new();
    let (mut c, issued) = in_code_step(&mut w);
    w.submit(&mut c, at(20_000), &issued.token, &issued.code)
        .unwrap();
    let before = c.clone();
    // Step PROCESSING, before and after the checkout's deadline.
    for now in [at(21_000), DEADLINE] {
        assert_eq!(
            reason_of(w.submit(&mut c, now, &issued.token, &issued.code)),
            ErrorReason::InvalidState
        );
        assert_eq!(
            reason_of(c.check_password(now, true)),
            ErrorReason::InvalidState
        );
        let (_, stored) = w.issue(now, c.expires_at());
        assert_eq!(
            reason_of(c.install_code(now, stored, &issued.token)),
            ErrorReason::InvalidState
        );
    }
    assert_eq!(c, before);
    // Step DONE.
    c.mark_settled().unwrap();
    assert_eq!(
        reason_of(w.submit(&mut c, at(30_000), &issued.token, &issued.code)),
        ErrorReason::InvalidState
    );
    assert_eq!(c.status(), PaymentStatus::Settled);
}

#[test]
fn a_code_in_the_password_step_is_invalid_state() {
    let mut w = World::new();
    let mut c = fresh();
    let token = authcode::session_token(&mut w.rng);
    let typed = AuthorizationCodeText::parse("123456").unwrap();
    assert_eq!(
        reason_of(w.submit(&mut c, at(1_000), &token, &typed)),
        ErrorReason::InvalidState
    );
    assert_eq!(c, fresh());
}

#[test]
fn cancel_rules() {
    let mut w = World::new();
    // Step PASSWORD.
    let mut c = fresh();
    c.cancel(at(1_000)).unwrap();
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Cancelled);
    assert_eq!(c.failure_reason(), Some(ErrorReason::CancelledByMerchant));
    // Cancelling again: Ok, nothing changes (even after the deadline).
    let cancelled = c.clone();
    c.cancel(at(2_000)).unwrap();
    c.cancel(at(10_000_000)).unwrap();
    assert_eq!(c, cancelled);
    // The customer's calls get CANCELLED_BY_MERCHANT.
    assert_eq!(
        reason_of(c.check_password(at(3_000), true)),
        ErrorReason::CancelledByMerchant
    );

    // Step AUTHORIZATION_CODE: the code dies.
    let (mut c, issued) = in_code_step(&mut w);
    c.cancel(at(20_000)).unwrap();
    assert_pair(&c, CheckoutStep::Done, PaymentStatus::Cancelled);
    assert_eq!(c.code_expires_at(), None);
    assert_eq!(
        reason_of(w.submit(&mut c, at(30_000), &issued.token, &issued.code)),
        ErrorReason::CancelledByMerchant
    );

    // Step PROCESSING: too late.
    let mut c = processing(&mut w);
    let before = c.clone();
    assert_eq!(reason_of(c.cancel(at(30_000))), ErrorReason::InvalidState);
    assert_eq!(c, before);

    // At the deadline the checkout has expired: it cannot be cancelled.
    let mut c = fresh();
    assert_eq!(reason_of(c.cancel(DEADLINE)), ErrorReason::InvalidState);
    assert_eq!(c.status(), PaymentStatus::Expired);
}

/// One checkout of each way to end, reached through the API.
fn terminal_checkouts(w: &mut World) -> Vec<Checkout> {
    let mut settled = processing(w);
    settled.mark_settled().unwrap();
    let mut bank_failed = processing(w);
    bank_failed
        .mark_failed(ErrorReason::AccountBlocked)
        .unwrap();
    let mut wrong_password = fresh();
    let _ = wrong_password.check_password(at(1_000), false);
    let (mut tries_exceeded, issued) = in_code_step(w);
    for _ in 0..5 {
        let _ = w.submit(
            &mut tries_exceeded,
            at(20_000),
            &issued.token,
            &wrong(&issued.code),
        );
    }
    let mut expired_password = fresh();
    assert!(expired_password.expire_if_due(DEADLINE));
    let (mut expired_code, _) = in_code_step(w);
    assert!(expired_code.expire_if_due(DEADLINE));
    let mut cancelled_password = fresh();
    cancelled_password.cancel(at(1_000)).unwrap();
    let (mut cancelled_code, _) = in_code_step(w);
    cancelled_code.cancel(at(20_000)).unwrap();
    vec![
        settled,
        bank_failed,
        wrong_password,
        tries_exceeded,
        expired_password,
        expired_code,
        cancelled_password,
        cancelled_code,
    ]
}

type Operation = (
    &'static str,
    fn(&mut World, &mut Checkout, UnixMillis) -> Option<ErrorReason>,
);

fn operations() -> Vec<Operation> {
    vec![
        ("check_password", |_, c, now| {
            c.check_password(now, true).err().map(|e| e.reason)
        }),
        ("check_password wrong", |_, c, now| {
            c.check_password(now, false).err().map(|e| e.reason)
        }),
        ("install_code", |w, c, now| {
            let (_, stored) = w.issue(now, c.expires_at());
            let token = authcode::session_token(&mut w.rng);
            c.install_code(now, stored, &token).err().map(|e| e.reason)
        }),
        ("submit_code", |w, c, now| {
            let token = authcode::session_token(&mut w.rng);
            let typed = AuthorizationCodeText::parse("123456").unwrap();
            w.submit(c, now, &token, &typed).err().map(|e| e.reason)
        }),
        ("mark_settled", |_, c, _| {
            c.mark_settled().err().map(|e| e.reason)
        }),
        ("mark_failed", |_, c, _| {
            c.mark_failed(ErrorReason::InsufficientFunds)
                .err()
                .map(|e| e.reason)
        }),
        ("cancel", |_, c, now| c.cancel(now).err().map(|e| e.reason)),
        ("expire_if_due", |_, c, now| {
            // Reports no error; must not change anything either.
            c.expire_if_due(now).then_some(ErrorReason::Unspecified)
        }),
    ]
}

#[test]
fn terminal_checkouts_never_change() {
    let mut w = World::new();
    let terminal = terminal_checkouts(&mut w);
    let ends: Vec<_> = terminal
        .iter()
        .map(|c| (c.status(), c.failure_reason()))
        .collect();
    use ErrorReason as R;
    use PaymentStatus as S;
    assert_eq!(
        ends,
        [
            (S::Settled, None),
            (S::Failed, Some(R::AccountBlocked)),
            (S::Failed, Some(R::CredentialsRejected)),
            (S::Failed, Some(R::TriesExceeded)),
            (S::Expired, Some(R::Expired)),
            (S::Expired, Some(R::Expired)),
            (S::Cancelled, Some(R::CancelledByMerchant)),
            (S::Cancelled, Some(R::CancelledByMerchant)),
        ]
    );
    for checkout in terminal {
        assert!(checkout.is_terminal());
        assert_eq!(checkout.step(), CheckoutStep::Done);
        assert_eq!(checkout.code_expires_at(), None);
        // OMPP-FLC-009.
        let customer_error = match (checkout.status(), checkout.failure_reason()) {
            (S::Expired, _) => R::Expired,
            (S::Cancelled, _) => R::CancelledByMerchant,
            (S::Failed, Some(R::TriesExceeded)) => R::TriesExceeded,
            _ => R::InvalidState,
        };
        for (name, operation) in operations() {
            let want = match name {
                "cancel" if checkout.status() == S::Cancelled => None,
                // OMPP-FLA-013: any other ended checkout.
                "cancel" => Some(R::InvalidState),
                "expire_if_due" => None,
                _ => Some(customer_error),
            };
            for now in [at(1_500), DEADLINE, at(10_000_000)] {
                let mut c = checkout.clone();
                let got = operation(&mut w, &mut c, now);
                assert_eq!(
                    c,
                    checkout,
                    "{name} changed a {:?} checkout",
                    checkout.status()
                );
                assert_eq!(got, want, "{name} on {:?}", checkout.status());
            }
        }
    }
}

#[test]
fn parts_round_trip() {
    let mut w = World::new();
    let mut all = terminal_checkouts(&mut w);
    let (code_step, issued) = in_code_step(&mut w);
    let mut once_wrong = code_step.clone();
    let _ = w.submit(
        &mut once_wrong,
        at(20_000),
        &issued.token,
        &wrong(&issued.code),
    );
    all.extend([fresh(), code_step, once_wrong, processing(&mut w)]);
    for c in all {
        let parts = c.parts();
        assert_eq!(parts.status, c.status());
        assert_eq!(parts.step, c.step());
        assert_eq!(parts.code_attempts_left, c.code_attempts_left());
        let restored = Checkout::restore(parts).unwrap();
        assert_eq!(restored, c);
    }
}

#[test]
fn a_restored_checkout_keeps_working() {
    let mut w = World::new();
    let (c, issued) = in_code_step(&mut w);
    let mut restored = Checkout::restore(c.parts()).unwrap();
    // Through a store that keeps the MAC and times only.
    let parts = restored.parts();
    let code = parts.code.clone().unwrap();
    let mut parts2 = parts.clone();
    parts2.code = Some(StoredCode::restore(
        *code.mac(),
        code.issued_at(),
        code.expires_at(),
    ));
    assert_eq!(Checkout::restore(parts2).unwrap(), restored);
    w.submit(&mut restored, at(20_000), &issued.token, &issued.code)
        .unwrap();
    assert_eq!(restored.status(), PaymentStatus::Confirmed);
}

#[test]
fn restore_rejects_inconsistent_parts() {
    use ErrorReason as R;
    use PaymentStatus as S;
    let mut w = World::new();
    let (code_step, _) = in_code_step(&mut w);
    let code_parts = code_step.parts();
    let fresh_parts = fresh().parts();
    let code = code_parts.code.clone();
    let digest = code_parts.token_digest;

    let with = |base: &CheckoutParts, change: &dyn Fn(&mut CheckoutParts)| {
        let mut p = base.clone();
        change(&mut p);
        p
    };
    let done = |status, reason, attempts| CheckoutParts {
        status,
        step: CheckoutStep::Done,
        failure_reason: reason,
        code_attempts_left: attempts,
        ..fresh_parts.clone()
    };
    let bad = vec![
        (
            "unspecified step",
            with(&fresh_parts, &|p| p.step = CheckoutStep::Unspecified),
        ),
        (
            "unspecified status",
            with(&fresh_parts, &|p| p.status = S::Unspecified),
        ),
        ("CREATED", with(&fresh_parts, &|p| p.status = S::Created)),
        (
            "PASSWORD CONFIRMED",
            with(&fresh_parts, &|p| p.status = S::Confirmed),
        ),
        (
            "PROCESSING PENDING",
            with(&fresh_parts, &|p| p.step = CheckoutStep::Processing),
        ),
        (
            "DONE PENDING",
            with(&fresh_parts, &|p| p.step = CheckoutStep::Done),
        ),
        (
            "DONE DECLINED",
            done(S::Declined, Some(R::DeclinedByCustomer), 5),
        ),
        (
            "expires before created",
            with(&fresh_parts, &|p| p.expires_at = at(-1)),
        ),
        (
            "too many attempts",
            with(&code_parts, &|p| p.code_attempts_left = 6),
        ),
        (
            "attempts used in PASSWORD",
            with(&fresh_parts, &|p| p.code_attempts_left = 4),
        ),
        (
            "no attempts left, pending",
            with(&code_parts, &|p| p.code_attempts_left = 0),
        ),
        (
            "reason on pending",
            with(&fresh_parts, &|p| p.failure_reason = Some(R::Expired)),
        ),
        (
            "SETTLED with reason",
            done(S::Settled, Some(R::InsufficientFunds), 5),
        ),
        ("FAILED without reason", done(S::Failed, None, 5)),
        ("FAILED by EXPIRED", done(S::Failed, Some(R::Expired), 5)),
        (
            "FAILED UNSPECIFIED",
            done(S::Failed, Some(R::Unspecified), 5),
        ),
        (
            "EXPIRED wrong reason",
            done(S::Expired, Some(R::CancelledByMerchant), 5),
        ),
        ("CANCELLED without reason", done(S::Cancelled, None, 5)),
        (
            "tries exceeded with attempts",
            done(S::Failed, Some(R::TriesExceeded), 1),
        ),
        (
            "no attempts, other failure",
            done(S::Failed, Some(R::InsufficientFunds), 0),
        ),
        (
            "code step without code",
            with(&code_parts, &|p| p.code = None),
        ),
        (
            "code step without token",
            with(&code_parts, &|p| p.token_digest = None),
        ),
        (
            "code in PASSWORD",
            with(&fresh_parts, &|p| p.code = code.clone()),
        ),
        (
            "token in PASSWORD",
            with(&fresh_parts, &|p| p.token_digest = digest),
        ),
        (
            "code when DONE",
            CheckoutParts {
                code: code.clone(),
                ..done(S::Expired, Some(R::Expired), 5)
            },
        ),
        (
            "code expiring before issue",
            with(&code_parts, &|p| {
                p.code = Some(StoredCode::restore([1; 32], at(10), at(9)));
            }),
        ),
    ];
    for (name, parts) in bad {
        let err = Checkout::restore(parts).expect_err(name);
        assert_eq!(err.reason, R::Internal, "{name}");
    }
    // The boundaries that are fine.
    Checkout::restore(done(S::Failed, Some(R::TriesExceeded), 0)).unwrap();
    Checkout::restore(done(S::Failed, Some(R::CredentialsRejected), 5)).unwrap();
    Checkout::restore(done(S::Settled, None, 1)).unwrap();
    Checkout::restore(with(&fresh_parts, &|p| p.expires_at = p.created_at)).unwrap();
    Checkout::restore(with(&code_parts, &|p| p.code_attempts_left = 1)).unwrap();
}

#[test]
fn errors_never_carry_the_code() {
    let mut w = World::new();
    let mut errors = Vec::new();
    let mut codes = Vec::new();
    // Four incorrect codes, then TRIES_EXCEEDED twice (wrong and right code).
    let (mut c, issued) = in_code_step(&mut w);
    let bad = wrong(&issued.code);
    for _ in 0..5 {
        errors.push(
            w.submit(&mut c, at(20_000), &issued.token, &bad)
                .unwrap_err(),
        );
    }
    errors.push(
        w.submit(&mut c, at(20_000), &issued.token, &issued.code)
            .unwrap_err(),
    );
    codes.extend([issued.code, bad]);
    // An expired code and a wrong token.
    let (mut c, issued) = in_code_step(&mut w);
    let stranger = authcode::session_token(&mut w.rng);
    errors.push(
        w.submit(&mut c, at(20_000), &stranger, &issued.code)
            .unwrap_err(),
    );
    errors.push(
        w.submit(&mut c, at(400_000), &issued.token, &issued.code)
            .unwrap_err(),
    );
    codes.push(issued.code);
    assert_eq!(errors.len(), 8);
    for err in errors {
        let text = format!("{err} {err:?}");
        let protocol = ProtocolError::from(err);
        let all = format!("{text} {protocol:?} {}", protocol.to_status().message());
        for code in &codes {
            assert!(!all.contains(code.expose()), "{all}");
        }
    }
}

#[test]
fn error_display_names_the_reason() {
    let mut c = fresh();
    let err = c.check_password(DEADLINE, true).unwrap_err();
    assert_eq!(err.to_string(), "EXPIRED: the checkout has expired");
    assert_eq!(err.message(), "the checkout has expired");
}
