//! Wire rules of the operation center seen from every side it serves: an RPC it does not
//! implement, bounded repeated fields and enum values on the secure link and `DeviceService`,
//! and the relay of device requests by the mobile server (what the device sees must be what
//! the network server answered).

use std::time::Duration;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::mobile_link_service_client::MobileLinkServiceClient;
use tonic::transport::Channel;

use super::link::{channel, envelope, link, network_link};
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{Customer, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.ver.unimplemented-rpc",
            title: "a method the service does not have is answered UNIMPLEMENTED on MerchantPaymentService, DeviceService and RegistrationService",
            role: OC,
            profile: None,
            requirements: &["OMPP-VER-006"],
            run: body!(unimplemented_rpc),
        },
        Case {
            id: "oc.msg.repeated-field-bounds",
            title: "more than 256 known payment ids, 17 wallet currencies, and a secure-link push to 17 devices or to none fail with INVALID_FIELD",
            role: OC,
            profile: None,
            requirements: &["OMPP-MSG-009"],
            run: body!(repeated_field_bounds),
        },
        Case {
            id: "oc.msg.notice-enum-values",
            title: "a pushed notice with an undefined status number, no status for a payment, a reason on SETTLED or none on EXPIRED fails with INVALID_FIELD",
            role: OC,
            profile: None,
            requirements: &["OMPP-MSG-004"],
            run: body!(notice_enum_values),
        },
        Case {
            id: "oc.link.relay-needs-a-paired-device",
            title: "a relayed request whose device_id is no paired device fails with DEVICE_NOT_PAIRED",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-012"],
            run: body!(relay_needs_a_paired_device),
        },
        Case {
            id: "oc.link.device-sees-the-network-answer",
            title: "DeviceService answers, and fails, exactly as the network server answers the same request relayed for that device",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-011", "OMPP-ERR-010"],
            run: body!(device_sees_the_network_answer),
        },
    ]
}

/// The gRPC code a raw call to `method` got.
async fn code_of(channel: Channel, method: &str) -> String {
    match super::security::raw_call(channel, method, Vec::new()).await {
        Ok(_) => "OK".to_owned(),
        Err(status) => format!("{:?}", status.code()),
    }
}

async fn unimplemented_rpc(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let merchant = checks.setup(
        "connect to MerchantPaymentService with the merchant certificate",
        target
            .channel(&target.network_url, Some(&target.merchant))
            .await,
    )?;
    let device = checks.setup(
        "connect to DeviceService with the paired device's certificate",
        target
            .channel(&target.mobile_url, Some(&ana.credential))
            .await,
    )?;
    let public = checks.setup(
        "connect to RegistrationService",
        target.channel(&target.network_url, None).await,
    )?;
    for (channel, method) in [
        (merchant, "/ompp.v1.MerchantPaymentService/RefundPayment"),
        (device, "/ompp.v1.DeviceService/RequestRefund"),
        (public, "/ompp.v1.RegistrationService/UnpairDevice"),
    ] {
        checks.equal(
            "OMPP-VER-006",
            format!("{method} (not in the service) is answered UNIMPLEMENTED"),
            "Unimplemented".to_owned(),
            code_of(channel, method).await,
        );
    }
    Ok(())
}

/// The first answer of a server stream: the error of the call, or of its first message.
async fn stream_error<T: std::fmt::Debug>(
    opened: Result<tonic::Response<tonic::Streaming<T>>, tonic::Status>,
) -> Result<tonic::Response<()>, tonic::Status> {
    match opened {
        Err(status) => Err(status),
        Ok(response) => {
            let mut stream = response.into_inner();
            match tokio::time::timeout(Duration::from_millis(1500), stream.message()).await {
                Ok(Err(status)) => Err(status),
                // Open and silent, or an event: the request was accepted.
                _ => Ok(tonic::Response::new(())),
            }
        }
    }
}

