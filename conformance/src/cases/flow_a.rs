//! Flow A: the merchant asks, the customer's device confirms with the payment password.

use std::time::Duration;

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::subscribe_response::Event;

use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{Customer, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-a.happy-path",
            title: "a pushed payment confirmed with the right password settles with a receipt",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &[
                "OMPP-FLA-004",
                "OMPP-FLA-006",
                "OMPP-FLA-009",
                "OMPP-FLA-018",
                "OMPP-FLA-019",
                "OMPP-LEDGER-001",
                "OMPP-LEDGER-002",
            ],
            run: body!(happy_path),
        },
        Case {
            id: "oc.flow-a.decline",
            title: "a declined payment ends DECLINED and moves no money",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &[
                "OMPP-FLA-011",
                "OMPP-FLA-015",
                "OMPP-FLA-019",
                "OMPP-ERR-009",
                "OMPP-FLA-013",
            ],
            run: body!(decline),
        },
        Case {
            id: "oc.flow-a.wrong-password-then-right",
            title: "a wrong password leaves two attempts, then the right one settles",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-008", "OMPP-ERR-006", "OMPP-FLA-009"],
            run: body!(wrong_password_then_right),
        },
        Case {
            id: "oc.flow-a.tries-exceeded",
            title: "the third wrong password fails the payment with TRIES_EXCEEDED",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &[
                "OMPP-FLA-008",
                "OMPP-ERR-006",
                "OMPP-FLA-002",
                "OMPP-FLA-015",
            ],
            run: body!(tries_exceeded),
        },
        Case {
            id: "oc.idem.retry-and-conflict",
            title: "a retried CreatePayment returns the first payment; other content under the key conflicts",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-IDEM-003", "OMPP-IDEM-004"],
            run: body!(idempotency),
        },
    ]
}

/// A one-item payment request for `customer_id`.
pub(super) fn create(
    target: &Target,
    customer_id: &str,
    cents: i64,
    key: &str,
) -> pb::CreatePaymentRequest {
    pb::CreatePaymentRequest {
        merchant_id: target.merchant_id.clone(),
        customer_id: customer_id.into(),
        amount: Some(money(cents)),
        items: vec![pb::LineItem {
            product_code: "SKU-1".into(),
            description: "Coffee".into(),
            quantity: 1,
        }],
        merchant_reference: "conformance".into(),
        expires_in: None,
        idempotency_key: key.into(),
    }
}

fn status_name(status: i32) -> String {
    pb::PaymentStatus::try_from(status)
        .map(|s| crate::case::short_name(s.as_str_name()))
        .unwrap_or_else(|_| format!("unknown status {status}"))
}

fn reason_name(reason: i32) -> String {
    pb::ErrorReason::try_from(reason)
        .map(|r| crate::case::short_name(r.as_str_name()))
        .unwrap_or_else(|_| format!("unknown reason {reason}"))
}

/// `(status, failure_reason)` of a payment, as names.
pub(super) fn outcome(payment: &pb::Payment) -> (String, String) {
    (
        status_name(payment.status),
        reason_name(payment.failure_reason),
    )
}

/// The expected `(status, failure_reason)` pair, as names.
pub(super) fn expect(status: pb::PaymentStatus, reason: R) -> (String, String) {
    (
        crate::case::short_name(status.as_str_name()),
        crate::case::short_name(reason.as_str_name()),
    )
}

async fn confirm(
    customer: &mut Customer,
    payment_id: &str,
    cents: i64,
    password: &str,
) -> Result<tonic::Response<pb::ConfirmPaymentResponse>, tonic::Status> {
    customer
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment_id.into(),
            amount: Some(money(cents)),
            password: password.into(),
        })
        .await
}

/// Creates a payment and returns it.
async fn new_payment(
    target: &Target,
    checks: &Checks,
    requirement: &str,
    customer_id: &str,
    cents: i64,
) -> Result<pb::Payment, Abort> {
    let mut merchant = target.merchant(checks).await?;
    let created = checks.succeeds(
        requirement,
        "CreatePayment for a registered customer succeeds",
        merchant
            .create_payment(create(target, customer_id, cents, &target.key("pay")))
            .await,
    )?;
    created
        .payment
        .ok_or_else(|| checks.fail("CreatePaymentResponse.payment", "absent"))
}

async fn get_payment(
    target: &Target,
    checks: &Checks,
    payment_id: &str,
) -> Result<pb::Payment, Abort> {
    let mut merchant = target.merchant(checks).await?;
    let got = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment_id.into(),
            })
            .await,
    )?;
    got.payment
        .ok_or_else(|| checks.fail("GetPaymentResponse.payment", "absent"))
}

