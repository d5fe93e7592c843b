//! Flow A with several paired devices: every device gets every push and every notice, terminal
//! payments stay as they ended, and racing decisions are applied exactly once.

use std::time::Duration;

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;
use ompp_server::pki::{cert_der_to_pem, generate_csr};
use pb::ErrorReason as R;
use pb::device_service_client::DeviceServiceClient;
use pb::subscribe_response::Event;
use tonic::transport::Channel;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status, short_name};
use crate::target::{Credential, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.flow-a.push-to-every-device",
            title: "with 17 paired devices, every device is served, gets the pushed request as the payment states it, and the DECLINED and SETTLED notices",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-REG-009", "OMPP-FLA-005", "OMPP-FLA-014"],
            run: body!(push_to_every_device),
        },
        Case {
            id: "oc.flow-a.terminal-status-is-final",
            title: "settled, declined and cancelled payments keep status, failure reason and receipt whatever is asked of them afterwards",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-020"],
            run: body!(terminal_status_is_final),
        },
        Case {
            id: "oc.flow-a.racing-decisions",
            title: "a confirmation, a decline from a second device and a cancellation sent at once: one wins, the others are answered for the winner's status, money moves once",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-021"],
            run: body!(racing_decisions),
        },
    ]
}

/// How many devices the push case pairs: one more than a secure-link push may address
/// (`MAX_PUSH_DEVICES`, OMPP-MSG-009), so that the NS must split its pushes.
const DEVICES: usize = 17;

/// Pairs one more device with `customer_id` and connects to `DeviceService` as it.
pub(super) async fn pair(
    target: &Target,
    checks: &Checks,
    customer_id: &str,
) -> Result<(String, DeviceServiceClient<Channel>), Abort> {
    let csr = checks.setup("generate a device key and CSR", generate_csr("device"))?;
    let mut registration = target.registration(checks).await?;
    let paired = checks.setup_call(
        "PairDevice",
        registration
            .pair_device(pb::PairDeviceRequest {
                customer_id: customer_id.into(),
                password: PASSWORD.into(),
                device_name: "conformance device".into(),
                csr_der: csr.csr_der,
                idempotency_key: target.key("pair"),
            })
            .await,
    )?;
    let credential = Credential {
        cert_pem: cert_der_to_pem(&paired.certificate_der),
        key_pem: csr.key_pem,
    };
    let channel = checks.setup(
        "connect to DeviceService with the paired device's certificate",
        target.channel(&target.mobile_url, Some(&credential)).await,
    )?;
    Ok((paired.device_id, DeviceServiceClient::new(channel)))
}

/// The first event on `stream` about `payment_id` of the wanted kind (a pushed request, or a
/// notice), skipping others, before `deadline`; or why there is none.
async fn event_about(
    stream: &mut tonic::Streaming<pb::SubscribeResponse>,
    payment_id: &str,
    notice: bool,
    deadline: tokio::time::Instant,
) -> Result<Event, String> {
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => return Err("nothing about the payment in time".into()),
            Ok(Err(status)) => {
                return Err(format!("the stream failed: {}", describe_status(&status)));
            }
            Ok(Ok(None)) => return Err("the stream ended".into()),
            Ok(Ok(Some(pb::SubscribeResponse { event: Some(event) }))) => match &event {
                Event::PaymentRequest(r) if !notice && r.payment_id == payment_id => {
                    return Ok(event);
                }
                Event::Notice(n) if notice && n.payment_id == payment_id => return Ok(event),
                _ => {}
            },
            Ok(Ok(Some(_))) => {}
        }
    }
}

fn status_name(status: i32) -> String {
    pb::PaymentStatus::try_from(status)
        .map(|s| short_name(s.as_str_name()))
        .unwrap_or_else(|_| format!("unknown status {status}"))
}

fn reason_name(reason: i32) -> String {
    R::try_from(reason)
        .map(|r| short_name(r.as_str_name()))
        .unwrap_or_else(|_| format!("unknown reason {reason}"))
}

/// The pushed request a payment calls for (OMPP-FLA-005), `merchant_name` aside.
fn pushed_for(payment: &pb::Payment) -> String {
    format!(
        "{:?}",
        (
            &payment.payment_id,
            &payment.merchant_id,
            &payment.amount,
            &payment.items,
            &payment.merchant_reference,
            &payment.expires_at,
            payment.attempts_left,
        )
    )
}

