//! Flow A end to end over real mutual TLS on loopback, with real SQLite: merchant request ->
//! push to the device -> confirmation over the secure link -> firewall -> settlement -> receipt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Center, PASSWORD, create, eur, next_event, reason};
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::subscribe_response::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_settles_with_a_receipt_and_moves_the_money() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000001", 10_000).await;
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut merchant = center.merchant().await;

    let payment = merchant
        .create_payment(create(&ana.customer_id, 1250, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.status, pb::PaymentStatus::PendingCustomer as i32);
    let mut watch = merchant
        .watch_payment(pb::WatchPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: payment.payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    // The device is shown who asks, how much, for what.
    let Event::PaymentRequest(pushed) = next_event(&mut stream).await else {
        panic!("expected a payment request")
    };
    assert_eq!(pushed.payment_id, payment.payment_id);
    assert_eq!(pushed.merchant_name, "Sample Merchant");
    assert_eq!(pushed.amount, Some(eur(1250)));
    assert_eq!(pushed.items[0].product_code, "SKU-1");
    assert_eq!(pushed.attempts_left, 3);

    let confirmed = ana
        .confirm(&pushed.payment_id, 1250, PASSWORD)
        .await
        .unwrap();
    assert_eq!(confirmed.status, pb::PaymentStatus::Settled as i32);
    let receipt = confirmed.receipt.unwrap();
    assert_eq!(
        (receipt.amount, receipt.merchant_id.as_str()),
        (Some(eur(1250)), "M-1042")
    );

    // The merchant's watch ends on SETTLED; its receipt matches the device's.
    let mut last = None;
    while let Some(update) = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .unwrap()
        .unwrap()
    {
        last = update.payment;
    }
    let last = last.unwrap();
    assert_eq!(last.status, pb::PaymentStatus::Settled as i32);
    let merchant_receipt = merchant
        .get_receipt(pb::GetReceiptRequest {
            merchant_id: "M-1042".into(),
            payment_id: payment.payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert_eq!(merchant_receipt.receipt_id, receipt.receipt_id);
    assert_eq!(merchant_receipt.transfer_id, receipt.transfer_id);

    // The device is told; the money moved once.
    let Event::Notice(notice) = next_event(&mut stream).await else {
        panic!("expected a notice")
    };
    assert_eq!(notice.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(notice.wallet_delta, Some(eur(-1250)));
    assert_eq!(ana.balance().await, 10_000 - 1250);
    let merchant_balance = merchant
        .get_merchant_balance(pb::GetMerchantBalanceRequest {
            merchant_id: "M-1042".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(merchant_balance, vec![eur(1250)]);

    // Confirming again changes nothing and answers with the outcome (OMPP-FLA-015).
    let again = ana
        .confirm(&pushed.payment_id, 1250, PASSWORD)
        .await
        .unwrap();
    assert_eq!(again.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(ana.balance().await, 10_000 - 1250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_ends_the_payment_without_moving_money() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000002", 5_000).await;
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 700, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let declined = ana
        .device
        .decline_payment(pb::DeclinePaymentRequest {
            payment_id: payment.payment_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        declined.into_inner().status,
        pb::PaymentStatus::Declined as i32
    );
    let got = merchant
        .get_payment(pb::GetPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: payment.payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        (got.status, got.failure_reason),
        (
            pb::PaymentStatus::Declined as i32,
            R::DeclinedByCustomer as i32
        )
    );
    assert_eq!(
        ana.confirm(&payment.payment_id, 700, PASSWORD)
            .await
            .unwrap_err()
            .reason,
        R::DeclinedByCustomer
    );
    assert_eq!(ana.balance().await, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_ends_the_payment_at_its_deadline() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000003", 5_000).await;
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 700, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    // Default expiry is 120 s (OMPP-FLA-001): one second before, still pending.
    center.clock.advance(Duration::from_secs(119));
    let get = pb::GetPaymentRequest {
        merchant_id: "M-1042".into(),
        payment_id: payment.payment_id.clone(),
    };
    let status = merchant
        .get_payment(get.clone())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap()
        .status;
    assert_eq!(status, pb::PaymentStatus::PendingCustomer as i32);
    center.clock.advance(Duration::from_secs(1));
    let got = merchant
        .get_payment(get)
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        (got.status, got.failure_reason),
        (pb::PaymentStatus::Expired as i32, R::Expired as i32)
    );
    assert_eq!(
        ana.confirm(&payment.payment_id, 700, PASSWORD)
            .await
            .unwrap_err()
            .reason,
        R::Expired
    );
    assert_eq!(ana.balance().await, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_confirmation_tells_the_device() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000004", 5_000).await;
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 900, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let Event::PaymentRequest(_) = next_event(&mut stream).await else {
        panic!("expected the request")
    };
    let cancel = pb::CancelPaymentRequest {
        merchant_id: "M-1042".into(),
        payment_id: payment.payment_id.clone(),
    };
    let cancelled = merchant
        .cancel_payment(cancel.clone())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(cancelled.status, pb::PaymentStatus::Cancelled as i32);
    // Cancelling again returns it unchanged (OMPP-FLA-013).
    let again = merchant
        .cancel_payment(cancel)
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(again.updated_at, cancelled.updated_at);
    let Event::Notice(notice) = next_event(&mut stream).await else {
        panic!("expected a notice")
    };
    assert_eq!(
        (notice.status, notice.reason),
        (
            pb::PaymentStatus::Cancelled as i32,
            R::CancelledByMerchant as i32
        )
    );
    assert_eq!(
        ana.confirm(&payment.payment_id, 900, PASSWORD)
            .await
            .unwrap_err()
            .reason,
        R::CancelledByMerchant
    );
    assert_eq!(ana.balance().await, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_once_then_right() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000005", 5_000).await;
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 100, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let wrong = ana
        .confirm(&payment.payment_id, 100, "wrong password")
        .await
        .unwrap_err();
    assert_eq!(wrong.reason, R::CredentialsRejected);
    assert_eq!(
        wrong.metadata.get("attempts_left").map(String::as_str),
        Some("2")
    );
    // A wrong amount is refused without using an attempt.
    assert_eq!(
        ana.confirm(&payment.payment_id, 101, PASSWORD)
            .await
            .unwrap_err()
            .reason,
        R::AmountMismatch
    );
    let ok = ana
        .confirm(&payment.payment_id, 100, PASSWORD)
        .await
        .unwrap();
    assert_eq!(ok.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(ana.balance().await, 4_900);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_passwords_fail_the_payment_and_alert_the_customer() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000006", 5_000).await;
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 100, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let Event::PaymentRequest(_) = next_event(&mut stream).await else {
        panic!("expected the request")
    };
    for expected_left in ["2", "1"] {
        let e = ana
            .confirm(&payment.payment_id, 100, "wrong password")
            .await
            .unwrap_err();
        assert_eq!(
            (
                e.reason,
                e.metadata.get("attempts_left").map(String::as_str)
            ),
            (R::CredentialsRejected, Some(expected_left))
        );
    }
    assert_eq!(
        ana.confirm(&payment.payment_id, 100, "wrong password")
            .await
            .unwrap_err()
            .reason,
        R::TriesExceeded
    );
    // Even the right password is too late now.
    assert_eq!(
        ana.confirm(&payment.payment_id, 100, PASSWORD)
            .await
            .unwrap_err()
            .reason,
        R::TriesExceeded
    );
    let Event::Notice(alert) = next_event(&mut stream).await else {
        panic!("expected the alert")
    };
    assert_eq!(
        (alert.status, alert.reason),
        (pb::PaymentStatus::Failed as i32, R::TriesExceeded as i32)
    );
    let got = merchant
        .get_payment(pb::GetPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: payment.payment_id,
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        (got.status, got.failure_reason),
        (pb::PaymentStatus::Failed as i32, R::TriesExceeded as i32)
    );
    assert_eq!(ana.balance().await, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_customer_and_insufficient_funds() {
    let center = Center::start().await;
    let mut ana = center.customer("+4915100000007", 50).await;
    let mut merchant = center.merchant().await;
    assert_eq!(
        reason(merchant.create_payment(create("C-nobody", 100, "k1")).await),
        R::UnknownCustomer
    );
    let payment = merchant
        .create_payment(create(&ana.customer_id, 100, "k2"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let outcome = ana
        .confirm(&payment.payment_id, 100, PASSWORD)
        .await
        .unwrap();
    assert_eq!(outcome.status, pb::PaymentStatus::Failed as i32);
    let got = merchant
        .get_payment(pb::GetPaymentRequest {
            merchant_id: "M-1042".into(),
            payment_id: payment.payment_id,
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(got.failure_reason, R::InsufficientFunds as i32);
    assert_eq!(ana.balance().await, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_returns_the_first_payment_and_conflicts_are_refused() {
    let center = Center::start().await;
    let ana = center.customer("+4915100000008", 0).await;
    let mut merchant = center.merchant().await;
    let first = merchant
        .create_payment(create(&ana.customer_id, 300, "same-key"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let retry = merchant
        .create_payment(create(&ana.customer_id, 300, "same-key"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(retry.payment_id, first.payment_id);
    assert_eq!(
        reason(
            merchant
                .create_payment(create(&ana.customer_id, 301, "same-key"))
                .await
        ),
        R::IdempotencyConflict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_payment_survives_a_restart_and_late_subscribers_receive_it() {
    let mut center = Center::start().await;
    let mut ana = center.customer("+4915100000009", 2_000).await;
    let mut merchant = center.merchant().await;
    let payment = merchant
        .create_payment(create(&ana.customer_id, 500, "k1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    center.restart().await;
    center.reconnect(&mut ana).await;
    // The device subscribes only now: the pending request is still delivered.
    let mut stream = ana
        .device
        .subscribe(pb::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    let Event::PaymentRequest(pushed) = next_event(&mut stream).await else {
        panic!("expected the request")
    };
    assert_eq!(pushed.payment_id, payment.payment_id);
    let ok = ana
        .confirm(&payment.payment_id, 500, PASSWORD)
        .await
        .unwrap();
    assert_eq!(ok.status, pb::PaymentStatus::Settled as i32);
    assert_eq!(ana.balance().await, 1_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_payments_settle_exactly_once_and_conserve_money() {
    let center = Center::start().await;
    let ana = center.customer("+4915100000010", 100_000).await;
    let merchant = center.merchant().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let mut merchant = merchant.clone();
        let mut device = ana.device.clone();
        let customer = ana.customer_id.clone();
        tasks.spawn(async move {
            let payment = merchant
                .create_payment(create(&customer, 100 + i, &format!("k{i}")))
                .await
                .unwrap()
                .into_inner()
                .payment
                .unwrap();
            let confirm = pb::ConfirmPaymentRequest {
                payment_id: payment.payment_id.clone(),
                amount: Some(eur(100 + i)),
                password: PASSWORD.into(),
            };
            // Each payment is confirmed twice at once: it must settle exactly once.
            let mut twin = device.clone();
            let (a, b) = tokio::join!(
                twin.confirm_payment(confirm.clone()),
                device.confirm_payment(confirm)
            );
            for r in [a, b] {
                assert_eq!(
                    r.unwrap().into_inner().status,
                    pb::PaymentStatus::Settled as i32
                );
            }
            100 + i
        });
    }
    let mut total = 0;
    while let Some(amount) = tasks.join_next().await {
        total += amount.unwrap();
    }
    let mut ana = ana;
    assert_eq!(ana.balance().await, 100_000 - total);
    let mut merchant = merchant;
    let merchant_balance = merchant
        .get_merchant_balance(pb::GetMerchantBalanceRequest {
            merchant_id: "M-1042".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(merchant_balance, vec![eur(total)]);
}