/// `count` payment ids that look valid and exist nowhere. One run-unique key with a suffix
/// each: the key counter also numbers the suite's phone numbers, so it is not spent in bulk.
fn made_up_ids(target: &Target, label: &str, count: usize) -> Vec<String> {
    let base = target.key(label);
    (0..count).map(|n| format!("{base}-{n}")).collect()
}

async fn mobile_link(
    target: &Target,
    checks: &Checks,
) -> Result<MobileLinkServiceClient<Channel>, Abort> {
    let link = link(target, checks)?;
    let channel = channel(
        target,
        checks,
        &link.mobile_link_url,
        &link.anchors_pem,
        &link.as_network,
    )
    .await?;
    Ok(MobileLinkServiceClient::new(channel))
}

async fn repeated_field_bounds(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut ana = target.customer(checks, 0).await?;
    let at_limit = ana
        .device
        .subscribe(pb::SubscribeRequest {
            known_payment_ids: made_up_ids(target, "known", 256),
        })
        .await;
    checks.succeeds(
        "OMPP-MSG-009",
        "Subscribe with 256 known payment ids (the limit) is accepted",
        stream_error(at_limit).await,
    )?;
    let over = ana
        .device
        .subscribe(pb::SubscribeRequest {
            known_payment_ids: made_up_ids(target, "known", 257),
        })
        .await;
    checks.reason(
        "OMPP-MSG-009",
        "Subscribe with 257 known payment ids fails",
        stream_error(over).await,
        R::InvalidField,
    );

    let mut registration = target.registration(checks).await?;
    let currencies = [
        "EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "CAD", "AUD",
        "NZD", "SGD", "HKD", "ZAR",
    ];
    checks.reason(
        "OMPP-MSG-009",
        "RegisterCustomer with 17 wallet currencies fails",
        registration
            .register_customer(pb::RegisterCustomerRequest {
                display_name: "Conformance Customer".into(),
                phone_number: target.phone(),
                password: PASSWORD.into(),
                wallet_currencies: currencies.iter().map(|c| (*c).to_owned()).collect(),
                bank_account: None,
                idempotency_key: target.key("currencies"),
            })
            .await,
        R::InvalidField,
    );

    let link = link(target, checks)?;
    let mut mobile = mobile_link(target, checks).await?;
    for (devices, description) in [
        (made_up_ids(target, "dev", 17), "to 17 devices"),
        (Vec::new(), "to no device"),
    ] {
        let push = mobile
            .push_notice(pb::PushNoticeRequest {
                envelope: Some(envelope(&link.as_network_id, &target.key("bounds"), 0)),
                customer_id: ana.customer_id.clone(),
                device_ids: devices.clone(),
                notice: Some(pb::DeviceNotice {
                    wallet_delta: Some(money(1)),
                    ..pb::DeviceNotice::default()
                }),
            })
            .await;
        checks.reason(
            "OMPP-MSG-009",
            format!("PushNotice {description} fails"),
            push,
            R::InvalidField,
        );
        let push = mobile
            .push_payment_request(pb::PushPaymentRequestRequest {
                envelope: Some(envelope(&link.as_network_id, &target.key("bounds"), 0)),
                customer_id: ana.customer_id.clone(),
                device_ids: devices,
                payment_request: Some(pb::PushedPaymentRequest {
                    payment_id: target.key("pay"),
                    merchant_id: target.merchant_id.clone(),
                    merchant_name: "Conformance Merchant".into(),
                    amount: Some(money(100)),
                    items: vec![pb::LineItem {
                        product_code: "SKU-1".into(),
                        description: "Coffee".into(),
                        quantity: 1,
                    }],
                    merchant_reference: "conformance".into(),
                    expires_at: Some(prost_types::Timestamp::from(
                        std::time::SystemTime::now() + Duration::from_secs(120),
                    )),
                    attempts_left: 3,
                }),
            })
            .await;
        checks.reason(
            "OMPP-MSG-009",
            format!("PushPaymentRequest {description} fails"),
            push,
            R::InvalidField,
        );
    }
    Ok(())
}

