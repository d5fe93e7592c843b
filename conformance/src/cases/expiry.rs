//! Deadlines: objects that expire by the system's clock. These cases wait for the protocol's
//! shortest lifetimes (`PAYMENT_EXPIRY.min_secs`, 30 s; `CHECKOUT_EXPIRY.min_secs`, 60 s) or, for
//! an authorization code, the validity the system gives it (60 s at the least, 300 s by default,
//! OMPP-AUTH-002), so they are the slowest of the suite:
//! the runner starts them first, so that they overlap every other case, and `run
//! --skip-waiting` leaves them out (a restricted run, never conformant by OMPP-CONF-007).

use std::time::Duration;

use ompp::conformance::Profile;
use ompp::limits::{AUTH_CODE_VALIDITY, CHECKOUT_EXPIRY, PAYMENT_EXPIRY};
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::merchant_payment_service_client::MerchantPaymentServiceClient;
use tonic::transport::Channel;

use super::flow_a::{create, expect, outcome};
use super::{OC, body};
use super::{flow_c, flow_c_codes};
use crate::case::{Abort, Case, Checks};
use crate::target::{PASSWORD, Target, money};

/// Ids of the cases that wait for protocol time.
pub(super) const WAITING: &[&str] = &[
    "oc.flow-a.expiry",
    "oc.flow-c.checkout-expiry",
    "oc.flow-c.code-expiry",
];

/// The longest a code may live (`AUTH_CODE_VALIDITY.max_secs`) and a little more: a system whose
/// code outlives it has failed OMPP-AUTH-002, and the case does not wait for it.
const LONGEST_CODE: Duration = Duration::from_secs(AUTH_CODE_VALIDITY.max_secs + 5);

/// After the lifetime, how much longer the suite waits before it judges: the system's clock
/// may run a little behind the suite's, and the answer to CreatePayment reached the suite
/// after the system stamped the payment.
const MARGIN: Duration = Duration::from_millis(1500);

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-a.expiry",
            title: "a payment nobody answers is EXPIRED from its expires_at on; late answers fail with EXPIRED and move no money",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-012"],
            run: body!(payment_expiry),
        },
        Case {
            id: "oc.flow-c.checkout-expiry",
            title: "a checkout waiting for its code is EXPIRED from its expires_at on; its code dies with it and the bank is never called",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-010", "OMPP-FLC-009", "OMPP-FLC-004"],
            run: body!(checkout_expiry),
        },
        Case {
            id: "oc.flow-c.code-expiry",
            title: "an authorization code entered at or after code_expires_at fails with EXPIRED, uses no entry and leaves the checkout in the code step; a new password step brings a new code that settles it",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-AUTH-009", "OMPP-AUTH-002", "OMPP-FLC-004"],
            run: body!(code_expiry),
        },
    ]
}

/// How long from now until `at` (zero if past).
fn until(at: &prost_types::Timestamp) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::new(
        u64::try_from(at.seconds).unwrap_or(0),
        u32::try_from(at.nanos).unwrap_or(0),
    );
    at.saturating_sub(now)
}

async fn code_expiry(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const CENTS: i64 = 1_300;
    let payer = flow_c::payer(target, checks, flow_c::FUNDS).await?;
    // The checkout outlives any code (CHECKOUT_EXPIRY.max_secs > AUTH_CODE_VALIDITY.max_secs).
    let started = flow_c::start_for(
        target,
        checks,
        "OMPP-AUTH-009",
        &payer,
        CENTS,
        Some(i64::try_from(CHECKOUT_EXPIRY.max_secs).unwrap_or(i64::MAX)),
    )
    .await?;
    let Some(code_expires_at) = started.view.code_expires_at else {
        return Err(checks.fail(
            "CheckoutView.code_expires_at in the code step (OMPP-AUTH-002)",
            "absent",
        ));
    };
    let wait = until(&code_expires_at);
    if wait > LONGEST_CODE {
        return Err(checks.fail(
            "a code valid for at most AUTH_CODE_VALIDITY.max_secs (OMPP-AUTH-002)",
            format!("code_expires_at is {} s away", wait.as_secs()),
        ));
    }
    tokio::time::sleep(wait + MARGIN).await;

    checks.reason(
        "OMPP-AUTH-009",
        "the right code entered after code_expires_at",
        flow_c_codes::enter(
            target,
            checks,
            &started.payment_id,
            &started.session_token,
            &started.code,
        )
        .await?,
        R::Expired,
    );
    let view = flow_c_codes::view_of(target, checks, &started.payment_id).await?;
    checks.equal(
        "OMPP-AUTH-009",
        "after the late entry the checkout is still PENDING_CUSTOMER in step AUTHORIZATION_CODE, no entry used",
        (
            "AUTHORIZATION_CODE".to_owned(),
            "PENDING_CUSTOMER".to_owned(),
            started.view.code_attempts_left,
        ),
        (
            flow_c::step_name(view.step),
            flow_c::status_name(view.status),
            view.code_attempts_left,
        ),
    );
    let (token, _, code) = flow_c_codes::renew(target, checks, "OMPP-AUTH-009", &started).await?;
    let settled = checks.succeeds(
        "OMPP-AUTH-009",
        "the new code from a second password step settles the checkout",
        flow_c_codes::enter(target, checks, &started.payment_id, &token, &code).await?,
    )?;
    let view = settled.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-AUTH-009",
        "the checkout is DONE and SETTLED",
        ("DONE".to_owned(), "SETTLED".to_owned()),
        (
            flow_c::step_name(view.step),
            flow_c::status_name(view.status),
        ),
    );
    Ok(())
}

