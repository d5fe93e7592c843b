//! The suite can fail: each test starts the in-process reference with exactly one deliberate
//! defect (`ompp_server::defects`, feature `defects`, on only for these tests), runs every case
//! against it, and asserts that exactly the cases expected to notice the defect fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ompp::conformance::RoleUnderTest;
use ompp_conformance::case::Checks;
use ompp_conformance::cases;
use ompp_conformance::target::InProcess;
use ompp_server::defects::{Defect, Defects};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How long one case may run.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many cases run at once against one variant.
const CONCURRENCY: usize = 4;

/// Held for reading by every running case of every variant test in this binary, and for
/// writing by a case that sends load ([`cases::exclusive`]), which so runs alone, as in a run.
static ALONE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Starts the reference with `defects`, runs every operation center case, and returns the ids
/// of the cases that failed with, for each, the first assertion that did not pass.
async fn failing_cases(defects: &[Defect]) -> Vec<(String, String)> {
    failing_cases_of(RoleUnderTest::OperationCenter, defects).await
}

/// [`failing_cases`] for the cases of `role`, against the reference of that role (a bank
/// processor or SMS center alone, or the whole operation center).
async fn failing_cases_of(role: RoleUnderTest, defects: &[Defect]) -> Vec<(String, String)> {
    // The load case (seconds of the whole machine) runs only against the variants it is
    // about: the control run and the one without a link rate limit.
    let with_load = defects.is_empty() || defects.contains(&Defect::NoLinkRateLimit);
    let defects = Defects::of(defects.iter().copied());
    let (reference, target) = if role == RoleUnderTest::OperationCenter {
        InProcess::start_with(|config| config.defects = defects).await
    } else {
        ompp_conformance::roles::start_in_process(role, |config| config.defects = defects).await
    }
    .unwrap();
    let target = Arc::new(target);
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut running = JoinSet::new();
    // The cases that wait for protocol time (30 s and more) are left out: no variant breaks
    // an expiry, and a variant test per 30 s would dominate the suite's own test time. The
    // load case is spawned last.
    let mut selected: Vec<_> = cases::all()
        .into_iter()
        .filter(|c| c.role == role && !cases::waits(c.id))
        .filter(|c| with_load || !cases::sends_load(c.id))
        .collect();
    selected.sort_by_key(|c| cases::exclusive(c.id));
    for case in selected {
        let (target, permits) = (target.clone(), permits.clone());
        running.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let (_shared, _alone) = if cases::exclusive(case.id) {
                (None, Some(ALONE.write().await))
            } else {
                (Some(ALONE.read().await), None)
            };
            let checks = Checks::new(case.requirements.first().copied().unwrap_or_default());
            let outcome =
                tokio::time::timeout(CASE_TIMEOUT, (case.run)(target, checks.clone())).await;
            let assertions = checks.take();
            let why = if outcome.is_err() {
                Some("timed out".to_owned())
            } else if checks.setup_failed() {
                Some("setup failed".to_owned())
            } else if let Some(a) = assertions.iter().find(|a| !a.passed) {
                Some(format!(
                    "{} [{}]: expected {}, got {}",
                    a.description, a.requirement, a.expected, a.actual
                ))
            } else if assertions.is_empty() {
                Some("no assertion recorded".to_owned())
            } else {
                None
            };
            why.map(|why| (case.id.to_owned(), why))
        });
    }
    let mut failed = Vec::new();
    while let Some(result) = running.join_next().await {
        failed.extend(result.unwrap());
    }
    reference.stop().await;
    failed.sort();
    failed
}

/// Runs the suite against the variant with `defect` and asserts that exactly `expected` fail.
async fn caught_by(defect: Defect, expected: &[&str]) {
    caught_in(RoleUnderTest::OperationCenter, defect, expected).await;
}

