//! Flow C: online checkout, password on the payment page, authorization code by SMS.

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_a::{expect, outcome};
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{CURRENCY, CheckoutSupport, PASSWORD, Target, code_in, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-c.checkout-with-sms-code",
            title: "a checkout is paid with the password and the authorization code sent by SMS",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &[
                "OMPP-GW-001",
                "OMPP-FLC-004",
                "OMPP-AUTH-010",
                "OMPP-FLC-007",
                "OMPP-FLC-011",
            ],
            run: body!(checkout_with_code),
        },
        Case {
            id: "oc.flow-c.credentials-rejected-alike",
            title: "SubmitPassword answers a wrong password and an unknown phone number alike and fails the checkout",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &["OMPP-FLC-005", "OMPP-ERR-004"],
            run: body!(credentials_alike),
        },
        Case {
            id: "oc.flow-c.wrong-code-then-right",
            title: "a wrong authorization code leaves four entries, then the right one settles",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &[
                "OMPP-FLC-004",
                "OMPP-AUTH-013",
                "OMPP-ERR-006",
                "OMPP-FLC-007",
            ],
            run: body!(wrong_code_then_right),
        },
        Case {
            id: "oc.flow-c.gateway-rules",
            title: "the payment page's rules: masked phone, session token, malformed codes, the code never echoed, expiry bounds, no bank account, a cancelled checkout",
            role: OC,
            profile: Some(Profile::FlowC),
            requirements: &[
                "OMPP-FLC-004",
                "OMPP-FLC-007",
                "OMPP-GW-002",
                "OMPP-GW-003",
                "OMPP-AUTH-001",
                "OMPP-AUTH-012",
                "OMPP-FLC-001",
                "OMPP-FLC-006",
                "OMPP-FLC-009",
            ],
            run: body!(gateway_rules),
        },
    ]
}

pub(super) fn checkout_request(
    target: &Target,
    cents: i64,
    expires_in: Option<i64>,
) -> pb::OpenCheckoutRequest {
    pb::OpenCheckoutRequest {
        merchant_id: target.merchant_id.clone(),
        amount: Some(money(cents)),
        merchant_reference: target.key("order"),
        items: vec![],
        expires_in: expires_in.map(|seconds| prost_types::Duration { seconds, nanos: 0 }),
        idempotency_key: target.key("checkout"),
    }
}

