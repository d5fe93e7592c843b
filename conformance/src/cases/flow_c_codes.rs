//! Flow C on the operation center's side: opening a checkout, the steps the page sees, and the
//! authorization code's lifetime, binding, renewal and attempt limit. Codes are read from the
//! SMS the suite's own SMS center received.

use std::time::Instant;

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_c::{
    FUNDS, Payer, Started, checkout_request, payer, start_for, status_name, step_name, support,
};
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{PASSWORD, Target, code_in, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-c.open-checkout",
            title: "OpenCheckout checks identity, fields and key in order and opens a PENDING_CUSTOMER checkout with a 900 s expiry and an https page",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-002"],
            run: body!(open_checkout_rules),
        },
        Case {
            id: "oc.flow-c.steps-follow-status",
            title: "every checkout view pairs step and status, and the steps move along the diagram (password, code, bank rejection, cancel)",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-003", "OMPP-FLC-004", "OMPP-FLC-007"],
            run: body!(steps_follow_status),
        },
        Case {
            id: "oc.flow-c.code-lifetime-and-renewal",
            title: "a code lives its validity (capped by the checkout), serves only its checkout and only once, and a new code kills the old code and token but keeps the count",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &[
                "OMPP-AUTH-002",
                "OMPP-FLC-004",
                "OMPP-AUTH-008",
                "OMPP-AUTH-003",
            ],
            run: body!(code_lifetime_and_renewal),
        },
        Case {
            id: "oc.flow-c.tries-exceeded",
            title: "the fifth wrong code, counted over two codes, fails the checkout with TRIES_EXCEEDED and kills the code; the bank is never asked",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-AUTH-004", "OMPP-FLC-004", "OMPP-FLC-009"],
            run: body!(tries_exceeded),
        },
    ]
}

