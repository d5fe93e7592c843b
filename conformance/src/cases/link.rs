//! The secure-link firewall, tested from outside (OMPP-LINK-001 to OMPP-LINK-008): the suite
//! calls `NetworkLinkService` with a link identity the network server allow-lists as a mobile
//! server, and `MobileLinkService` with one the mobile server allow-lists as a network server
//! (OMPP-CONF-009). The relays it sends act only on its own customers.

use std::time::{Duration, SystemTime};

use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::mobile_link_service_client::MobileLinkServiceClient;
use pb::network_link_service_client::NetworkLinkServiceClient;
use tonic::transport::Channel;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::target::{Credential, LinkSupport, PASSWORD, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.link.replay",
            title: "a relay whose (sender, message id) was seen before fails with LINK_REPLAY",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-004"],
            run: body!(replay),
        },
        Case {
            id: "oc.link.stale-send-time",
            title: "a relay sent 120 s in the past or future fails with LINK_STALE_MESSAGE; 10 s off is accepted",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-003"],
            run: body!(stale_send_time),
        },
        Case {
            id: "oc.link.sender-and-allow-list",
            title: "a sender_id other than the TLS identity fails with LINK_SENDER_MISMATCH; an identity on no allow-list with PEER_NOT_ALLOWED",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-001"],
            run: body!(sender_and_allow_list),
        },
        Case {
            id: "oc.link.envelope-required",
            title: "a relay without an envelope, or with a too short message id, fails with INVALID_FIELD naming it",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-002"],
            run: body!(envelope_required),
        },
        Case {
            id: "oc.link.oversized",
            title: "a relay over 64 KiB fails with MESSAGE_TOO_LARGE",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-006"],
            run: body!(oversized),
        },
        Case {
            id: "oc.link.rejected-relay-has-no-effect",
            title: "a confirmation the firewall rejects consumes no password attempt and changes no payment",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-007"],
            run: body!(rejected_relay_has_no_effect),
        },
        Case {
            id: "oc.link.mobile-side-firewall",
            title: "MobileLinkService applies the same firewall: replay, stale send time, sender mismatch",
            role: OC,
            profile: None,
            requirements: &["OMPP-LINK-008"],
            run: body!(mobile_side_firewall),
        },
    ]
}

pub(super) fn link<'a>(target: &'a Target, checks: &Checks) -> Result<&'a LinkSupport, Abort> {
    checks.setup(
        "the secure link's endpoints and identities (endpoints.network_link, endpoints.mobile_link, tls.link; OMPP-CONF-009)",
        target
            .link
            .as_ref()
            .ok_or("the manifest does not give them"),
    )
}

pub(super) async fn channel(
    target: &Target,
    checks: &Checks,
    url: &str,
    anchors: &str,
    identity: &Credential,
) -> Result<Channel, Abort> {
    checks.setup(
        "connect to the secure link with a link identity",
        target.channel_with(url, anchors, Some(identity)).await,
    )
}

pub(super) async fn network_link(
    target: &Target,
    checks: &Checks,
    identity: &Credential,
) -> Result<NetworkLinkServiceClient<Channel>, Abort> {
    let link = link(target, checks)?;
    let channel = channel(
        target,
        checks,
        &link.network_link_url,
        &link.anchors_pem,
        identity,
    )
    .await?;
    Ok(NetworkLinkServiceClient::new(channel))
}

/// An envelope from `sender` sent `offset` from now (negative: in the past).
pub(super) fn envelope(sender: &str, message_id: &str, offset_secs: i64) -> pb::LinkEnvelope {
    let now = SystemTime::now();
    let at = if offset_secs >= 0 {
        now + Duration::from_secs(offset_secs.unsigned_abs())
    } else {
        now - Duration::from_secs(offset_secs.unsigned_abs())
    };
    pb::LinkEnvelope {
        sender_id: sender.to_owned(),
        message_id: message_id.to_owned(),
        sent_at: Some(prost_types::Timestamp::from(at)),
    }
}