async fn notice_enum_values(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let link = link(target, checks)?;
    let mut mobile = mobile_link(target, checks).await?;
    let payment_id = target.key("notice");
    let notice = |status: i32, reason: i32| pb::DeviceNotice {
        payment_id: payment_id.clone(),
        status,
        reason,
        ..pb::DeviceNotice::default()
    };
    let expired = pb::PaymentStatus::Expired as i32;
    let control = mobile
        .push_notice(pb::PushNoticeRequest {
            envelope: Some(envelope(&link.as_network_id, &target.key("enum"), 0)),
            customer_id: ana.customer_id.clone(),
            device_ids: vec![ana.device_id.clone()],
            notice: Some(notice(expired, R::Expired as i32)),
        })
        .await;
    checks.succeeds(
        "OMPP-MSG-004",
        "control: an EXPIRED notice with reason EXPIRED is accepted",
        control,
    )?;
    for (notice, description) in [
        (
            notice(97, R::Expired as i32),
            "a status number ompp.v1 does not define (97)",
        ),
        (
            notice(pb::PaymentStatus::Unspecified as i32, R::Unspecified as i32),
            "status UNSPECIFIED on a notice about a payment",
        ),
        (
            notice(pb::PaymentStatus::Settled as i32, R::Expired as i32),
            "a reason on a SETTLED notice",
        ),
        (
            notice(expired, R::Unspecified as i32),
            "reason UNSPECIFIED on an EXPIRED notice",
        ),
        (
            notice(expired, 99_999),
            "a reason number ompp.v1 does not define (99999)",
        ),
    ] {
        let result = mobile
            .push_notice(pb::PushNoticeRequest {
                envelope: Some(envelope(&link.as_network_id, &target.key("enum"), 0)),
                customer_id: ana.customer_id.clone(),
                device_ids: vec![ana.device_id.clone()],
                notice: Some(notice),
            })
            .await;
        checks.reason(
            "OMPP-MSG-004",
            format!("a notice with {description} fails"),
            result,
            R::InvalidField,
        );
    }
    Ok(())
}

async fn relay_needs_a_paired_device(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    let stranger = target.key("dev-unpaired");
    let balance = client
        .relay_get_wallet_balance(pb::RelayGetWalletBalanceRequest {
            envelope: Some(envelope(&link.as_mobile_id, &target.key("unpaired"), 0)),
            device_id: stranger.clone(),
            request: Some(pb::GetWalletBalanceRequest {}),
        })
        .await;
    checks.reason(
        "OMPP-LINK-012",
        "RelayGetWalletBalance for a device id that is no paired device fails",
        balance,
        R::DeviceNotPaired,
    );
    let top_up = client
        .relay_top_up_wallet(pb::RelayTopUpWalletRequest {
            envelope: Some(envelope(&link.as_mobile_id, &target.key("unpaired"), 0)),
            device_id: stranger,
            request: Some(pb::TopUpWalletRequest {
                amount: Some(money(100)),
                password: PASSWORD.into(),
                idempotency_key: target.key("unpaired"),
            }),
        })
        .await;
    checks.reason(
        "OMPP-LINK-012",
        "RelayTopUpWallet for a device id that is no paired device fails",
        top_up,
        R::DeviceNotPaired,
    );
    Ok(())
}