/// Milliseconds since the epoch of a wire timestamp.
fn millis(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

/// A code that differs from `code` in its last digit.
pub(super) fn wrong_for(code: &str) -> String {
    let mut digits: Vec<char> = code.chars().collect();
    if let Some(last) = digits.last_mut() {
        *last = char::from_digit((last.to_digit(10).unwrap_or(0) + 1) % 10, 10).unwrap_or('0');
    }
    digits.into_iter().collect()
}

/// `SubmitAuthorizationCode` with any token and code.
pub(super) async fn enter(
    target: &Target,
    checks: &Checks,
    payment_id: &str,
    session_token: &str,
    code: &str,
) -> Result<Result<tonic::Response<pb::SubmitAuthorizationCodeResponse>, tonic::Status>, Abort> {
    let mut gateway = target.gateway(checks).await?;
    Ok(gateway
        .submit_authorization_code(pb::SubmitAuthorizationCodeRequest {
            payment_id: payment_id.into(),
            session_token: session_token.into(),
            authorization_code: code.into(),
        })
        .await)
}

/// The checkout as `GetCheckoutStatus` shows it.
pub(super) async fn view_of(
    target: &Target,
    checks: &Checks,
    payment_id: &str,
) -> Result<pb::CheckoutView, Abort> {
    let mut gateway = target.gateway(checks).await?;
    Ok(checks
        .setup_call(
            "GetCheckoutStatus",
            gateway
                .get_checkout_status(pb::GetCheckoutStatusRequest {
                    payment_id: payment_id.into(),
                })
                .await,
        )?
        .checkout
        .unwrap_or_default())
}

/// A second password step on a checkout in the code step: the new token and view, and the new
/// code read from the suite's SMS center.
pub(super) async fn renew(
    target: &Target,
    checks: &Checks,
    requirement: &str,
    started: &Started,
) -> Result<(String, pb::CheckoutView, String), Abort> {
    let support = support(target, checks)?;
    let mut inbox = support.parties.sms.inbox(&started.phone);
    let mut gateway = target.gateway(checks).await?;
    let sent = checks.succeeds(
        requirement,
        "SubmitPassword again in the code step issues a new code",
        gateway
            .submit_password(pb::SubmitPasswordRequest {
                payment_id: started.payment_id.clone(),
                phone_number: started.phone.clone(),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let text = inbox
        .next(super::flow_c::SMS_WAIT)
        .await
        .map_err(|why| checks.fail("the new code's SMS reaches the suite's SMS center", why))?;
    Ok((
        sent.session_token,
        sent.checkout.unwrap_or_default(),
        code_in(&text.text),
    ))
}

fn payment_flow_name(flow: i32) -> String {
    pb::PaymentFlow::try_from(flow)
        .map(|f| crate::case::short_name(f.as_str_name()))
        .unwrap_or_else(|_| format!("unknown flow {flow}"))
}

async fn open_checkout_rules(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut merchant = target.merchant(checks).await?;
    let first = checkout_request(target, 1_234, None);
    let opened = checks.succeeds(
        "OMPP-FLC-002",
        "OpenCheckout succeeds",
        merchant.open_checkout(first.clone()).await,
    )?;
    let payment = opened.payment.clone().unwrap_or_default();
    checks.equal(
        "OMPP-FLC-002",
        "the payment is a CHECKOUT, PENDING_CUSTOMER, bound to no customer, with 5 attempts",
        (
            "CHECKOUT".to_owned(),
            "PENDING_CUSTOMER".to_owned(),
            String::new(),
            5,
        ),
        (
            payment_flow_name(payment.flow),
            status_name(payment.status),
            payment.customer_id.clone(),
            payment.attempts_left,
        ),
    );
    let lifetime = match (&payment.created_at, &payment.expires_at) {
        (Some(created), Some(expires)) => Some(millis(expires) - millis(created)),
        _ => None,
    };
    checks.equal(
        "OMPP-FLC-002",
        "expires_at is created_at plus the default 900 s (in ms)",
        Some(900_000),
        lifetime,
    );
    checks.record(
        "OMPP-FLC-002",
        "the payment page URL has scheme https",
        "https://...",
        opened.payment_page_url.clone(),
        opened.payment_page_url.starts_with("https://"),
    );

    // The certificate identity is checked before the fields.
    let mut other = checkout_request(target, 100, None);
    other.merchant_id = if target.merchant_id == "M-9999" {
        "M-9998".into()
    } else {
        "M-9999".into()
    };
    other.merchant_reference = String::new();
    checks.reason(
        "OMPP-FLC-002",
        "another merchant's id with an empty merchant_reference fails with IDENTITY_MISMATCH (identity before fields)",
        merchant.open_checkout(other).await,
        R::IdentityMismatch,
    );
    for (reference, what) in [
        (String::new(), "an empty merchant_reference"),
        ("R".repeat(65), "a merchant_reference of 65 characters"),
    ] {
        let mut request = checkout_request(target, 100, None);
        request.merchant_reference = reference;
        if let Some(error) = checks.reason(
            "OMPP-FLC-002",
            format!("{what} fails with INVALID_FIELD"),
            merchant.open_checkout(request).await,
            R::InvalidField,
        ) {
            checks.equal(
                "OMPP-FLC-002",
                format!("{what}: the error names merchant_reference"),
                Some("merchant_reference"),
                error.metadata.get("field").map(String::as_str),
            );
        }
    }
    let mut longest = checkout_request(target, 100, None);
    longest.merchant_reference = "R".repeat(64);
    checks.succeeds(
        "OMPP-FLC-002",
        "a merchant_reference of 64 characters is accepted",
        merchant.open_checkout(longest).await,
    )?;
    // Fields before the idempotency key, then the key.
    let mut bad_retry = first.clone();
    bad_retry.merchant_reference = String::new();
    checks.reason(
        "OMPP-FLC-002",
        "the first key with an empty merchant_reference fails with INVALID_FIELD (fields before the key)",
        merchant.open_checkout(bad_retry).await,
        R::InvalidField,
    );
    let mut conflict = first.clone();
    conflict.amount = Some(money(1_235));
    checks.reason(
        "OMPP-FLC-002",
        "the first key with another amount fails with IDEMPOTENCY_CONFLICT",
        merchant.open_checkout(conflict).await,
        R::IdempotencyConflict,
    );
    let again = checks.succeeds(
        "OMPP-FLC-002",
        "the identical request is answered",
        merchant.open_checkout(first).await,
    )?;
    checks.equal(
        "OMPP-FLC-002",
        "the identical request returns the same checkout",
        payment.payment_id,
        again.payment.map(|p| p.payment_id).unwrap_or_default(),
    );
    Ok(())
}

/// The step a status pairs with (spec 06, "The checkout steps").
fn paired(step: &str, status: &str) -> bool {
    match step {
        "PASSWORD" | "AUTHORIZATION_CODE" => status == "PENDING_CUSTOMER",
        "PROCESSING" => status == "CONFIRMED",
        "DONE" => matches!(status, "SETTLED" | "FAILED" | "EXPIRED" | "CANCELLED"),
        _ => false,
    }
}

/// Records that `view` is in `step` and pairs its status with it.
fn step_is(checks: &Checks, when: &str, view: &pb::CheckoutView, step: &str) {
    let (actual, status) = (step_name(view.step), status_name(view.status));
    checks.record(
        "OMPP-FLC-003",
        format!("{when}: the view is in step {step} with a status that pairs with it"),
        format!("{step} with its status"),
        format!("{actual} with {status}"),
        actual == step && paired(&actual, &status),
    );
}

async fn steps_follow_status(target: &Target, checks: &Checks) -> Result<(), Abort> {
    // The payer's account cannot cover the checkout: the bank rejects the transfer.
    let poor = payer(target, checks, 100).await?;
    let mut merchant = target.merchant(checks).await?;
    let opened = checks
        .setup_call(
            "OpenCheckout",
            merchant
                .open_checkout(checkout_request(target, 2_500, None))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let view = view_of(target, checks, &opened.payment_id).await?;
    step_is(checks, "after OpenCheckout", &view, "PASSWORD");
    // `start_for` opens its own checkout; this one only shows the first step and is cancelled.
    checks.setup_call(
        "CancelPayment",
        merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: opened.payment_id.clone(),
            })
            .await,
    )?;
    let view = view_of(target, checks, &opened.payment_id).await?;
    step_is(
        checks,
        "after CancelPayment in step PASSWORD",
        &view,
        "DONE",
    );

    let started = start_for(target, checks, "OMPP-FLC-003", &poor, 2_500, None).await?;
    step_is(
        checks,
        "in the SubmitPassword answer",
        &started.view,
        "AUTHORIZATION_CODE",
    );
    let wrong = wrong_for(&started.code);
    let wrong = enter(
        target,
        checks,
        &started.payment_id,
        &started.session_token,
        &wrong,
    )
    .await?;
    checks.log("SubmitAuthorizationCode with a wrong code", &wrong);
    let view = view_of(target, checks, &started.payment_id).await?;
    step_is(checks, "after a wrong code", &view, "AUTHORIZATION_CODE");
    let done = checks.succeeds(
        "OMPP-FLC-007",
        "the right code is answered although the bank rejects the transfer",
        enter(
            target,
            checks,
            &started.payment_id,
            &started.session_token,
            &started.code,
        )
        .await?,
    )?;
    let done = done.checkout.unwrap_or_default();
    step_is(
        checks,
        "in the SubmitAuthorizationCode answer",
        &done,
        "DONE",
    );
    checks.equal(
        "OMPP-FLC-007",
        "a REJECTED transfer fails the checkout with its reject_reason",
        ("FAILED".to_owned(), "INSUFFICIENT_FUNDS".to_owned()),
        (
            status_name(done.status),
            R::try_from(done.failure_reason)
                .map(|r| crate::case::short_name(r.as_str_name()))
                .unwrap_or_default(),
        ),
    );
    let view = view_of(target, checks, &started.payment_id).await?;
    step_is(checks, "GetCheckoutStatus after the outcome", &view, "DONE");
    Ok(())
}

async fn code_lifetime_and_renewal(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let customer: Payer = payer(target, checks, FUNDS).await?;
    let before = Instant::now();
    let first = start_for(target, checks, "OMPP-AUTH-002", &customer, 1_500, None).await?;
    let elapsed = i64::try_from(before.elapsed().as_millis()).unwrap_or(i64::MAX);
    // The issue time lies between the checkout's creation and the answer, by the system's clock.
    let created = first.opened.created_at.as_ref().map(millis);
    let expires = first.opened.expires_at.as_ref().map(millis);
    let code_expires = first.view.code_expires_at.as_ref().map(millis);
    let (low, high) = match (created, expires) {
        (Some(created), Some(expires)) => (
            created + 60_000,
            (created + elapsed + 1_000 + 900_000).min(expires),
        ),
        _ => (1, 0),
    };
    checks.record(
        "OMPP-AUTH-002",
        "code_expires_at is the issue time plus a validity of 60 to 900 s, at most expires_at",
        format!("within [{low}, {high}] ms"),
        format!("{code_expires:?}"),
        code_expires.is_some_and(|t| (low..=high).contains(&t)),
    );
    let short = start_for(target, checks, "OMPP-AUTH-002", &customer, 1_500, Some(60)).await?;
    checks.equal(
        "OMPP-AUTH-002",
        "a checkout expiring in 60 s caps its code's expiry at its own expires_at",
        short.opened.expires_at,
        short.view.code_expires_at,
    );

    // One wrong entry, then a new code.
    let wrong = enter(
        target,
        checks,
        &first.payment_id,
        &first.session_token,
        &wrong_for(&first.code),
    )
    .await?;
    checks.log("SubmitAuthorizationCode with a wrong code", &wrong);
    let (token, view, code) = renew(target, checks, "OMPP-AUTH-008", &first).await?;
    checks.equal(
        "OMPP-AUTH-008",
        "the new code keeps the count of wrong entries",
        4,
        view.code_attempts_left,
    );
    checks.reason(
        "OMPP-AUTH-008",
        "the previous session token with the new code fails with CREDENTIALS_REJECTED",
        enter(
            target,
            checks,
            &first.payment_id,
            &first.session_token,
            &code,
        )
        .await?,
        R::CredentialsRejected,
    );
    if first.code != code
        && let Some(error) = checks.reason(
            "OMPP-AUTH-008",
            "the previous code with the new token fails with AUTHORIZATION_CODE_INCORRECT",
            enter(target, checks, &first.payment_id, &token, &first.code).await?,
            R::AuthorizationCodeIncorrect,
        )
    {
        checks.equal(
            "OMPP-AUTH-008",
            "it counts as a wrong entry",
            Some("3"),
            error.metadata.get("attempts_left").map(String::as_str),
        );
    }
    // The new code of the first checkout on the second one.
    if code != short.code {
        checks.reason(
            "OMPP-AUTH-003",
            "a code issued for another checkout fails with AUTHORIZATION_CODE_INCORRECT",
            enter(
                target,
                checks,
                &short.payment_id,
                &short.session_token,
                &code,
            )
            .await?,
            R::AuthorizationCodeIncorrect,
        );
    }
    let done = checks.succeeds(
        "OMPP-AUTH-003",
        "the new code settles its own checkout",
        enter(target, checks, &first.payment_id, &token, &code).await?,
    )?;
    checks.equal(
        "OMPP-AUTH-003",
        "the checkout is SETTLED",
        "SETTLED".to_owned(),
        status_name(done.checkout.map_or(0, |c| c.status)),
    );
    let again = enter(target, checks, &first.payment_id, &token, &code).await?;
    checks.record(
        "OMPP-AUTH-003",
        "the accepted code is not accepted a second time",
        "an error",
        match &again {
            Ok(_) => "OK (accepted again)".to_owned(),
            Err(status) => crate::case::describe_status(status),
        },
        again.is_err(),
    );
    Ok(())
}

async fn tries_exceeded(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let customer = payer(target, checks, FUNDS).await?;
    let started = start_for(target, checks, "OMPP-AUTH-004", &customer, 700, None).await?;
    let mut token = started.session_token.clone();
    let mut code = started.code.clone();
    for entry in 1..=5u32 {
        if entry == 3 {
            // A new code halfway: the count runs over every code issued for the checkout.
            let (new_token, _, new_code) = renew(target, checks, "OMPP-AUTH-004", &started).await?;
            (token, code) = (new_token, new_code);
        }
        let result = enter(
            target,
            checks,
            &started.payment_id,
            &token,
            &wrong_for(&code),
        )
        .await?;
        if entry < 5 {
            if let Some(error) = checks.reason(
                "OMPP-AUTH-004",
                format!("wrong entry {entry} fails with AUTHORIZATION_CODE_INCORRECT"),
                result,
                R::AuthorizationCodeIncorrect,
            ) {
                checks.equal(
                    "OMPP-AUTH-004",
                    format!("after wrong entry {entry}, attempts_left counts every code"),
                    Some((5 - entry).to_string()),
                    error.metadata.get("attempts_left").cloned(),
                );
            }
        } else {
            checks.reason(
                "OMPP-AUTH-004",
                "the fifth wrong entry fails with TRIES_EXCEEDED",
                result,
                R::TriesExceeded,
            );
        }
    }
    let view = view_of(target, checks, &started.payment_id).await?;
    checks.equal(
        "OMPP-AUTH-004",
        "the checkout is DONE, FAILED with TRIES_EXCEEDED",
        (
            "DONE".to_owned(),
            "FAILED".to_owned(),
            "TRIES_EXCEEDED".to_owned(),
        ),
        (
            step_name(view.step),
            status_name(view.status),
            R::try_from(view.failure_reason)
                .map(|r| crate::case::short_name(r.as_str_name()))
                .unwrap_or_default(),
        ),
    );
    let dead = enter(target, checks, &started.payment_id, &token, &code).await?;
    checks.reason(
        "OMPP-FLC-009",
        "the right code afterwards fails with TRIES_EXCEEDED",
        dead,
        R::TriesExceeded,
    );
    let support = support(target, checks)?;
    let transfers = support.parties.bank.calls_debiting(&started.account);
    checks.equal(
        "OMPP-AUTH-004",
        "the suite's bank received no transfer for the failed checkout",
        0,
        transfers.len(),
    );
    Ok(())
}
