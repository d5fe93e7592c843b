//! Flow C end to end over mutual TLS with the reference bank processor and SMS center: checkout,
//! password, a code delivered to the handset, the code, the bank transfer, and every failure the
//! issue lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Center, PASSWORD, eur, reason};
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

const CUSTOMER_ACCOUNT: &str = "DEMO0001";
const MERCHANT_ACCOUNT: &str = "DEMO1042";

async fn open(center: &Center, cents: i64, key: &str) -> String {
    let opened = center
        .merchant()
        .await
        .open_checkout(pb::OpenCheckoutRequest {
            merchant_id: "M-1042".into(),
            amount: Some(eur(cents)),
            merchant_reference: "ORDER-1".into(),
            items: vec![],
            expires_in: None,
            idempotency_key: key.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        opened.payment_page_url.starts_with("https://"),
        "{}",
        opened.payment_page_url
    );
    let payment = opened.payment.unwrap();
    assert_eq!(
        (payment.flow, payment.status),
        (
            pb::PaymentFlow::Checkout as i32,
            pb::PaymentStatus::PendingCustomer as i32
        )
    );
    payment.payment_id
}

fn password(payment_id: &str, phone: &str, password: &str) -> pb::SubmitPasswordRequest {
    pb::SubmitPasswordRequest {
        payment_id: payment_id.into(),
        phone_number: phone.into(),
        password: password.into(),
    }
}

fn code(payment_id: &str, token: &str, code: &str) -> pb::SubmitAuthorizationCodeRequest {
    pb::SubmitAuthorizationCodeRequest {
        payment_id: payment_id.into(),
        session_token: token.into(),
        authorization_code: code.into(),
    }
}

async fn status(center: &Center, payment_id: &str) -> pb::CheckoutView {
    center
        .gateway()
        .await
        .get_checkout_status(pb::GetCheckoutStatusRequest {
            payment_id: payment_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_is_paid_with_the_code_from_the_handset() {
    let center = Center::start().await;
    let phone = "+4915100000401";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let id = open(&center, 4_990, "c1").await;
    let mut merchant = center.merchant().await;
    let mut watch = merchant
        .watch_payment(pb::WatchPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let view = status(&center, &id).await;
    assert_eq!(
        (view.merchant_name.as_str(), view.step),
        ("Sample Merchant", pb::CheckoutStep::Password as i32)
    );
    let mut gateway = center.gateway().await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let view = sent.checkout.unwrap();
    assert_eq!(
        (view.step, view.code_attempts_left),
        (pb::CheckoutStep::AuthorizationCode as i32, 5)
    );
    // OMPP-GW-002: masked, and the full number never shown.
    assert_eq!(view.masked_phone_number, "+49*********01");
    let typed = handset.next_code().await;
    assert_eq!(typed.len(), 6);

    let done = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(
        (done.step, done.status),
        (
            pb::CheckoutStep::Done as i32,
            pb::PaymentStatus::Settled as i32
        )
    );
    assert_eq!(done.receipt.unwrap().transfer_id, format!("BT-{id}"));
    assert_eq!(
        (
            center.bank_balance(CUSTOMER_ACCOUNT),
            center.bank_balance(MERCHANT_ACCOUNT)
        ),
        (50_000 - 4_990, 4_990)
    );

    let mut last = None;
    while let Some(update) = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
    {
        last = update.payment;
    }
    assert_eq!(last.unwrap().status, pb::PaymentStatus::Settled as i32);

    // The code cannot be replayed (OMPP-AUTH-003).
    let replay = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await;
    assert_eq!(reason(replay), R::InvalidState);
    assert_eq!(center.bank_balance(CUSTOMER_ACCOUNT), 50_000 - 4_990);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_unknown_identity_ends_the_checkout_alike() {
    let center = Center::start().await;
    let phone = "+4915100000402";
    center.bank_customer(phone).await;
    let mut gateway = center.gateway().await;
    let first = open(&center, 100, "c1").await;
    let second = open(&center, 100, "c2").await;
    let wrong = gateway
        .submit_password(password(&first, phone, "wrong password"))
        .await
        .unwrap_err();
    let unknown = gateway
        .submit_password(password(&second, "+4915199999999", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), unknown.code());
    let (wrong, unknown) = (
        ompp::error::ProtocolError::from_status(&wrong).unwrap(),
        ompp::error::ProtocolError::from_status(&unknown).unwrap(),
    );
    assert_eq!(
        (wrong.reason, &wrong.metadata),
        (R::CredentialsRejected, &unknown.metadata)
    );
    for id in [&first, &second] {
        let view = status(&center, id).await;
        assert_eq!(
            (view.status, view.failure_reason),
            (
                pb::PaymentStatus::Failed as i32,
                R::CredentialsRejected as i32
            )
        );
    }
    assert_eq!(center.bank_balance(CUSTOMER_ACCOUNT), 50_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_and_the_fifth_ends_the_checkout() {
    let center = Center::start().await;
    let phone = "+4915100000403";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let mut gateway = center.gateway().await;

    // Wrong once, then right.
    let id = open(&center, 250, "c1").await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let right = handset.next_code().await;
    let wrong_code = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let e = ompp::error::ProtocolError::from_status(
        &gateway
            .submit_authorization_code(code(&id, &sent.session_token, wrong_code))
            .await
            .unwrap_err(),
    )
    .unwrap();
    assert_eq!(
        (
            e.reason,
            e.metadata.get("attempts_left").map(String::as_str)
        ),
        (R::AuthorizationCodeIncorrect, Some("4"))
    );
    assert_eq!(status(&center, &id).await.code_attempts_left, 4);
    let done = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &right))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(done.status, pb::PaymentStatus::Settled as i32);

    // Five wrong: failed for good, even for the right code afterwards (OMPP-AUTH-004).
    let id = open(&center, 250, "c2").await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let right = handset.next_code().await;
    let wrong_code = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..4 {
        assert_eq!(
            reason(
                gateway
                    .submit_authorization_code(code(&id, &sent.session_token, wrong_code))
                    .await
            ),
            R::AuthorizationCodeIncorrect
        );
    }
    assert_eq!(
        reason(
            gateway
                .submit_authorization_code(code(&id, &sent.session_token, wrong_code))
                .await
        ),
        R::TriesExceeded
    );
    assert_eq!(
        reason(
            gateway
                .submit_authorization_code(code(&id, &sent.session_token, &right))
                .await
        ),
        R::TriesExceeded
    );
    let view = status(&center, &id).await;
    assert_eq!(
        (view.status, view.failure_reason),
        (pb::PaymentStatus::Failed as i32, R::TriesExceeded as i32)
    );
    assert_eq!(center.bank_balance(CUSTOMER_ACCOUNT), 50_000 - 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire_and_are_bound_to_their_checkout() {
    let center = Center::start().await;
    let phone = "+4915100000404";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let mut gateway = center.gateway().await;
    let x = open(&center, 1_000, "x").await;
    let y = open(&center, 2_000, "y").await;
    let sent_x = gateway
        .submit_password(password(&x, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let code_x = handset.next_code().await;
    let sent_y = gateway
        .submit_password(password(&y, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let code_y = handset.next_code().await;
    // X's code (for another checkout, amount) does not authorize Y (OMPP-AUTH-003).
    if code_x != code_y {
        assert_eq!(
            reason(
                gateway
                    .submit_authorization_code(code(&y, &sent_y.session_token, &code_x))
                    .await
            ),
            R::AuthorizationCodeIncorrect
        );
    }
    // X's session token does not open Y either (OMPP-GW-003), and costs no attempt.
    assert_eq!(
        reason(
            gateway
                .submit_authorization_code(code(&y, &sent_x.session_token, &code_y))
                .await
        ),
        R::CredentialsRejected
    );

    // 300 s later the code is dead: EXPIRED, no attempt used, still in the code step (OMPP-AUTH-009).
    center.clock.advance(Duration::from_secs(300));
    let before = status(&center, &y).await.code_attempts_left;
    assert_eq!(
        reason(
            gateway
                .submit_authorization_code(code(&y, &sent_y.session_token, &code_y))
                .await
        ),
        R::Expired
    );
    let view = status(&center, &y).await;
    assert_eq!(
        (view.step, view.code_attempts_left),
        (pb::CheckoutStep::AuthorizationCode as i32, before)
    );
    // A new password step sends a new code that works.
    let again = gateway
        .submit_password(password(&y, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let fresh = handset.next_code().await;
    let done = gateway
        .submit_authorization_code(code(&y, &again.session_token, &fresh))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(done.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(center.bank_balance(MERCHANT_ACCOUNT), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bank_decides_insufficient_funds_and_lost_answers_are_recovered() {
    let center = Center::start().await;
    let phone = "+4915100000405";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let mut gateway = center.gateway().await;

    // 600.00 EUR from an account holding 500.00 EUR: the bank rejects, nothing moves.
    let id = open(&center, 60_000, "big").await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let typed = handset.next_code().await;
    let done = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(
        (done.status, done.failure_reason),
        (
            pb::PaymentStatus::Failed as i32,
            R::InsufficientFunds as i32
        )
    );
    assert_eq!(center.bank_balance(CUSTOMER_ACCOUNT), 50_000);

    // The bank applies the transfer but its answer is lost: the network server asks for the
    // transfer's status and settles, and the payer is debited once (OMPP-FLC-008).
    let bank = center.running().bank.as_ref().unwrap();
    bank.faults
        .drop_responses_after_apply(1, Duration::from_secs(10));
    let id = open(&center, 1_500, "lost").await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let typed = handset.next_code().await;
    let done = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(done.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(
        (
            center.bank_balance(CUSTOMER_ACCOUNT),
            center.bank_balance(MERCHANT_ACCOUNT)
        ),
        (50_000 - 1_500, 1_500)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_right_codes_debit_once() {
    let center = Center::start().await;
    let phone = "+4915100000406";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let mut gateway = center.gateway().await;
    let id = open(&center, 700, "c1").await;
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let typed = handset.next_code().await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut gateway = gateway.clone();
        let request = code(&id, &sent.session_token, &typed);
        tasks.spawn(async move {
            gateway
                .submit_authorization_code(request)
                .await
                .map(|r| r.into_inner())
        });
    }
    let mut settled = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(response) => {
                assert_eq!(
                    response.checkout.unwrap().status,
                    pb::PaymentStatus::Settled as i32
                );
                settled += 1;
            }
            Err(status) => assert_eq!(reason::<()>(Err(status)), R::InvalidState),
        }
    }
    assert_eq!(settled, 1);
    assert_eq!(center.bank_balance(CUSTOMER_ACCOUNT), 50_000 - 700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_center_outage_is_retryable_and_changes_nothing() {
    let center = Center::start().await;
    let phone = "+4915100000407";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let mut gateway = center.gateway().await;
    let id = open(&center, 300, "c1").await;
    center
        .running()
        .sms
        .as_ref()
        .unwrap()
        .faults
        .set_unavailable(true);
    assert_eq!(
        reason(
            gateway
                .submit_password(password(&id, phone, PASSWORD))
                .await
        ),
        R::ServiceUnavailable
    );
    // OMPP-FLC-014: still in the password step, no code entry used up.
    assert_eq!(
        status(&center, &id).await.step,
        pb::CheckoutStep::Password as i32
    );
    let payment = center
        .merchant()
        .await
        .get_payment(pb::GetPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        (payment.status, payment.attempts_left),
        (pb::PaymentStatus::PendingCustomer as i32, 5)
    );
    center
        .running()
        .sms
        .as_ref()
        .unwrap()
        .faults
        .set_unavailable(false);
    let sent = gateway
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let typed = handset.next_code().await;
    let done = gateway
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(done.status, pb::PaymentStatus::Settled as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_code_issue_and_entry_keeps_the_code_valid() {
    let mut center = Center::start().await;
    let phone = "+4915100000408";
    center.bank_customer(phone).await;
    let mut handset = center.handset(phone).await;
    let id = open(&center, 900, "c1").await;
    let sent = center
        .gateway()
        .await
        .submit_password(password(&id, phone, PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let typed = handset.next_code().await;
    center.restart().await;
    let done = center
        .gateway()
        .await
        .submit_authorization_code(code(&id, &sent.session_token, &typed))
        .await
        .unwrap()
        .into_inner()
        .checkout
        .unwrap();
    assert_eq!(done.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(
        (
            center.bank_balance(CUSTOMER_ACCOUNT),
            center.bank_balance(MERCHANT_ACCOUNT)
        ),
        (50_000 - 900, 900)
    );
}