async fn happy_path(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 10_000).await?;
    let mut stream = checks.setup_call(
        "Subscribe",
        ana.device.subscribe(pb::SubscribeRequest::default()).await,
    )?;
    let payment = new_payment(target, checks, "OMPP-FLA-004", &ana.customer_id, 1250).await?;
    checks.equal(
        "OMPP-FLA-004",
        "a new payment is PENDING_CUSTOMER with 3 attempts",
        ("PENDING_CUSTOMER".to_owned(), 3),
        (status_name(payment.status), payment.attempts_left),
    );
    checks.equal(
        "OMPP-FLA-004",
        "the new payment carries the requested amount and customer",
        (Some(money(1250)), ana.customer_id.clone()),
        (payment.amount.clone(), payment.customer_id.clone()),
    );

    let pushed = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
    let pushed_id = match pushed {
        Ok(Ok(Some(pb::SubscribeResponse {
            event: Some(Event::PaymentRequest(request)),
        }))) => request.payment_id,
        Ok(Ok(Some(other))) => format!("another event: {other:?}"),
        Ok(Ok(None)) => "the stream ended".into(),
        Ok(Err(status)) => format!("the stream failed: {status}"),
        Err(_) => "nothing within 10 s".into(),
    };
    checks.equal(
        "OMPP-FLA-006",
        "the device's Subscribe stream receives the payment request",
        payment.payment_id.clone(),
        pushed_id,
    );

    let confirmed = checks.succeeds(
        "OMPP-FLA-009",
        "ConfirmPayment with the right password succeeds",
        confirm(&mut ana, &payment.payment_id, 1250, PASSWORD).await,
    )?;
    checks.equal(
        "OMPP-FLA-009",
        "ConfirmPaymentResponse is SETTLED with a receipt",
        ("SETTLED".to_owned(), true),
        (status_name(confirmed.status), confirmed.receipt.is_some()),
    );
    let receipt = confirmed.receipt.unwrap_or_default();
    checks.equal(
        "OMPP-FLA-009",
        "the receipt names the payment, merchant and amount",
        (
            payment.payment_id.clone(),
            target.merchant_id.clone(),
            Some(money(1250)),
        ),
        (
            receipt.payment_id.clone(),
            receipt.merchant_id.clone(),
            receipt.amount,
        ),
    );
    checks.record(
        "OMPP-LEDGER-001",
        "the receipt carries the ledger transfer id",
        "non-empty transfer_id",
        format!("{:?}", receipt.transfer_id),
        !receipt.transfer_id.is_empty(),
    );

    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-019",
        "GetPayment shows SETTLED with the receipt and no failure reason",
        (expect(pb::PaymentStatus::Settled, R::Unspecified), true),
        (outcome(&got), got.receipt.is_some()),
    );
    let mut merchant = target.merchant(checks).await?;
    let got_receipt = merchant
        .get_receipt(pb::GetReceiptRequest {
            merchant_id: target.merchant_id.clone(),
            payment_id: payment.payment_id.clone(),
        })
        .await;
    match got_receipt {
        Ok(response) => {
            checks.equal(
                "OMPP-FLA-018",
                "GetReceipt returns Payment.receipt",
                got.receipt.clone(),
                response.into_inner().receipt,
            );
        }
        Err(status) => {
            checks.record(
                "OMPP-FLA-018",
                "GetReceipt returns Payment.receipt",
                "OK",
                crate::case::describe_status(&status),
                false,
            );
        }
    }
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-LEDGER-002",
        "the customer's wallet is debited by the amount, once",
        10_000 - 1250,
        balance,
    );
    Ok(())
}

