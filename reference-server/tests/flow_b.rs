//! Flow B end to end over mutual TLS: the merchant has a code issued, the payer's device previews
//! and pays it, value moves between the two wallets, both parties are told.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Center, Customer, PASSWORD, eur, next_event, reason};
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::subscribe_response::Event;

fn issue(amount: Option<i64>, key: &str) -> pb::IssuePayeeCodeRequest {
    pb::IssuePayeeCodeRequest {
        merchant_id: "M-1042".into(),
        amount: amount.map(eur),
        currency: if amount.is_some() {
            String::new()
        } else {
            "EUR".into()
        },
        merchant_reference: "table 7".into(),
        expires_in: None,
        idempotency_key: key.into(),
    }
}

fn submit(payload: &str, cents: i64, password: &str, key: &str) -> pb::SubmitPayeeCodeRequest {
    pb::SubmitPayeeCodeRequest {
        payload: payload.into(),
        amount: Some(eur(cents)),
        password: password.into(),
        idempotency_key: key.into(),
    }
}

async fn pay(
    payer: &mut Customer,
    payload: &str,
    cents: i64,
    password: &str,
    key: &str,
) -> Result<pb::Payment, tonic::Status> {
    payer
        .device
        .submit_payee_code(submit(payload, cents, password, key))
        .await
        .map(|r| r.into_inner().payment.unwrap())
}