/// The notice each device must get, and how each device's notice compares with it.
fn notices_match(
    checks: &Checks,
    requirement: &str,
    description: &str,
    expected: &str,
    got: Vec<Result<Event, String>>,
) {
    let actual: Vec<String> = got
        .into_iter()
        .map(|event| match event {
            Ok(Event::Notice(n)) => format!(
                "{} {} receipt={} delta={:?}",
                status_name(n.status),
                reason_name(n.reason),
                n.receipt
                    .map_or_else(|| "none".to_owned(), |r| r.payment_id),
                n.wallet_delta.map(|m| m.minor_units),
            ),
            Ok(other) => format!("another event: {other:?}"),
            Err(why) => why,
        })
        .collect();
    let wrong: Vec<(usize, &String)> = actual
        .iter()
        .enumerate()
        .filter(|(_, a)| a.as_str() != expected)
        .collect();
    checks.record(
        requirement,
        description,
        format!("on all {} devices: {expected}", actual.len()),
        if wrong.is_empty() {
            format!("on all {} devices: {expected}", actual.len())
        } else {
            format!(
                "{} device(s) differ (index, notice): {wrong:?}",
                wrong.len()
            )
        },
        wrong.is_empty(),
    );
}

async fn push_to_every_device(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 5_000).await?;
    let mut devices = vec![ana.device.clone()];
    for _ in 1..DEVICES {
        let (_, device) = pair(target, checks, &ana.customer_id).await?;
        devices.push(device);
    }
    let mut served = 0;
    let mut streams = Vec::new();
    for device in &mut devices {
        if device
            .get_wallet_balance(pb::GetWalletBalanceRequest {})
            .await
            .is_ok()
        {
            served += 1;
        }
        streams.push(checks.setup_call(
            "Subscribe",
            device.subscribe(pb::SubscribeRequest::default()).await,
        )?);
    }
    checks.equal(
        "OMPP-REG-009",
        "every paired device is served by DeviceService with its certificate",
        DEVICES,
        served,
    );

    let mut merchant = target.merchant(checks).await?;
    let payment = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, 1234, &target.key("multi")))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    for stream in &mut streams {
        got.push(event_about(stream, &payment.payment_id, false, deadline).await);
    }
    let reached = got.iter().filter(|e| e.is_ok()).count();
    checks.equal(
        "OMPP-REG-009",
        "the pushed request reaches every paired device, whatever their number",
        DEVICES,
        reached,
    );
    let expected = pushed_for(&payment);
    let wrong: Vec<String> = got
        .iter()
        .filter_map(|event| match event {
            Ok(Event::PaymentRequest(r)) => {
                let as_payment = pb::Payment {
                    payment_id: r.payment_id.clone(),
                    merchant_id: r.merchant_id.clone(),
                    amount: r.amount.clone(),
                    items: r.items.clone(),
                    merchant_reference: r.merchant_reference.clone(),
                    expires_at: r.expires_at,
                    attempts_left: r.attempts_left,
                    ..pb::Payment::default()
                };
                let fields = pushed_for(&as_payment);
                if fields != expected {
                    Some(fields)
                } else if r.merchant_name.is_empty() {
                    Some("no merchant_name".to_owned())
                } else {
                    None
                }
            }
            _ => None,
        })
        .collect();
    checks.record(
        "OMPP-FLA-005",
        "each pushed request carries the payment's id, merchant, amount, items, reference, expiry and attempts, and a merchant name",
        expected,
        if wrong.is_empty() {
            "as expected".to_owned()
        } else {
            format!("{wrong:?}")
        },
        wrong.is_empty(),
    );

    let last = devices.len() - 1;
    checks.setup_call(
        "DeclinePayment from the last device",
        devices[last]
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    for stream in &mut streams {
        got.push(event_about(stream, &payment.payment_id, true, deadline).await);
    }
    notices_match(
        checks,
        "OMPP-FLA-014",
        "every device gets the DECLINED notice with reason DECLINED_BY_CUSTOMER, without receipt or wallet delta",
        "DECLINED DECLINED_BY_CUSTOMER receipt=none delta=None",
        got,
    );

    let second = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(target, &ana.customer_id, 500, &target.key("multi")))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let settled = checks.setup_call(
        "ConfirmPayment from the first device",
        devices[0]
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: second.payment_id.clone(),
                amount: Some(money(500)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut receipts_equal = true;
    for stream in &mut streams {
        let event = event_about(stream, &second.payment_id, true, deadline).await;
        if let Ok(Event::Notice(n)) = &event {
            receipts_equal &= n.receipt == settled.receipt;
        }
        got.push(event);
    }
    notices_match(
        checks,
        "OMPP-FLA-014",
        "every device gets the SETTLED notice with the receipt and the negated amount as wallet delta",
        &format!(
            "SETTLED UNSPECIFIED receipt={} delta=Some(-500)",
            second.payment_id
        ),
        got,
    );
    checks.record(
        "OMPP-FLA-014",
        "the notices' receipt is the payment's receipt",
        "equal",
        if receipts_equal { "equal" } else { "different" },
        receipts_equal,
    );
    Ok(())
}

/// `(status, failure_reason, receipt)` of a payment, as the merchant sees it.
async fn standing(target: &Target, checks: &Checks, payment_id: &str) -> Result<String, Abort> {
    let mut merchant = target.merchant(checks).await?;
    let payment = checks
        .setup_call(
            "GetPayment",
            merchant
                .get_payment(pb::GetPaymentRequest {
                    merchant_id: target.merchant_id.clone(),
                    payment_id: payment_id.into(),
                })
                .await,
        )?
        .payment
        .unwrap_or_default();
    Ok(format!(
        "{} {} {:?}",
        status_name(payment.status),
        reason_name(payment.failure_reason),
        payment.receipt
    ))
}

async fn terminal_status_is_final(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 5_000).await?;
    let mut merchant = target.merchant(checks).await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            checks
                .setup_call(
                    "CreatePayment",
                    merchant
                        .create_payment(create(target, &ana.customer_id, 300, &target.key("final")))
                        .await,
                )?
                .payment
                .unwrap_or_default()
                .payment_id,
        );
    }
    let [settled, declined, cancelled] = [ids[0].clone(), ids[1].clone(), ids[2].clone()];
    checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: settled.clone(),
                amount: Some(money(300)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    checks.setup_call(
        "DeclinePayment",
        ana.device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: declined.clone(),
            })
            .await,
    )?;
    checks.setup_call(
        "CancelPayment",
        merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: cancelled.clone(),
            })
            .await,
    )?;
    for (payment_id, label) in [
        (&settled, "SETTLED"),
        (&declined, "DECLINED"),
        (&cancelled, "CANCELLED"),
    ] {
        let before = standing(target, checks, payment_id).await?;
        // Everything a party may ask of a payment; the answers are not judged here.
        let _ = merchant
            .cancel_payment(pb::CancelPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment_id.clone(),
            })
            .await;
        let _ = ana
            .device
            .decline_payment(pb::DeclinePaymentRequest {
                payment_id: payment_id.clone(),
            })
            .await;
        for password in [format!("{PASSWORD} but wrong"), PASSWORD.to_owned()] {
            let _ = ana
                .device
                .confirm_payment(pb::ConfirmPaymentRequest {
                    payment_id: payment_id.clone(),
                    amount: Some(money(300)),
                    password,
                })
                .await;
        }
        let after = standing(target, checks, payment_id).await?;
        checks.equal(
            "OMPP-FLA-020",
            format!("a {label} payment keeps status, failure reason and receipt after cancel, decline and confirmations"),
            before,
            after,
        );
    }
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-FLA-020",
        "only the settled payment was ever debited",
        5_000 - 300,
        balance,
    );
    Ok(())
}