async fn decline(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-011", &ana.customer_id, 700).await?;
    let declined = checks.succeeds(
        "OMPP-FLA-011",
        "DeclinePayment without a password succeeds",
        ana.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    checks.equal(
        "OMPP-FLA-011",
        "DeclinePaymentResponse.status is DECLINED",
        "DECLINED".to_owned(),
        status_name(declined.status),
    );
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-019",
        "GetPayment shows DECLINED with failure_reason DECLINED_BY_CUSTOMER and no receipt",
        (
            expect(pb::PaymentStatus::Declined, R::DeclinedByCustomer),
            false,
        ),
        (outcome(&got), got.receipt.is_some()),
    );
    let late = confirm(&mut ana, &payment.payment_id, 700, PASSWORD).await;
    checks.reason(
        "OMPP-FLA-015",
        "ConfirmPayment on a DECLINED payment fails with DECLINED_BY_CUSTOMER",
        late,
        R::DeclinedByCustomer,
    );
    let mut merchant = target.merchant(checks).await?;
    let cancelled = merchant
        .cancel_payment(pb::CancelPaymentRequest {
            merchant_id: target.merchant_id.clone(),
            payment_id: payment.payment_id.clone(),
        })
        .await;
    checks.reason(
        "OMPP-FLA-013",
        "CancelPayment on a DECLINED payment fails with INVALID_STATE",
        cancelled,
        R::InvalidState,
    );
    let again = ana
        .device
        .decline_payment(pb::DeclinePaymentRequest {
            payment_id: payment.payment_id.clone(),
        })
        .await;
    checks.equal(
        "OMPP-FLA-015",
        "DeclinePayment again is answered DECLINED",
        Ok("DECLINED".to_owned()),
        again
            .map(|r| status_name(r.into_inner().status))
            .map_err(|status| crate::case::describe_status(&status)),
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-ERR-009",
        "the customer's wallet is unchanged",
        5_000,
        balance,
    );
    Ok(())
}

async fn wrong_password_then_right(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-009", &ana.customer_id, 100).await?;
    let wrong = checks.reason(
        "OMPP-FLA-008",
        "a wrong password fails with CREDENTIALS_REJECTED",
        confirm(&mut ana, &payment.payment_id, 100, "wrong password 1").await,
        R::CredentialsRejected,
    );
    if let Some(wrong) = wrong {
        checks.equal(
            "OMPP-ERR-006",
            "CREDENTIALS_REJECTED carries attempts_left",
            Some("2"),
            wrong.metadata.get("attempts_left").map(String::as_str),
        );
    }
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-008",
        "the payment stays PENDING_CUSTOMER with attempts_left 2",
        ("PENDING_CUSTOMER".to_owned(), 2),
        (status_name(got.status), got.attempts_left),
    );
    let ok = checks.succeeds(
        "OMPP-FLA-009",
        "ConfirmPayment with the right password succeeds",
        confirm(&mut ana, &payment.payment_id, 100, PASSWORD).await,
    )?;
    checks.equal(
        "OMPP-FLA-009",
        "the payment settles",
        "SETTLED".to_owned(),
        status_name(ok.status),
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLA-009",
        "the customer's wallet is debited by the amount",
        4_900,
        balance,
    );
    Ok(())
}

async fn tries_exceeded(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-002", &ana.customer_id, 100).await?;
    for left in ["2", "1"] {
        let wrong = checks.reason(
            "OMPP-FLA-008",
            format!("a wrong password with {left} attempt(s) left after it fails with CREDENTIALS_REJECTED"),
            confirm(&mut ana, &payment.payment_id, 100, "wrong password 1").await,
            R::CredentialsRejected,
        );
        if let Some(wrong) = wrong {
            checks.equal(
                "OMPP-ERR-006",
                "CREDENTIALS_REJECTED carries attempts_left",
                Some(left),
                wrong.metadata.get("attempts_left").map(String::as_str),
            );
        }
    }
    checks.reason(
        "OMPP-FLA-002",
        "the third wrong password fails with TRIES_EXCEEDED",
        confirm(&mut ana, &payment.payment_id, 100, "wrong password 1").await,
        R::TriesExceeded,
    );
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-002",
        "the payment is FAILED with TRIES_EXCEEDED and attempts_left 0",
        (expect(pb::PaymentStatus::Failed, R::TriesExceeded), 0),
        (outcome(&got), got.attempts_left),
    );
    checks.reason(
        "OMPP-FLA-015",
        "even the right password is refused afterwards",
        confirm(&mut ana, &payment.payment_id, 100, PASSWORD).await,
        R::TriesExceeded,
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLA-002",
        "the customer's wallet is unchanged",
        5_000,
        balance,
    );
    Ok(())
}