async fn merchant_balance(center: &Center) -> i64 {
    let balances = center
        .merchant()
        .await
        .get_merchant_balance(pb::GetMerchantBalanceRequest {
            merchant_id: "M-1042".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    balances[0].minor_units
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_code_is_paid_several_times_and_both_parties_are_told() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000301", 5_000).await;
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let code = center
        .merchant()
        .await
        .issue_payee_code(issue(None, "q1"))
        .await
        .unwrap()
        .into_inner();
    assert!(code.payment_id.is_empty(), "a static code has no payment");
    assert!(code.payload.starts_with("000201010211"), "{}", code.payload);

    let preview = ana
        .device
        .preview_payee_code(pb::PreviewPayeeCodeRequest {
            payload: code.payload.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (preview.merchant_id.as_str(), preview.merchant_name.as_str()),
        ("M-1042", "Sample Merchant")
    );
    assert_eq!(
        (
            preview.amount,
            preview.currency.as_str(),
            preview.merchant_reference.as_str()
        ),
        (None, "EUR", "table 7")
    );

    let first = pay(&mut ana, &code.payload, 420, PASSWORD, "s1")
        .await
        .unwrap();
    let second = pay(&mut ana, &code.payload, 80, PASSWORD, "s2")
        .await
        .unwrap();
    assert_ne!(first.payment_id, second.payment_id);
    for payment in [&first, &second] {
        assert_eq!(
            (payment.status, payment.flow),
            (
                pb::PaymentStatus::Settled as i32,
                pb::PaymentFlow::PayeeCode as i32
            )
        );
        assert!(payment.receipt.is_some());
    }
    // A retry under the same key returns the first payment, and moves nothing more.
    assert_eq!(
        pay(&mut ana, &code.payload, 420, PASSWORD, "s1")
            .await
            .unwrap()
            .payment_id,
        first.payment_id
    );
    assert_eq!(ana.balance().await, 5_000 - 500);
    assert_eq!(merchant_balance(&center).await, 500);

    let Event::Notice(notice) = next_event(&mut stream).await else {
        panic!("expected a notice")
    };
    assert_eq!(
        (notice.status, notice.wallet_delta),
        (pb::PaymentStatus::Settled as i32, Some(eur(-420)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_code_is_single_use_and_reported_to_the_merchant() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000302", 5_000).await;
    let mut bo = center.customer("+4915100000303", 5_000).await;
    let mut merchant = center.merchant().await;
    let code = merchant
        .issue_payee_code(issue(Some(790), "q1"))
        .await
        .unwrap()
        .into_inner();
    assert!(code.payload.starts_with("000201010212"), "{}", code.payload);
    let mut watch = merchant
        .watch_payment(pb::WatchPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: code.payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let pending = watch.message().await.unwrap().unwrap().payment.unwrap();
    assert_eq!(
        (pending.status, pending.customer_id.as_str()),
        (pb::PaymentStatus::PendingCustomer as i32, "")
    );

    // The amount is the code's.
    assert_eq!(
        reason(pay(&mut ana, &code.payload, 791, PASSWORD, "d0").await),
        R::AmountMismatch
    );
    let paid = pay(&mut ana, &code.payload, 790, PASSWORD, "d1")
        .await
        .unwrap();
    assert_eq!(
        (paid.payment_id.as_str(), paid.status),
        (code.payment_id.as_str(), pb::PaymentStatus::Settled as i32)
    );
    let settled = watch.message().await.unwrap().unwrap().payment.unwrap();
    assert_eq!(settled.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(settled.customer_id, ana.customer_id);

    // Used: nobody can pay it again, not even its payer under another key (OMPP-FLB-008).
    assert_eq!(
        reason(pay(&mut bo, &code.payload, 790, PASSWORD, "d2").await),
        R::PayeeCodeUsed
    );
    assert_eq!(
        reason(pay(&mut ana, &code.payload, 790, PASSWORD, "d3").await),
        R::PayeeCodeUsed
    );
    let preview = ana
        .device
        .preview_payee_code(pb::PreviewPayeeCodeRequest {
            payload: code.payload.clone(),
        })
        .await;
    assert_eq!(reason(preview), R::PayeeCodeUsed);
    assert_eq!(
        (
            ana.balance().await,
            bo.balance().await,
            merchant_balance(&center).await
        ),
        (4_210, 5_000, 790)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_foreign_expired_and_unfunded_codes_move_nothing() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000304", 100).await;
    let mut merchant = center.merchant().await;
    let code = merchant
        .issue_payee_code(issue(Some(500), "q1"))
        .await
        .unwrap()
        .into_inner();

    // One changed character: the CRC no longer matches.
    let tampered = code.payload.replacen("table 7", "table 8", 1);
    assert_eq!(
        reason(pay(&mut ana, &tampered, 500, PASSWORD, "t1").await),
        R::PayeeCodeMalformed
    );
    // The same change with a recomputed CRC: the signature no longer matches.
    let body = &tampered[..tampered.len() - 4];
    let forged = format!("{body}{:04X}", ompp::payee_code::crc16(body.as_bytes()));
    assert_eq!(
        reason(pay(&mut ana, &forged, 500, PASSWORD, "t2").await),
        R::PayeeCodeSignatureInvalid
    );
    // A Pix BR Code is EMVCo, but not OMPP.
    let pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
    assert_eq!(
        reason(pay(&mut ana, pix, 500, PASSWORD, "t3").await),
        R::PayeeCodeNotOmpp
    );

    // 1.00 EUR cannot cover 5.00 EUR: refused, the code's payment stays pending (OMPP-FLB-009).
    assert_eq!(
        reason(pay(&mut ana, &code.payload, 500, PASSWORD, "t4").await),
        R::InsufficientFunds
    );
    let get = pb::GetPaymentRequest {
        merchant_id: "M-1042".into(),
        payment_id: code.payment_id.clone(),
    };
    let payment = merchant
        .get_payment(get.clone())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.status, pb::PaymentStatus::PendingCustomer as i32);

    // Wrong passwords count against a dynamic code's payment (OMPP-FLB-010).
    let wrong = ana
        .device
        .submit_payee_code(submit(&code.payload, 500, "wrong password", "t5"))
        .await
        .unwrap_err();
    let wrong = ompp::error::ProtocolError::from_status(&wrong).unwrap();
    assert_eq!(
        (
            wrong.reason,
            wrong.metadata.get("attempts_left").map(String::as_str)
        ),
        (R::CredentialsRejected, Some("2"))
    );

    // The default validity of a dynamic code is 300 s.
    center.clock.advance(Duration::from_secs(300));
    assert_eq!(
        reason(pay(&mut ana, &code.payload, 500, PASSWORD, "t6").await),
        R::Expired
    );
    assert_eq!(ana.balance().await, 100);
    assert_eq!(merchant_balance(&center).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_code_wrong_password_creates_no_payment() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000305", 1_000).await;
    let code = center
        .merchant()
        .await
        .issue_payee_code(issue(None, "q1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reason(pay(&mut ana, &code.payload, 100, "wrong password", "w1").await),
        R::CredentialsRejected
    );
    assert_eq!(
        (ana.balance().await, merchant_balance(&center).await),
        (1_000, 0)
    );
    // The wrong password left no trace on a static code: the right one pays at once.
    let paid = pay(&mut ana, &code.payload, 100, PASSWORD, "w2")
        .await
        .unwrap();
    assert_eq!(paid.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(
        (ana.balance().await, merchant_balance(&center).await),
        (900, 100)
    );
}