async fn payment_expiry(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const CENTS: i64 = 700;
    let mut ana = target.customer(checks, 10_000).await?;
    let mut merchant = target.merchant(checks).await?;
    let lifetime = Duration::from_secs(PAYMENT_EXPIRY.min_secs);
    let mut request = create(target, &ana.customer_id, CENTS, &target.key("expiry"));
    request.expires_in = Some(prost_types::Duration {
        seconds: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    });
    let created = checks.setup_call("CreatePayment", merchant.create_payment(request).await)?;
    let payment = created
        .payment
        .ok_or_else(|| checks.fail("CreatePaymentResponse.payment", "absent"))?;
    tokio::time::sleep(lifetime + MARGIN).await;

    let got = checks.succeeds(
        "OMPP-FLA-012",
        "GetPayment after expires_at succeeds",
        get_payment(target, &mut merchant, &payment.payment_id).await,
    )?;
    checks.equal(
        "OMPP-FLA-012",
        "GetPayment after expires_at reports EXPIRED with failure_reason EXPIRED",
        expect(pb::PaymentStatus::Expired, R::Expired),
        got.payment.as_ref().map(outcome).unwrap_or_default(),
    );

    let watched = checks.succeeds(
        "OMPP-FLA-012",
        "WatchPayment after expires_at succeeds",
        merchant
            .watch_payment(pb::WatchPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment.payment_id.clone(),
            })
            .await,
    );
    if let Ok(mut stream) = watched {
        let first = match tokio::time::timeout(Duration::from_secs(10), stream.message()).await {
            Ok(Ok(Some(update))) => update.payment.as_ref().map(outcome).unwrap_or_default(),
            Ok(Ok(None)) => ("the stream ended".into(), String::new()),
            Ok(Err(status)) => (format!("the stream failed: {status}"), String::new()),
            Err(_) => ("nothing within 10 s".into(), String::new()),
        };
        checks.equal(
            "OMPP-FLA-012",
            "the first WatchPayment answer after expires_at reports EXPIRED",
            expect(pb::PaymentStatus::Expired, R::Expired),
            first,
        );
    }

    let confirmed = ana
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment.payment_id.clone(),
            amount: Some(money(CENTS)),
            password: PASSWORD.into(),
        })
        .await;
    checks.reason(
        "OMPP-FLA-012",
        "ConfirmPayment with the right password after expires_at fails with EXPIRED",
        confirmed,
        R::Expired,
    );
    let declined = ana
        .device
        .decline_payment(pb::DeclinePaymentRequest {
            payment_id: payment.payment_id.clone(),
        })
        .await;
    checks.reason(
        "OMPP-FLA-012",
        "DeclinePayment after expires_at fails with EXPIRED",
        declined,
        R::Expired,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLA-012",
        "the late confirmation moved no money: the wallet holds its top-up",
        10_000,
        balance,
    );
    let again = checks.setup_call(
        "GetPayment",
        get_payment(target, &mut merchant, &payment.payment_id).await,
    )?;
    checks.equal(
        "OMPP-FLA-012",
        "the late answers changed nothing: still EXPIRED, attempts untouched",
        (
            expect(pb::PaymentStatus::Expired, R::Expired),
            Some(payment.attempts_left),
        ),
        (
            again.payment.as_ref().map(outcome).unwrap_or_default(),
            again.payment.as_ref().map(|p| p.attempts_left),
        ),
    );
    Ok(())
}

async fn get_payment(
    target: &Target,
    merchant: &mut MerchantPaymentServiceClient<Channel>,
    payment_id: &str,
) -> Result<tonic::Response<pb::GetPaymentResponse>, tonic::Status> {
    merchant
        .get_payment(pb::GetPaymentRequest {
            merchant_id: target.merchant_id.clone(),
            payment_id: payment_id.into(),
        })
        .await
}

async fn checkout_expiry(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const CENTS: i64 = 900;
    let payer = flow_c::payer(target, checks, flow_c::FUNDS).await?;
    let lifetime = Duration::from_secs(CHECKOUT_EXPIRY.min_secs);
    let started = flow_c::start_for(
        target,
        checks,
        "OMPP-FLC-010",
        &payer,
        CENTS,
        Some(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
    )
    .await?;
    tokio::time::sleep(lifetime + MARGIN).await;

    let mut gateway = target.gateway(checks).await?;
    let status = checks.succeeds(
        "OMPP-FLC-010",
        "GetCheckoutStatus after expires_at succeeds",
        gateway
            .get_checkout_status(pb::GetCheckoutStatusRequest {
                payment_id: started.payment_id.clone(),
            })
            .await,
    )?;
    let view = status.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-010",
        "a checkout left in AUTHORIZATION_CODE is DONE and EXPIRED with failure_reason EXPIRED after expires_at",
        ("DONE".to_owned(), "EXPIRED".to_owned(), "EXPIRED".to_owned()),
        (
            flow_c::step_name(view.step),
            flow_c::status_name(view.status),
            R::try_from(view.failure_reason)
                .map_or_else(|_| "unknown".to_owned(), |r| crate::case::short_name(r.as_str_name())),
        ),
    );
    let late = flow_c::submit_code(target, checks, &started, &started.code).await?;
    checks.reason(
        "OMPP-FLC-009",
        "the code sent before expiry, entered after it, fails with EXPIRED (the code died with the checkout)",
        late,
        R::Expired,
    );
    let support = flow_c::support(target, checks)?;
    checks.equal(
        "OMPP-FLC-010",
        "the suite's bank was never asked to debit the payer's account",
        0,
        support.parties.bank.calls_debiting(&started.account).len(),
    );
    Ok(())
}