/// What a client may decide on in a failed answer (OMPP-ERR-003): code, reason, metadata and
/// field paths; or the whole answer of a success. A relayed answer's paths lose their leading
/// `request.` (OMPP-MSG-013), so that they compare with the device's.
fn decidable<T: std::fmt::Debug>(
    result: &Result<tonic::Response<T>, tonic::Status>,
    relayed: bool,
) -> String {
    let path = |p: &str| {
        if relayed {
            p.strip_prefix("request.").unwrap_or(p).to_owned()
        } else {
            p.to_owned()
        }
    };
    match result {
        Ok(response) => format!("OK {:?}", response.get_ref()),
        Err(status) => match ProtocolError::from_status(status) {
            Ok(error) => format!(
                "{:?} {:?} {:?} fields {:?}",
                status.code(),
                error.reason,
                error
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), if k == "field" { path(v) } else { v.clone() }))
                    .collect::<Vec<_>>(),
                error
                    .field_violations
                    .iter()
                    .map(|v| path(&v.field))
                    .collect::<Vec<_>>()
            ),
            Err(_) => describe_status(status),
        },
    }
}

async fn device_sees_the_network_answer(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let mut ana: Customer = target.customer(checks, 2_500).await?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    let stamp = |label: &str| Some(envelope(&link.as_mobile_id, &target.key(label), 0));

    let direct = ana
        .device
        .get_wallet_balance(pb::GetWalletBalanceRequest {})
        .await;
    let relayed = client
        .relay_get_wallet_balance(pb::RelayGetWalletBalanceRequest {
            envelope: stamp("same"),
            device_id: ana.device_id.clone(),
            request: Some(pb::GetWalletBalanceRequest {}),
        })
        .await
        .map(|r| tonic::Response::new(r.into_inner().response.unwrap_or_default()));
    checks.equal(
        "OMPP-LINK-011",
        "GetWalletBalance through the mobile server equals the network server's answer for the device",
        decidable(&relayed, true),
        decidable(&direct, false),
    );

    // Failures the network server decides: a field (with its path), an unknown payment, a
    // wrong password. None of them changes anything.
    let bad_amount = pb::TopUpWalletRequest {
        amount: Some(money(0)),
        password: PASSWORD.into(),
        idempotency_key: target.key("relay-err"),
    };
    let relayed = client
        .relay_top_up_wallet(pb::RelayTopUpWalletRequest {
            envelope: stamp("same"),
            device_id: ana.device_id.clone(),
            request: Some(bad_amount.clone()),
        })
        .await;
    let direct = ana.device.top_up_wallet(bad_amount).await;
    checks.equal(
        "OMPP-ERR-010",
        "TopUpWallet with amount 0: the device gets the network server's code, ErrorInfo and BadRequest paths",
        decidable(&relayed, true),
        decidable(&direct, false),
    );

    let unknown = pb::DeclinePaymentRequest {
        payment_id: target.key("nopay"),
    };
    let relayed = client
        .relay_decline_payment(pb::RelayDeclinePaymentRequest {
            envelope: stamp("same"),
            device_id: ana.device_id.clone(),
            request: Some(unknown.clone()),
        })
        .await;
    let direct = ana.device.decline_payment(unknown).await;
    checks.equal(
        "OMPP-ERR-010",
        "DeclinePayment of an unknown payment: the device gets the network server's error",
        decidable(&relayed, true),
        decidable(&direct, false),
    );

    let wrong = pb::TopUpWalletRequest {
        amount: Some(money(100)),
        password: format!("{PASSWORD} but wrong"),
        idempotency_key: target.key("relay-err"),
    };
    let relayed = client
        .relay_top_up_wallet(pb::RelayTopUpWalletRequest {
            envelope: stamp("same"),
            device_id: ana.device_id.clone(),
            request: Some(wrong.clone()),
        })
        .await;
    let mut other_key = wrong;
    other_key.idempotency_key = target.key("relay-err");
    let direct = ana.device.top_up_wallet(other_key).await;
    checks.equal(
        "OMPP-ERR-010",
        "TopUpWallet with a wrong password, the device gets the network server's error",
        decidable(&relayed, true),
        decidable(&direct, false),
    );
    let balance = ana.balance(checks).await?;
    checks.equal(
        "OMPP-LINK-011",
        "the failed requests, relayed or not, left the wallet as it was",
        2_500,
        balance,
    );
    Ok(())
}