/// [`caught_by`] for the cases of `role` against the reference of that role.
async fn caught_in(role: RoleUnderTest, defect: Defect, expected: &[&str]) {
    let failed = failing_cases_of(role, &[defect]).await;
    for (id, why) in &failed {
        eprintln!("{defect:?} is caught by {id}: {why}");
    }
    let ids: BTreeSet<&str> = failed.iter().map(|(id, _)| id.as_str()).collect();
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    for id in &expected {
        assert!(
            cases::get(id).is_some(),
            "{defect:?}: {id} is not a case of the suite"
        );
    }
    assert_eq!(
        ids, expected,
        "{defect:?}: the failing cases differ from the expected ones; failures: {failed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn control_no_defect_no_failure() {
    let failed = failing_cases(&[]).await;
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_link_rate_limit() {
    caught_by(Defect::NoLinkRateLimit, &["oc.link.rate-limit"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_any_upstream_certificate() {
    caught_by(
        Defect::AcceptAnyUpstreamCertificate,
        &[
            "oc.tls.counterparty-other-identity",
            "oc.tls.counterparty-unknown-ca",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn offer_tls12_upstream() {
    caught_by(
        Defect::OfferTls12Upstream,
        &["oc.tls.counterparty-tls12-only"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_merchant_identity() {
    caught_by(
        Defect::IgnoreMerchantIdentity,
        // The check-order cases also send another merchant's id; OpenCheckout naming another
        // merchant must be refused as IDENTITY_MISMATCH too.
        &[
            "oc.err.merchant-rpcs-check-order",
            "oc.flow-a.create-payment-check-order",
            "oc.flow-c.open-checkout",
            "oc.tls.identity-mismatch",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_wrong_role_certificate() {
    caught_by(
        Defect::AcceptWrongRoleCertificate,
        &["oc.tls.wrong-role-certificate"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_expired_certificate() {
    caught_by(
        Defect::AcceptExpiredCertificate,
        &["oc.tls.expired-certificate"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reveal_unknown_customer_at_pairing() {
    caught_by(
        Defect::RevealUnknownCustomer,
        &["oc.reg.pair-device-credentials-alike"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unlimited_password_attempts() {
    caught_by(
        Defect::UnlimitedPasswordAttempts,
        &["oc.flow-a.tries-exceeded"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_amount_echo() {
    caught_by(
        Defect::IgnoreAmountEcho,
        // The device check-order case also confirms with another amount.
        &[
            "oc.err.device-rpcs-check-order",
            "oc.flow-a.amount-mismatch",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn act_on_other_customers_payment() {
    caught_by(
        Defect::ActOnOtherCustomersPayment,
        &["oc.flow-a.other-customers-payment"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_idempotency_key() {
    caught_by(
        Defect::IgnoreIdempotencyKey,
        // Every case that retries a CreatePayment and compares the payment ids, or expects
        // IDEMPOTENCY_CONFLICT from a bound key.
        &[
            "oc.flow-a.create-payment-check-order",
            "oc.idem.concurrent-same-key",
            "oc.idem.failed-request-leaves-key-unbound",
            "oc.idem.retry-and-conflict",
            "oc.idem.same-content-and-lifetime",
        ],
    )
    .await;
}

/// Every case that sends a `CreatePayment` with an invalid field and reads the `ErrorInfo`:
/// `oc.err.invalid-field` (empty product code), `oc.flow-a.expiry-bounds` (`expires_in` out of
/// bounds), the two field-rule tables on `CreatePayment` and its check order (amount 0). (The variant drops `ErrorInfo` in
/// the merchant service only, so the registration and device tables still pass.)
#[tokio::test(flavor = "multi_thread")]
async fn drop_error_info() {
    caught_by(
        Defect::DropErrorInfo,
        &[
            "oc.err.invalid-field",
            "oc.flow-a.create-payment-check-order",
            "oc.flow-a.expiry-bounds",
            "oc.msg.identifiers-text-and-keys",
            "oc.msg.money-and-durations",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamic_code_reusable() {
    caught_by(
        Defect::DynamicCodeReusable,
        // The order cases also meet the used code again.
        &[
            "oc.flow-b.code-verification-order",
            "oc.flow-b.dynamic-code-single-use",
            "oc.flow-b.submit-check-order",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_payee_code_crc() {
    caught_by(
        Defect::IgnorePayeeCodeCrc,
        // Every case that sends a payload whose CRC does not match.
        &[
            "oc.flow-b.code-verification-order",
            "oc.flow-b.payload-verified-as-sent",
            "oc.flow-b.submit-check-order",
            "oc.flow-b.tampered-code",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reveal_unknown_phone_at_checkout() {
    caught_by(
        Defect::RevealUnknownPhone,
        &["oc.flow-c.credentials-rejected-alike"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn control_bank_processor_and_sms_center_no_defect_no_failure() {
    for role in [RoleUnderTest::BankProcessor, RoleUnderTest::SmsCenter] {
        let failed = failing_cases_of(role, &[]).await;
        assert!(failed.is_empty(), "{role:?}: {failed:#?}");
    }
}

/// The identical retry is booked again: the case that retries a completed transfer sees the
/// balances move twice, and the one that retries a rejected transfer once the payer is funded
/// sees it booked.
#[tokio::test(flavor = "multi_thread")]
async fn book_retried_transfer_again() {
    caught_in(
        RoleUnderTest::BankProcessor,
        Defect::BookRetriedTransferAgain,
        &[
            "bp.transfer.rejection-is-final",
            "bp.transfer.retry-returns-first-outcome",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_rejected_transfer() {
    caught_in(
        RoleUnderTest::BankProcessor,
        Defect::RetryRejectedTransfer,
        &["bp.transfer.rejection-is-final"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_replaced_handset() {
    caught_in(
        RoleUnderTest::SmsCenter,
        Defect::KeepReplacedHandset,
        &["sc.handset.re-register"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_unanswered_transfer() {
    caught_by(
        Defect::FailUnansweredTransfer,
        &[
            "oc.flow-c.bank-answer-lost",
            "oc.flow-c.bank-unavailable",
            "oc.ledger.top-up-outcome-unknown",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_envelope_on_retry() {
    caught_by(Defect::ReuseEnvelopeOnRetry, &["oc.link.sender-envelope"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn overflow_checked_after_bank() {
    caught_by(Defect::OverflowCheckedAfterBank, &["oc.money.overflow"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn top_up_without_bank() {
    caught_by(
        Defect::TopUpWithoutBank,
        // The counterparty TLS cases make the bank unreachable for a top-up, which this
        // variant credits anyway, without a handshake.
        &[
            "oc.ledger.top-up-outcome-unknown",
            "oc.ledger.top-up-rejected",
            "oc.ledger.top-up-through-bank",
            "oc.money.overflow",
            "oc.tls.counterparty-other-identity",
            "oc.tls.counterparty-tls12-only",
            "oc.tls.counterparty-unknown-ca",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_to_sixteen_devices_only() {
    caught_by(
        Defect::PushToSixteenDevicesOnly,
        &["oc.flow-a.push-to-every-device"],
    )
    .await;
}