fn balance_relay(
    envelope: Option<pb::LinkEnvelope>,
    device_id: &str,
) -> pb::RelayGetWalletBalanceRequest {
    pb::RelayGetWalletBalanceRequest {
        envelope,
        device_id: device_id.to_owned(),
        request: Some(pb::GetWalletBalanceRequest {}),
    }
}

async fn replay(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    let id = target.key("link-replay");
    let first = client
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.as_mobile_id, &id, 0)),
            &ana.device_id,
        ))
        .await;
    checks.succeeds(
        "OMPP-LINK-004",
        "a relay with a new message id succeeds",
        first,
    )?;
    let again = client
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.as_mobile_id, &id, 0)),
            &ana.device_id,
        ))
        .await;
    checks.reason(
        "OMPP-LINK-004",
        "the same (sender, message id) again fails with LINK_REPLAY",
        again,
        R::LinkReplay,
    );
    let fresh = client
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.as_mobile_id, &target.key("link-replay"), 0)),
            &ana.device_id,
        ))
        .await;
    checks.succeeds(
        "OMPP-LINK-004",
        "the same content under a new message id succeeds",
        fresh,
    )?;
    Ok(())
}

async fn stale_send_time(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    for (offset, description) in [(-120, "sent 120 s ago"), (120, "sent 120 s in the future")] {
        let result = client
            .relay_get_wallet_balance(balance_relay(
                Some(envelope(
                    &link.as_mobile_id,
                    &target.key("link-stale"),
                    offset,
                )),
                &ana.device_id,
            ))
            .await;
        checks.reason(
            "OMPP-LINK-003",
            format!("a relay {description} fails with LINK_STALE_MESSAGE"),
            result,
            R::LinkStaleMessage,
        );
    }
    let near = client
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.as_mobile_id, &target.key("link-stale"), -10)),
            &ana.device_id,
        ))
        .await;
    checks.succeeds("OMPP-LINK-003", "a relay sent 10 s ago is accepted", near)?;
    Ok(())
}

async fn sender_and_allow_list(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    let mismatch = client
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.unlisted_id, &target.key("link-sender"), 0)),
            &ana.device_id,
        ))
        .await;
    checks.reason(
        "OMPP-LINK-001",
        "an envelope naming another sender than the TLS identity fails with LINK_SENDER_MISMATCH",
        mismatch,
        R::LinkSenderMismatch,
    );
    let mut unlisted = network_link(target, checks, &link.unlisted).await?;
    let refused = unlisted
        .relay_get_wallet_balance(balance_relay(
            Some(envelope(&link.unlisted_id, &target.key("link-unlisted"), 0)),
            &ana.device_id,
        ))
        .await;
    checks.reason(
        "OMPP-LINK-001",
        "a link identity on no allow-list fails with PEER_NOT_ALLOWED",
        refused,
        R::PeerNotAllowed,
    );
    Ok(())
}

async fn envelope_required(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    for (envelope, field, description) in [
        (None, "envelope", "a relay without an envelope"),
        (
            Some(envelope(&link.as_mobile_id, "short", 0)),
            "envelope.message_id",
            "a relay with a 5-character message id",
        ),
    ] {
        let result = client
            .relay_get_wallet_balance(balance_relay(envelope, &ana.device_id))
            .await;
        if let Some(error) = checks.reason(
            "OMPP-LINK-002",
            format!("{description} fails with INVALID_FIELD"),
            result,
            R::InvalidField,
        ) {
            checks.equal(
                "OMPP-LINK-002",
                format!("{description}: the error names the field"),
                Some(field),
                error.metadata.get("field").map(String::as_str),
            );
        }
    }
    Ok(())
}

async fn oversized(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use prost::Message;
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let channel = channel(
        target,
        checks,
        &link.network_link_url,
        &link.anchors_pem,
        &link.as_mobile,
    )
    .await?;
    let mut body = balance_relay(
        Some(envelope(&link.as_mobile_id, &target.key("link-big"), 0)),
        &ana.device_id,
    )
    .encode_to_vec();
    super::security::append_unknown_field(&mut body, 70 * 1024);
    let result = super::security::raw_call(
        channel,
        "/ompp.v1.NetworkLinkService/RelayGetWalletBalance",
        body,
    )
    .await;
    checks.reason(
        "OMPP-LINK-006",
        "a 70 KiB relay fails with MESSAGE_TOO_LARGE",
        result,
        R::MessageTooLarge,
    );
    Ok(())
}