async fn idempotency(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let key = target.key("idem");
    let first = checks.succeeds(
        "OMPP-IDEM-003",
        "the first CreatePayment succeeds",
        merchant
            .create_payment(create(target, &ana.customer_id, 300, &key))
            .await,
    )?;
    let retry = checks.succeeds(
        "OMPP-IDEM-003",
        "the same request under the same key succeeds",
        merchant
            .create_payment(create(target, &ana.customer_id, 300, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-003",
        "the retry returns the first payment",
        first.payment.as_ref().map(|p| p.payment_id.clone()),
        retry.payment.as_ref().map(|p| p.payment_id.clone()),
    );
    checks.reason(
        "OMPP-IDEM-004",
        "another amount under the same key fails",
        merchant
            .create_payment(create(target, &ana.customer_id, 301, &key))
            .await,
        R::IdempotencyConflict,
    );
    Ok(())
}

pub(super) fn more_cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-a.amount-mismatch",
            title: "a confirmation with another amount fails with AMOUNT_MISMATCH without using an attempt",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-007"],
            run: body!(amount_mismatch),
        },
        Case {
            id: "oc.flow-a.insufficient-funds",
            title: "the right password on a wallet that cannot cover the amount fails the payment with INSUFFICIENT_FUNDS",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-010"],
            run: body!(insufficient_funds),
        },
        Case {
            id: "oc.flow-a.cancel",
            title: "the merchant cancels a pending payment; cancelling again returns it unchanged",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-013", "OMPP-FLA-015"],
            run: body!(cancel),
        },
        Case {
            id: "oc.flow-a.unknown-payment",
            title: "GetPayment and GetReceipt for a payment that does not exist fail with NOT_FOUND",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-016"],
            run: body!(unknown_payment),
        },
        Case {
            id: "oc.flow-a.expiry-bounds",
            title: "expires_in outside 30 to 600 s fails with INVALID_FIELD naming expires_in",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-001", "OMPP-MSG-016"],
            run: body!(expiry_bounds),
        },
        Case {
            id: "oc.flow-a.watch-payment",
            title: "WatchPayment sends the payment, then its change, and ends after a terminal status",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-017"],
            run: body!(watch_payment),
        },
    ]
}

async fn amount_mismatch(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-007", &ana.customer_id, 100).await?;
    checks.reason(
        "OMPP-FLA-007",
        "ConfirmPayment with one minor unit more fails",
        confirm(&mut ana, &payment.payment_id, 101, PASSWORD).await,
        R::AmountMismatch,
    );
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-007",
        "the payment is unchanged: PENDING_CUSTOMER with 3 attempts",
        ("PENDING_CUSTOMER".to_owned(), 3),
        (status_name(got.status), got.attempts_left),
    );
    Ok(())
}

async fn insufficient_funds(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 50).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-010", &ana.customer_id, 100).await?;
    let answered = checks.succeeds(
        "OMPP-FLA-010",
        "ConfirmPayment with the right password is answered",
        confirm(&mut ana, &payment.payment_id, 100, PASSWORD).await,
    )?;
    checks.equal(
        "OMPP-FLA-010",
        "ConfirmPaymentResponse is FAILED without a receipt",
        ("FAILED".to_owned(), false),
        (status_name(answered.status), answered.receipt.is_some()),
    );
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-010",
        "the payment is FAILED with INSUFFICIENT_FUNDS",
        expect(pb::PaymentStatus::Failed, R::InsufficientFunds),
        outcome(&got),
    );
    let balance = ana.balance(checks).await?;
    checks.equal("OMPP-FLA-010", "nothing was booked", 50, balance);
    Ok(())
}

async fn cancel(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-013", &ana.customer_id, 900).await?;
    let mut merchant = target.merchant(checks).await?;
    let request = pb::CancelPaymentRequest {
        merchant_id: target.merchant_id.clone(),
        payment_id: payment.payment_id.clone(),
    };
    let cancelled = checks
        .succeeds(
            "OMPP-FLA-013",
            "CancelPayment of a pending payment succeeds",
            merchant.cancel_payment(request.clone()).await,
        )?
        .payment
        .unwrap_or_default();
    checks.equal(
        "OMPP-FLA-013",
        "the payment is CANCELLED with CANCELLED_BY_MERCHANT",
        expect(pb::PaymentStatus::Cancelled, R::CancelledByMerchant),
        outcome(&cancelled),
    );
    let again = checks
        .succeeds(
            "OMPP-FLA-013",
            "CancelPayment of the cancelled payment succeeds",
            merchant.cancel_payment(request).await,
        )?
        .payment
        .unwrap_or_default();
    checks.equal(
        "OMPP-FLA-013",
        "the second CancelPayment returns the payment unchanged",
        cancelled,
        again,
    );
    checks.reason(
        "OMPP-FLA-015",
        "ConfirmPayment on the cancelled payment fails",
        confirm(&mut ana, &payment.payment_id, 900, PASSWORD).await,
        R::CancelledByMerchant,
    );
    Ok(())
}

async fn unknown_payment(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut merchant = target.merchant(checks).await?;
    let payment_id = target.key("nopay");
    checks.reason(
        "OMPP-FLA-016",
        "GetPayment for a payment id that does not exist fails",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment_id.clone(),
            })
            .await,
        R::NotFound,
    );
    checks.reason(
        "OMPP-FLA-016",
        "GetReceipt for a payment id that does not exist fails",
        merchant
            .get_receipt(pb::GetReceiptRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id,
            })
            .await,
        R::NotFound,
    );
    Ok(())
}