async fn gateway_rules(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let started = start(target, checks, "OMPP-FLC-004", 2_500).await?;
    let mut gateway = target.gateway(checks).await?;
    let view = checks
        .succeeds(
            "OMPP-GW-002",
            "GetCheckoutStatus in the code step",
            gateway
                .get_checkout_status(pb::GetCheckoutStatusRequest {
                    payment_id: started.payment_id.clone(),
                })
                .await,
        )?
        .checkout
        .unwrap_or_default();
    // OMPP-GW-002: `+`, at most two leading digits, `*` for the hidden ones, the last two.
    let masked = view.masked_phone_number.clone();
    let digits: Vec<char> = started.phone.chars().skip(1).collect();
    let shown_ok = masked.len() == started.phone.len()
        && masked.starts_with('+')
        && masked.ends_with(&started.phone[started.phone.len() - 2..])
        && masked
            .chars()
            .skip(1)
            .zip(&digits)
            .enumerate()
            .all(|(i, (m, d))| m == '*' || (m == *d && (i < 2 || i >= digits.len() - 2)));
    checks.record(
        "OMPP-GW-002",
        "the masked phone number shows +, at most two leading and the last two digits",
        "e.g. +49*******89 for the registered number",
        masked.clone(),
        shown_ok,
    );
    let rendered = format!("{view:?}");
    checks.record(
        "OMPP-GW-002",
        "the view holds neither the customer id nor the full phone number",
        "neither",
        if rendered.contains(&started.customer_id) || rendered.contains(&started.phone) {
            "present"
        } else {
            "neither"
        },
        !rendered.contains(&started.customer_id) && !rendered.contains(&started.phone),
    );
    checks.record(
        "OMPP-AUTH-012",
        "the authorization code appears in no gateway answer",
        "absent",
        if rendered.contains(&started.code) {
            "present"
        } else {
            "absent"
        },
        !started.code.is_empty() && !rendered.contains(&started.code),
    );
    let token = &started.session_token;
    let token_ok = (32..=128).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    checks.record(
        "OMPP-GW-003",
        "the session token is 32 to 128 base64url characters",
        "32..=128 of A-Z a-z 0-9 - _",
        format!("{} characters", token.len()),
        token_ok,
    );
    let short = submit_code(target, checks, &started, "12345").await?;
    if let Some(error) = checks.reason(
        "OMPP-AUTH-001",
        "a 5-digit code fails with INVALID_FIELD",
        short,
        R::InvalidField,
    ) {
        checks.equal(
            "OMPP-AUTH-001",
            "the error names authorization_code",
            Some("authorization_code"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    let after = checks.setup_call(
        "GetCheckoutStatus",
        gateway
            .get_checkout_status(pb::GetCheckoutStatusRequest {
                payment_id: started.payment_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-AUTH-001",
        "the malformed code consumed no attempt",
        Some(5),
        after.checkout.map(|c| c.code_attempts_left),
    );
    let right = submit_code(target, checks, &started, &started.code.clone()).await?;
    settled(
        checks,
        checks.succeeds("OMPP-FLC-004", "the right code settles", right)?,
    );

    let mut merchant = target.merchant(checks).await?;
    for (seconds, description) in [(59, "59 s"), (3_601, "3,601 s")] {
        let result = merchant
            .open_checkout(checkout_request(target, 100, Some(seconds)))
            .await;
        if let Some(error) = checks.reason(
            "OMPP-FLC-001",
            format!("a checkout expiring in {description} fails with INVALID_FIELD"),
            result,
            R::InvalidField,
        ) {
            checks.equal(
                "OMPP-FLC-001",
                format!("{description}: the error names expires_in.seconds"),
                Some("expires_in.seconds"),
                error.metadata.get("field").map(String::as_str),
            );
        }
    }
    let opened = checks
        .succeeds(
            "OMPP-FLC-001",
            "a checkout without expires_in opens",
            merchant
                .open_checkout(checkout_request(target, 100, None))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let lifetime = match (&opened.created_at, &opened.expires_at) {
        (Some(created), Some(expires)) => Some(expires.seconds - created.seconds),
        _ => None,
    };
    checks.equal(
        "OMPP-FLC-001",
        "it expires 900 s after it was opened",
        Some(900),
        lifetime,
    );
    // A customer with a wallet but no bank account.
    let (_, phone) = target.register(checks, true, None).await?;
    let unbanked = checks
        .setup_call(
            "OpenCheckout",
            merchant
                .open_checkout(checkout_request(target, 100, None))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let unbanked_phone = phone.clone();
    let refused = gateway
        .submit_password(pb::SubmitPasswordRequest {
            payment_id: unbanked.payment_id.clone(),
            phone_number: phone,
            password: PASSWORD.into(),
        })
        .await;
    checks.reason(
        "OMPP-FLC-006",
        "the right password of a customer without a bank account fails with UNKNOWN_ACCOUNT",
        refused,
        R::UnknownAccount,
    );
    checks.equal(
        "OMPP-FLC-006",
        "the suite's SMS center received no message for the customer without a bank account",
        0,
        support(target, checks)?
            .parties
            .sms
            .submissions_to(&unbanked_phone)
            .len(),
    );
    let unchanged = checks.setup_call(
        "GetCheckoutStatus",
        gateway
            .get_checkout_status(pb::GetCheckoutStatusRequest {
                payment_id: unbanked.payment_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-FLC-006",
        "the checkout stays in the password step",
        "PASSWORD".to_owned(),
        step_name(unchanged.checkout.map_or(0, |c| c.step)),
    );
    checks.succeeds(
        "OMPP-FLC-009",
        "the merchant cancels the checkout",
        merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: unbanked.payment_id.clone(),
            })
            .await,
    )?;
    let (_, phone) = target.register(checks, true, None).await?;
    let cancelled = gateway
        .submit_password(pb::SubmitPasswordRequest {
            payment_id: unbanked.payment_id.clone(),
            phone_number: phone,
            password: PASSWORD.into(),
        })
        .await;
    checks.reason(
        "OMPP-FLC-009",
        "SubmitPassword on a cancelled checkout fails with CANCELLED_BY_MERCHANT",
        cancelled,
        R::CancelledByMerchant,
    );
    Ok(())
}

pub(super) fn step_name(step: i32) -> String {
    pb::CheckoutStep::try_from(step)
        .map(|s| crate::case::short_name(s.as_str_name()))
        .unwrap_or_else(|_| format!("unknown step {step}"))
}

pub(super) fn status_name(status: i32) -> String {
    pb::PaymentStatus::try_from(status)
        .map(|s| crate::case::short_name(s.as_str_name()))
        .unwrap_or_else(|_| format!("unknown status {status}"))
}

/// A flow C customer: registered with a new account at the suite's bank.
pub(super) struct Payer {
    pub(super) customer_id: String,
    pub(super) phone: String,
    /// The account number at the suite's bank.
    pub(super) account: String,
}

/// A checkout opened, its customer's password accepted and the code read from the SMS the
/// suite's SMS center received.
pub(super) struct Started {
    pub(super) payment_id: String,
    pub(super) customer_id: String,
    pub(super) phone: String,
    /// The customer's account at the suite's bank.
    pub(super) account: String,
    pub(super) session_token: String,
    pub(super) code: String,
    pub(super) sms: String,
    /// The payment as `OpenCheckout` returned it.
    pub(super) opened: pb::Payment,
    /// The checkout as `SubmitPassword` returned it.
    pub(super) view: pb::CheckoutView,
}

/// What a flow C customer's account at the suite's bank holds at the start.
pub(super) const FUNDS: i64 = 50_000;

/// How long a case waits for the system's SMS.
pub(super) const SMS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub(super) fn support<'a>(
    target: &'a Target,
    checks: &Checks,
) -> Result<&'a CheckoutSupport, Abort> {
    target.checkout.as_ref().ok_or_else(|| {
        checks.fail(
            "reach the suite's bank processor and SMS center",
            "the suite's bank processor and SMS center are not running",
        )
    })
}

/// Registers a customer whose account at the suite's bank holds `balance`.
pub(super) async fn payer(target: &Target, checks: &Checks, balance: i64) -> Result<Payer, Abort> {
    let support = support(target, checks)?;
    let (customer_id, phone, account) = target.bank_customer(checks, support, balance).await?;
    Ok(Payer {
        customer_id,
        phone,
        account,
    })
}

async fn start(
    target: &Target,
    checks: &Checks,
    requirement: &str,
    cents: i64,
) -> Result<Started, Abort> {
    let payer = payer(target, checks, FUNDS).await?;
    start_for(target, checks, requirement, &payer, cents, None).await
}

/// Opens a checkout of `cents` (expiring in `expires_in` seconds, or by default), passes the
/// password step as `payer` and reads the code from the suite's SMS center.
pub(super) async fn start_for(
    target: &Target,
    checks: &Checks,
    requirement: &str,
    payer: &Payer,
    cents: i64,
    expires_in: Option<i64>,
) -> Result<Started, Abort> {
    let support = support(target, checks)?;
    let mut merchant = target.merchant(checks).await?;
    let opened = checks.succeeds(
        requirement,
        "OpenCheckout succeeds",
        merchant
            .open_checkout(checkout_request(target, cents, expires_in))
            .await,
    )?;
    let opened = opened
        .payment
        .ok_or_else(|| checks.fail("OpenCheckoutResponse.payment", "absent"))?;
    let payment_id = opened.payment_id.clone();
    let mut inbox = support.parties.sms.inbox(&payer.phone);
    let mut gateway = target.gateway(checks).await?;
    let sent = checks.succeeds(
        "OMPP-FLC-004",
        "SubmitPassword with the registered phone number and password succeeds",
        gateway
            .submit_password(pb::SubmitPasswordRequest {
                payment_id: payment_id.clone(),
                phone_number: payer.phone.clone(),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let view = sent.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-004",
        "the checkout moves to AUTHORIZATION_CODE with a session token",
        ("AUTHORIZATION_CODE".to_owned(), true),
        (step_name(view.step), !sent.session_token.is_empty()),
    );
    let sms = inbox.next(SMS_WAIT).await.map(|m| m.text).map_err(|why| {
        checks.record(
            "OMPP-FLC-004",
            "the code is sent by SMS to the registered number",
            "an SMS",
            why,
            false,
        );
        Abort
    })?;
    Ok(Started {
        payment_id,
        customer_id: payer.customer_id.clone(),
        phone: payer.phone.clone(),
        account: payer.account.clone(),
        session_token: sent.session_token,
        code: code_in(&sms),
        sms,
        opened,
        view,
    })
}

pub(super) async fn submit_code(
    target: &Target,
    checks: &Checks,
    started: &Started,
    code: &str,
) -> Result<Result<tonic::Response<pb::SubmitAuthorizationCodeResponse>, tonic::Status>, Abort> {
    let mut gateway = target.gateway(checks).await?;
    Ok(gateway
        .submit_authorization_code(pb::SubmitAuthorizationCodeRequest {
            payment_id: started.payment_id.clone(),
            session_token: started.session_token.clone(),
            authorization_code: code.into(),
        })
        .await)
}

pub(super) fn settled(checks: &Checks, response: pb::SubmitAuthorizationCodeResponse) {
    let view = response.checkout.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-007",
        "the checkout is DONE and SETTLED with a receipt carrying the bank transfer id",
        ("DONE".to_owned(), "SETTLED".to_owned(), true),
        (
            step_name(view.step),
            status_name(view.status),
            view.receipt.is_some_and(|r| !r.transfer_id.is_empty()),
        ),
    );
}

async fn checkout_with_code(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let cents = 4_990;
    let started = start(target, checks, "OMPP-GW-001", cents).await?;
    let mut gateway = target.gateway(checks).await?;
    let status = gateway
        .get_checkout_status(pb::GetCheckoutStatusRequest {
            payment_id: started.payment_id.clone(),
        })
        .await;
    match status {
        Ok(response) => {
            let view = response.into_inner().checkout.unwrap_or_default();
            checks.equal(
                "OMPP-GW-001",
                "GetCheckoutStatus shows the amount, the step and 5 code attempts",
                (Some(money(cents)), "AUTHORIZATION_CODE".to_owned(), 5),
                (view.amount, step_name(view.step), view.code_attempts_left),
            );
        }
        Err(status) => {
            checks.record(
                "OMPP-GW-001",
                "GetCheckoutStatus succeeds",
                "OK",
                crate::case::describe_status(&status),
                false,
            );
        }
    }
    let amount_text = format!("{}.{:02}", cents / 100, cents % 100);
    checks.record(
        "OMPP-AUTH-010",
        "the SMS carries the code (first run of digits), the amount and the currency",
        format!("6 to 8 digits first, then {amount_text} and {CURRENCY}"),
        format!("code {:?} in {:?}", started.code, started.sms),
        (6..=8).contains(&started.code.len())
            && started.sms.contains(&amount_text)
            && started.sms.contains(CURRENCY),
    );
    let done = checks.succeeds(
        "OMPP-FLC-007",
        "SubmitAuthorizationCode with the code from the SMS succeeds",
        submit_code(target, checks, &started, &started.code.clone()).await?,
    )?;
    settled(checks, done);
    let mut merchant = target.merchant(checks).await?;
    let got = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: started.payment_id.clone(),
            })
            .await,
    )?;
    let payment = got.payment.unwrap_or_default();
    checks.equal(
        "OMPP-FLC-011",
        "the merchant sees the checkout SETTLED, bound to the customer",
        (
            expect(pb::PaymentStatus::Settled, R::Unspecified),
            started.customer_id.clone(),
        ),
        (outcome(&payment), payment.customer_id.clone()),
    );
    Ok(())
}

async fn wrong_code_then_right(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let started = start(target, checks, "OMPP-FLC-007", 1_234).await?;
    // The right code with its last digit changed.
    let wrong: String = started
        .code
        .char_indices()
        .map(|(i, c)| {
            if i + 1 == started.code.len() {
                char::from_digit((c.to_digit(10).unwrap_or(0) + 1) % 10, 10).unwrap_or('0')
            } else {
                c
            }
        })
        .collect();
    let error = checks.reason(
        "OMPP-AUTH-013",
        "a wrong code fails with AUTHORIZATION_CODE_INCORRECT",
        submit_code(target, checks, &started, &wrong).await?,
        R::AuthorizationCodeIncorrect,
    );
    if let Some(error) = error {
        checks.equal(
            "OMPP-ERR-006",
            "AUTHORIZATION_CODE_INCORRECT carries attempts_left",
            Some("4"),
            error.metadata.get("attempts_left").map(String::as_str),
        );
    }
    let mut gateway = target.gateway(checks).await?;
    let view = checks
        .setup_call(
            "GetCheckoutStatus",
            gateway
                .get_checkout_status(pb::GetCheckoutStatusRequest {
                    payment_id: started.payment_id.clone(),
                })
                .await,
        )?
        .checkout
        .unwrap_or_default();
    checks.equal(
        "OMPP-AUTH-013",
        "CheckoutView.code_attempts_left shows the same number",
        4,
        view.code_attempts_left,
    );
    let done = checks.succeeds(
        "OMPP-FLC-007",
        "the right code is still accepted",
        submit_code(target, checks, &started, &started.code.clone()).await?,
    )?;
    settled(checks, done);
    Ok(())
}

pub(super) async fn open_checkout(
    target: &Target,
    checks: &Checks,
    cents: i64,
) -> Result<String, Abort> {
    let mut merchant = target.merchant(checks).await?;
    let opened = checks.setup_call(
        "OpenCheckout",
        merchant
            .open_checkout(pb::OpenCheckoutRequest {
                merchant_id: target.merchant_id.clone(),
                amount: Some(money(cents)),
                merchant_reference: target.key("order"),
                items: vec![],
                expires_in: None,
                idempotency_key: target.key("checkout"),
            })
            .await,
    )?;
    opened
        .payment
        .map(|p| p.payment_id)
        .ok_or_else(|| checks.fail("OpenCheckoutResponse.payment", "absent"))
}

async fn credentials_alike(target: &Target, checks: &Checks) -> Result<(), Abort> {
    // The suite's SMS center must receive nothing for either failure.
    let (_, phone) = target.register(checks, true, None).await?;
    let first = open_checkout(target, checks, 100).await?;
    let second = open_checkout(target, checks, 100).await?;
    let mut gateway = target.gateway(checks).await?;
    let submit = |payment_id: &str, phone: &str, password: &str| pb::SubmitPasswordRequest {
        payment_id: payment_id.into(),
        phone_number: phone.into(),
        password: password.into(),
    };
    let wrong = gateway
        .submit_password(submit(&first, &phone, "not the password 1"))
        .await;
    let unknown_phone = target.phone();
    let unknown = gateway
        .submit_password(submit(&second, &unknown_phone, PASSWORD))
        .await;
    let shape = |result: &Result<tonic::Response<pb::SubmitPasswordResponse>, tonic::Status>| {
        result.as_ref().err().and_then(|status| {
            ompp::error::ProtocolError::from_status(status)
                .ok()
                .map(|e| {
                    (
                        status.code(),
                        crate::case::short_name(e.reason.as_str_name()),
                        e.metadata.keys().cloned().collect::<Vec<_>>(),
                    )
                })
        })
    };
    let (wrong_shape, unknown_shape) = (shape(&wrong), shape(&unknown));
    checks.reason(
        "OMPP-FLC-005",
        "a wrong password fails with CREDENTIALS_REJECTED",
        wrong,
        R::CredentialsRejected,
    );
    checks.reason(
        "OMPP-FLC-005",
        "a phone number no customer holds fails with CREDENTIALS_REJECTED",
        unknown,
        R::CredentialsRejected,
    );
    checks.equal(
        "OMPP-ERR-004",
        "both failures have the same code, reason and metadata keys",
        wrong_shape,
        unknown_shape,
    );
    let support = support(target, checks)?;
    let sent: usize = [&phone, &unknown_phone]
        .iter()
        .map(|p| support.parties.sms.submissions_to(p).len())
        .sum();
    checks.equal(
        "OMPP-FLC-005",
        "the suite's SMS center received no message for either number",
        0,
        sent,
    );
    for (label, id) in [("wrong password", &first), ("unknown phone", &second)] {
        let view = checks
            .setup_call(
                "GetCheckoutStatus",
                gateway
                    .get_checkout_status(pb::GetCheckoutStatusRequest {
                        payment_id: id.clone(),
                    })
                    .await,
            )?
            .checkout
            .unwrap_or_default();
        checks.equal(
            "OMPP-FLC-005",
            format!("after the {label}, the checkout is DONE, FAILED with CREDENTIALS_REJECTED"),
            (
                "DONE".to_owned(),
                "FAILED".to_owned(),
                "CREDENTIALS_REJECTED".to_owned(),
            ),
            (
                step_name(view.step),
                status_name(view.status),
                pb::ErrorReason::try_from(view.failure_reason)
                    .map(|r| crate::case::short_name(r.as_str_name()))
                    .unwrap_or_default(),
            ),
        );
    }
    Ok(())
}