/// What one racer got: the status of an OK answer, or the error reason.
fn answer<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
    status_of: impl Fn(&T) -> i32,
) -> String {
    match result {
        Ok(response) => format!("OK {}", status_name(status_of(response.get_ref()))),
        Err(status) => describe_status(&status),
    }
}

/// `(status, failure_reason)` of a payment without a transcript step: which decision wins a
/// race varies from run to run, and transcripts are kept as snapshots.
async fn quiet_standing(
    merchant: &mut pb::merchant_payment_service_client::MerchantPaymentServiceClient<Channel>,
    target: &Target,
    checks: &Checks,
    payment_id: &str,
) -> Result<String, Abort> {
    let payment = merchant
        .get_payment(pb::GetPaymentRequest {
            merchant_id: target.merchant_id.clone(),
            payment_id: payment_id.into(),
        })
        .await
        .map_err(|status| checks.fail("GetPayment", describe_status(&status)))?
        .into_inner()
        .payment
        .unwrap_or_default();
    Ok(format!(
        "{} {}",
        status_name(payment.status),
        reason_name(payment.failure_reason)
    ))
}

/// An answer a case does not judge.
const NOT_JUDGED: &str = "(not judged)";

async fn racing_decisions(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const CENTS: i64 = 100;
    let ana = target.customer(checks, 10_000).await?;
    let (_, mut second) = pair(target, checks, &ana.customer_id).await?;
    let mut merchant = target.merchant(checks).await?;
    let mut canceller = target.merchant(checks).await?;
    let mut settled = 0;
    // Which of (confirm, decline, cancel) race in each round.
    let rounds = [
        (true, true, false),
        (true, false, true),
        (false, true, true),
        (true, true, true),
    ];
    for (round, (with_confirm, with_decline, with_cancel)) in rounds.into_iter().enumerate() {
        let round = round + 1;
        let payment_id = checks
            .setup_call(
                "CreatePayment",
                merchant
                    .create_payment(create(target, &ana.customer_id, CENTS, &target.key("race")))
                    .await,
            )?
            .payment
            .unwrap_or_default()
            .payment_id;
        let mut first = ana.device.clone();
        let confirm = async {
            if with_confirm {
                let result = first
                    .confirm_payment(pb::ConfirmPaymentRequest {
                        payment_id: payment_id.clone(),
                        amount: Some(money(CENTS)),
                        password: PASSWORD.into(),
                    })
                    .await;
                Some(answer(result, |r| r.status))
            } else {
                None
            }
        };
        let decline = async {
            if with_decline {
                let result = second
                    .decline_payment(pb::DeclinePaymentRequest {
                        payment_id: payment_id.clone(),
                    })
                    .await;
                Some(answer(result, |r| r.status))
            } else {
                None
            }
        };
        let cancel = async {
            if with_cancel {
                let result = canceller
                    .cancel_payment(pb::CancelPaymentRequest {
                        merchant_id: target.merchant_id.clone(),
                        payment_id: payment_id.clone(),
                    })
                    .await;
                Some(answer(result, |r| {
                    r.payment.as_ref().map_or(0, |p| p.status)
                }))
            } else {
                None
            }
        };
        let answers = tokio::join!(confirm, decline, cancel);
        let got = quiet_standing(&mut merchant, target, checks, &payment_id).await?;
        let status = got.split(' ').next().unwrap_or_default().to_owned();
        // The answers OMPP-FLA-013 and OMPP-FLA-015 give each loser, by the winner's status.
        let expected = match status.as_str() {
            "SETTLED" => {
                settled += 1;
                ("OK SETTLED", "INVALID_STATE", "INVALID_STATE")
            }
            // CancelPayment of a DECLINED payment is not judged: OMPP-FLA-013 says
            // INVALID_STATE, chapter 08 lists DECLINED_BY_CUSTOMER among the reasons a final
            // state fails with forever (the reference answers the latter).
            "DECLINED" => ("DECLINED_BY_CUSTOMER", "OK DECLINED", NOT_JUDGED),
            "CANCELLED" => (
                "CANCELLED_BY_MERCHANT",
                "CANCELLED_BY_MERCHANT",
                "OK CANCELLED",
            ),
            _ => ("?", "?", "?"),
        };
        let won_by_a_racer = matches!(
            (status.as_str(), with_confirm, with_decline, with_cancel),
            ("SETTLED", true, _, _) | ("DECLINED", _, true, _) | ("CANCELLED", _, _, true)
        );
        checks.record(
            "OMPP-FLA-021",
            format!("round {round}: the payment ends in the status of one of the racing decisions"),
            "the status one racing decision sets",
            got.clone(),
            won_by_a_racer,
        );
        let keep = |on: bool, s: &str| on.then(|| s.to_owned());
        let (confirmed, declined, mut cancelled) = answers;
        if expected.2 == NOT_JUDGED {
            cancelled = cancelled.map(|_| NOT_JUDGED.to_owned());
        }
        checks.equal(
            "OMPP-FLA-021",
            format!("round {round}: each racing decision is answered as OMPP-FLA-013/015 say for the winner's status"),
            (
                keep(with_confirm, expected.0),
                keep(with_decline, expected.1),
                keep(with_cancel, expected.2),
            ),
            (confirmed, declined, cancelled),
        );
    }
    let balance = ana
        .device
        .clone()
        .get_wallet_balance(pb::GetWalletBalanceRequest {})
        .await
        .map_err(|status| checks.fail("GetWalletBalance", describe_status(&status)))?
        .into_inner()
        .balances
        .iter()
        .find(|m| m.currency == crate::target::CURRENCY)
        .map_or(0, |m| m.minor_units);
    checks.equal(
        "OMPP-FLA-021",
        "the wallet is debited once per settled round, and only then",
        10_000 - CENTS * settled,
        balance,
    );
    Ok(())
}