async fn expiry_bounds(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    for seconds in [29, 601] {
        let key = target.key("expiry");
        let mut request = create(target, &ana.customer_id, 100, &key);
        request.expires_in = Some(prost_types::Duration { seconds, nanos: 0 });
        let error = checks.reason(
            "OMPP-FLA-001",
            format!("expires_in {seconds} s fails"),
            merchant.create_payment(request).await,
            R::InvalidField,
        );
        if let Some(error) = error {
            let fields: Vec<String> = error
                .field_violations
                .into_iter()
                .map(|v| v.field)
                .collect();
            checks.record(
                "OMPP-FLA-001",
                "the BadRequest names expires_in",
                // The reference names `expires_in.seconds`; FLA-001 says "naming expires_in".
                // Until the spec settles it, a path under `expires_in` counts as naming it.
                "a field violation for expires_in (or a path under it)",
                format!("{fields:?}"),
                fields
                    .iter()
                    .any(|f| f == "expires_in" || f.starts_with("expires_in.")),
            );
        }
        // No effect: the key is still free for a valid request.
        let again = merchant
            .create_payment(create(target, &ana.customer_id, 100, &key))
            .await;
        checks.record(
            "OMPP-MSG-016",
            "the rejected request bound no idempotency key",
            "OK",
            match &again {
                Ok(_) => "OK".to_owned(),
                Err(status) => crate::case::describe_status(status),
            },
            again.is_ok(),
        );
    }
    Ok(())
}

async fn watch_payment(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-017", &ana.customer_id, 300).await?;
    let mut merchant = target.merchant(checks).await?;
    let mut watch = checks.succeeds(
        "OMPP-FLA-017",
        "WatchPayment opens",
        merchant
            .watch_payment(pb::WatchPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    let first = tokio::time::timeout(Duration::from_secs(10), watch.message()).await;
    let first = match first {
        Ok(Ok(Some(update))) => update.payment.map(|p| status_name(p.status)),
        other => Some(format!("{other:?}")),
    };
    checks.equal(
        "OMPP-FLA-017",
        "the first message is the payment as it stands",
        Some("PENDING_CUSTOMER".to_owned()),
        first,
    );
    checks.setup_call(
        "DeclinePayment",
        ana.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    let mut seen = Vec::new();
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(10), watch.message()).await {
            Ok(Ok(Some(update))) => {
                seen.push(
                    update
                        .payment
                        .map_or_else(String::new, |p| status_name(p.status)),
                );
                if seen.len() > 5 {
                    break "more than 5 messages".to_owned();
                }
            }
            Ok(Ok(None)) => break "OK".to_owned(),
            Ok(Err(status)) => break crate::case::describe_status(&status),
            Err(_) => break "still open after 10 s".to_owned(),
        }
    };
    checks.equal(
        "OMPP-FLA-017",
        "then the terminal status, and the stream ends with OK",
        (vec!["DECLINED".to_owned()], "OK".to_owned()),
        (seen, end),
    );
    Ok(())
}

pub(super) fn isolation_cases() -> Vec<Case> {
    vec![Case {
        id: "oc.flow-a.other-customers-payment",
        title: "a device cannot confirm or decline a payment addressed to another customer",
        role: OC,
        profile: Some(Profile::FlowA),
        requirements: &["OMPP-FLA-016"],
        run: body!(other_customers_payment),
    }]
}

async fn other_customers_payment(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut bo = target.customer(checks, 5_000).await?;
    let payment = new_payment(target, checks, "OMPP-FLA-016", &ana.customer_id, 100).await?;
    checks.reason(
        "OMPP-FLA-016",
        "ConfirmPayment from another customer's device fails",
        confirm(&mut bo, &payment.payment_id, 100, PASSWORD).await,
        R::NotFound,
    );
    checks.reason(
        "OMPP-FLA-016",
        "DeclinePayment from another customer's device fails",
        bo.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment.payment_id.clone(),
            })
            .await,
        R::NotFound,
    );
    let got = get_payment(target, checks, &payment.payment_id).await?;
    checks.equal(
        "OMPP-FLA-016",
        "the payment is untouched: PENDING_CUSTOMER with 3 attempts",
        ("PENDING_CUSTOMER".to_owned(), 3),
        (status_name(got.status), got.attempts_left),
    );
    Ok(())
}