async fn rejected_relay_has_no_effect(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 1_000).await?;
    let mut merchant = target.merchant(checks).await?;
    let payment = checks
        .setup_call(
            "CreatePayment",
            merchant
                .create_payment(create(
                    target,
                    &ana.customer_id,
                    300,
                    &target.key("link-effect"),
                ))
                .await,
        )?
        .payment
        .unwrap_or_default();
    let mut client = network_link(target, checks, &link.as_mobile).await?;
    let stale = client
        .relay_confirm_payment(pb::RelayConfirmPaymentRequest {
            envelope: Some(envelope(
                &link.as_mobile_id,
                &target.key("link-effect"),
                -120,
            )),
            device_id: ana.device_id.clone(),
            request: Some(pb::ConfirmPaymentRequest {
                payment_id: payment.payment_id.clone(),
                amount: Some(money(300)),
                password: format!("{PASSWORD} but wrong"),
            }),
        })
        .await;
    checks.reason(
        "OMPP-LINK-007",
        "a stale confirmation with a wrong password fails with LINK_STALE_MESSAGE",
        stale,
        R::LinkStaleMessage,
    );
    let after = checks.setup_call(
        "GetPayment",
        merchant
            .get_payment(pb::GetPaymentRequest {
                merchant_id: target.merchant_id.clone(),
                payment_id: payment.payment_id.clone(),
            })
            .await,
    )?;
    let after = after.payment.unwrap_or_default();
    checks.equal(
        "OMPP-LINK-007",
        "the rejected confirmation consumed no password attempt",
        payment.attempts_left,
        after.attempts_left,
    );
    checks.equal(
        "OMPP-LINK-007",
        "the payment is still waiting for the customer",
        payment.status,
        after.status,
    );
    Ok(())
}

async fn mobile_side_firewall(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let channel = channel(
        target,
        checks,
        &link.mobile_link_url,
        &link.anchors_pem,
        &link.as_network,
    )
    .await?;
    let mut client = MobileLinkServiceClient::new(channel);
    let notice = |envelope: pb::LinkEnvelope| pb::PushNoticeRequest {
        envelope: Some(envelope),
        customer_id: ana.customer_id.clone(),
        device_ids: vec![ana.device_id.clone()],
        notice: Some(pb::DeviceNotice {
            payment_id: "pay_conformance_notice".into(),
            status: pb::PaymentStatus::Expired.into(),
            reason: pb::ErrorReason::Expired.into(),
            ..pb::DeviceNotice::default()
        }),
    };
    let id = target.key("link-mobile");
    let first = client
        .push_notice(notice(envelope(&link.as_network_id, &id, 0)))
        .await;
    checks.succeeds(
        "OMPP-LINK-008",
        "a notice from the allow-listed network server is accepted",
        first,
    )?;
    let again = client
        .push_notice(notice(envelope(&link.as_network_id, &id, 0)))
        .await;
    checks.reason(
        "OMPP-LINK-008",
        "the same message id again fails with LINK_REPLAY",
        again,
        R::LinkReplay,
    );
    let stale = client
        .push_notice(notice(envelope(
            &link.as_network_id,
            &target.key("link-mobile"),
            -120,
        )))
        .await;
    checks.reason(
        "OMPP-LINK-008",
        "a notice sent 120 s ago fails with LINK_STALE_MESSAGE",
        stale,
        R::LinkStaleMessage,
    );
    let mismatch = client
        .push_notice(notice(envelope(
            &link.unlisted_id,
            &target.key("link-mobile"),
            0,
        )))
        .await;
    checks.reason(
        "OMPP-LINK-008",
        "a notice naming another sender fails with LINK_SENDER_MISMATCH",
        mismatch,
        R::LinkSenderMismatch,
    );
    Ok(())
}
