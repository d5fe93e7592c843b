//! Who may call what: merchant certificates and identities, foreign and expired certificates,
//! and the secure-link firewall (allow-list, sender, replay, skew).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use common::{Center, ENROLLMENT_TOKEN, create, reason};
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use ompp::types::{PartyIdentity, Role};
use ompp_server::pki::{Ca, Validity, cert_der_to_pem, generate_csr};
use pb::ErrorReason as R;

fn balance_request() -> pb::GetMerchantBalanceRequest {
    pb::GetMerchantBalanceRequest {
        merchant_id: "M-1042".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_id_must_match_the_certificate() {
    let center = Center::start().await;
    let ana = center.customer("+4915100000101", 0).await;
    let mut merchant = center.merchant().await;
    let mut request = create(&ana.customer_id, 100, "k1");
    request.merchant_id = "M-9999".into();
    assert_eq!(
        reason(merchant.create_payment(request).await),
        R::IdentityMismatch
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_calls_need_a_merchant_certificate() {
    let center = Center::start().await;
    let ca = center.pki.operator_ca.cert_pem();
    // No client certificate at all: the TLS session is allowed (registration is open), the call is not.
    let channel = center
        .channel(center.running().network_addr, &ca, None)
        .await
        .unwrap();
    let mut anonymous = MerchantPaymentServiceClient::new(channel);
    assert_eq!(
        reason(anonymous.get_merchant_balance(balance_request()).await),
        R::UnauthenticatedPeer
    );
    // A valid certificate of another role (the mobile server's) is not a merchant.
    let mut other = center.merchant_as(&center.pki.mobile).await;
    assert_eq!(
        reason(other.get_merchant_balance(balance_request()).await),
        R::PeerNotAllowed
    );
    // OMPP-TLS-005: a certificate without clientAuth (the bank processor's, a server's) is
    // refused as a client at the handshake: no answer at all.
    let bank = &center.pki.bank;
    let outcome = match center
        .channel(
            center.running().network_addr,
            &ca,
            Some((&bank.cert_pem, &bank.key_pem)),
        )
        .await
    {
        Err(_) => None,
        Ok(channel) => Some(
            MerchantPaymentServiceClient::new(channel)
                .get_merchant_balance(balance_request())
                .await,
        ),
    };
    if let Some(result) = outcome {
        let status = result.expect_err("a server certificate must not authenticate a client");
        assert!(
            ompp::error::ProtocolError::from_status(&status).is_err(),
            "{status:?}"
        );
    }
}

/// A certificate the operator CA did not issue, or one that is expired, never gets a call
/// through: the TLS handshake fails, so the caller sees a transport error, not an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_expired_certificates_are_refused_at_the_handshake() {
    let center = Center::start().await;
    let identity = PartyIdentity::new(Role::Merchant, "M-1042").unwrap();
    let rogue_ca = Ca::generate("Rogue CA").unwrap();
    let rogue = rogue_ca
        .issue(&identity, &[], &[], Validity::days_from_now(30))
        .unwrap();
    let week = Duration::from_secs(7 * 86_400);
    let expired = center
        .pki
        .operator_ca
        .issue(
            &identity,
            &[],
            &[],
            Validity {
                not_before: SystemTime::now() - 2 * week,
                not_after: SystemTime::now() - week,
            },
        )
        .unwrap();
    let ca = center.pki.operator_ca.cert_pem();
    for (name, cert) in [("foreign CA", &rogue), ("expired", &expired)] {
        // TLS 1.3 reports a rejected client certificate after the handshake, so the error may
        // surface at connect or at the first call; either way no answer comes back.
        let outcome = match center
            .channel(
                center.running().network_addr,
                &ca,
                Some((&cert.cert_pem, &cert.key_pem)),
            )
            .await
        {
            Err(_) => None,
            Ok(channel) => Some(
                MerchantPaymentServiceClient::new(channel)
                    .get_merchant_balance(balance_request())
                    .await,
            ),
        };
        if let Some(result) = outcome {
            let status = result.expect_err(name);
            assert!(
                ompp::error::ProtocolError::from_status(&status).is_err(),
                "{name}: expected a transport failure, got an OMPP answer {status:?}"
            );
        }
    }
    // The same merchant with its real certificate is served.
    assert!(
        center
            .merchant()
            .await
            .get_merchant_balance(balance_request())
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchant_registration_issues_a_working_certificate_once_per_token() {
    let center = Center::start().await;
    let mut registration = center.registration().await;
    let csr = generate_csr("my terminal").unwrap();
    let request = pb::RegisterMerchantRequest {
        enrollment_token: ENROLLMENT_TOKEN.into(),
        display_name: "Corner Shop".into(),
        csr_der: csr.csr_der.clone(),
        settlement_currencies: vec!["EUR".into()],
        bank_account: None,
        idempotency_key: "reg-1".into(),
    };
    let registered = registration
        .register_merchant(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.merchant_id, "M-2001");
    let identity = ompp_server::pki::identity_of(&registered.certificate_der).unwrap();
    assert_eq!(identity.to_string(), "ompp://merchant/M-2001");

    let issued = ompp_server::pki::Issued::from_pem(
        &cert_der_to_pem(&registered.certificate_der),
        &csr.key_pem,
    )
    .unwrap();
    let mut shop = center.merchant_as(&issued).await;
    let balances = shop
        .get_merchant_balance(pb::GetMerchantBalanceRequest {
            merchant_id: "M-2001".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .balances;
    assert_eq!(balances, vec![common::eur(0)]);

    // A retry with the same key returns the same merchant; a new key cannot reuse the token.
    let retry = registration
        .register_merchant(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.merchant_id, "M-2001");
    let mut reuse = request;
    reuse.idempotency_key = "reg-2".into();
    assert_eq!(
        reason(registration.register_merchant(reuse).await),
        R::EnrollmentRejected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_does_not_tell_an_unknown_customer_from_a_wrong_password() {
    let center = Center::start().await;
    let ana = center.customer("+4915100000102", 0).await;
    let mut registration = center.registration().await;
    let csr = generate_csr("device").unwrap();
    let pair = |customer_id: &str, password: &str| pb::PairDeviceRequest {
        customer_id: customer_id.into(),
        password: password.into(),
        device_name: "phone".into(),
        csr_der: csr.csr_der.clone(),
        idempotency_key: "p".into(),
    };
    let wrong = registration
        .pair_device(pair(&ana.customer_id, "not the password"))
        .await
        .unwrap_err();
    let unknown = registration
        .pair_device(pair("C-unknown", "not the password"))
        .await
        .unwrap_err();
    // OMPP-ERR-004: same code, same reason, same metadata.
    assert_eq!(wrong.code(), unknown.code());
    let (wrong, unknown) = (
        ompp::error::ProtocolError::from_status(&wrong).unwrap(),
        ompp::error::ProtocolError::from_status(&unknown).unwrap(),
    );
    assert_eq!(
        (wrong.reason, &wrong.metadata),
        (R::CredentialsRejected, &unknown.metadata)
    );
    assert_eq!(unknown.reason, R::CredentialsRejected);
}

fn envelope(
    sender: &str,
    message_id: &str,
    sent_at: ompp::types::UnixMillis,
) -> Option<pb::LinkEnvelope> {
    Some(pb::LinkEnvelope {
        sender_id: sender.into(),
        message_id: message_id.into(),
        sent_at: Some(sent_at.to_proto()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_firewall_refuses_strangers_replays_and_stale_messages() {
    use ompp_server::clock::Clock;
    let center = Center::start().await;
    let ana = center.customer("+4915100000103", 0).await;
    let now = center.clock.now();
    let relay = |envelope| pb::RelayGetWalletBalanceRequest {
        envelope,
        device_id: ana.device_id.clone(),
        request: Some(pb::GetWalletBalanceRequest {}),
    };
    let mut link = center.network_link_as(&center.pki.link_mobile).await;

    // Accepted once; the same message id again is a replay (OMPP-LINK-004).
    let first = relay(envelope("ompp://mobile/MS-1", "msg-0000000000000001", now));
    assert!(link.relay_get_wallet_balance(first.clone()).await.is_ok());
    assert_eq!(
        reason(link.relay_get_wallet_balance(first).await),
        R::LinkReplay
    );

    // Sent 31 s ago or 31 s ahead: outside the 30 s skew window (OMPP-LINK-003).
    let skew = Duration::from_secs(31);
    let old = ompp::types::UnixMillis(now.0 - 31_000);
    assert_eq!(
        reason(
            link.relay_get_wallet_balance(relay(envelope(
                "ompp://mobile/MS-1",
                "msg-0000000000000002",
                old
            )))
            .await
        ),
        R::LinkStaleMessage
    );
    let ahead = now.saturating_add(skew);
    assert_eq!(
        reason(
            link.relay_get_wallet_balance(relay(envelope(
                "ompp://mobile/MS-1",
                "msg-0000000000000003",
                ahead
            )))
            .await
        ),
        R::LinkStaleMessage
    );

    // The envelope must name the TLS identity (OMPP-LINK-001).
    assert_eq!(
        reason(
            link.relay_get_wallet_balance(relay(envelope(
                "ompp://mobile/MS-2",
                "msg-0000000000000004",
                now
            )))
            .await
        ),
        R::LinkSenderMismatch
    );

    // A link certificate for an identity not on the allow-list.
    let stranger_identity = PartyIdentity::new(Role::Mobile, "MS-2").unwrap();
    let stranger = center
        .pki
        .link_ca
        .issue(
            &stranger_identity,
            &["localhost"],
            &[],
            Validity::days_from_now(30),
        )
        .unwrap();
    let mut stranger_link = center.network_link_as(&stranger).await;
    assert_eq!(
        reason(
            stranger_link
                .relay_get_wallet_balance(relay(envelope(
                    "ompp://mobile/MS-2",
                    "msg-0000000000000005",
                    now
                )))
                .await
        ),
        R::PeerNotAllowed
    );

    // Every decision was counted: the accepted ones (including the center's own setup traffic)
    // and one of each rejection.
    let counters = center
        .running()
        .network
        .as_ref()
        .unwrap()
        .firewall_counters();
    assert_eq!(
        (
            counters.replay,
            counters.stale,
            counters.sender_mismatch,
            counters.peer_not_allowed
        ),
        (1, 2, 1, 1)
    );
    assert!(counters.accepted >= 1);
    // OMPP-LINK-009: per peer, too.
    let per_peer = center
        .running()
        .network
        .as_ref()
        .unwrap()
        .firewall_peer_counts();
    assert_eq!(
        per_peer.get(&("ompp://mobile/MS-2".to_owned(), "peer_not_allowed")),
        Some(&1)
    );
    assert_eq!(
        per_peer.get(&("ompp://mobile/MS-1".to_owned(), "replay")),
        Some(&1)
    );
    assert_eq!(
        per_peer.get(&("ompp://mobile/MS-1".to_owned(), "stale")),
        Some(&2)
    );
    assert!(
        per_peer
            .get(&("ompp://mobile/MS-1".to_owned(), "accepted"))
            .is_some_and(|n| *n >= 1)
    );
}

/// `network.link_peers` allows another mobile server on the secure link, with its own token
/// bucket (OMPP-LINK-001, OMPP-LINK-005): on the stopped manual clock nothing refills, so after
/// 10,000 relays (`LINK_RATE_BURST`) it is refused for rate while the PKI's own mobile server
/// still gets through. An entry of another role stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_link_peer_has_its_own_bucket() {
    use ompp_server::clock::Clock;
    let second = format!("ompp://mobile/{}", ompp_server::pki::SECOND_LINK_MOBILE_ID);
    let center =
        Center::start_with(|config| config.network.link_peers = vec![second.clone()]).await;
    let ana = center.customer("+4915100000104", 0).await;
    let now = center.clock.now();
    let relay = |sender: &str, n: u64| pb::RelayGetWalletBalanceRequest {
        envelope: envelope(sender, &format!("msg-peer-{n:016}"), now),
        device_id: ana.device_id.clone(),
        request: Some(pb::GetWalletBalanceRequest {}),
    };
    let identity = center.pki.second_link_mobile().unwrap();
    let link = center.network_link_as(&identity).await;
    let burst = u64::from(ompp::limits::LINK_RATE_BURST);
    let mut sent = tokio::task::JoinSet::new();
    for worker in 0..32 {
        let (mut link, requests): (_, Vec<_>) = (
            link.clone(),
            (0..burst)
                .filter(|n| n % 32 == worker)
                .map(|n| relay(&second, n))
                .collect(),
        );
        sent.spawn(async move {
            let mut ok = 0;
            for request in requests {
                if link.relay_get_wallet_balance(request).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(served) = sent.join_next().await {
        ok += served.unwrap();
    }
    assert_eq!(ok, burst, "a full bucket serves {burst} relays");
    assert_eq!(
        reason(
            link.clone()
                .relay_get_wallet_balance(relay(&second, burst))
                .await
        ),
        R::LinkRateLimited
    );
    let mut own = center.network_link_as(&center.pki.link_mobile).await;
    assert!(
        own.relay_get_wallet_balance(relay("ompp://mobile/MS-1", burst + 1))
            .await
            .is_ok()
    );
    // Without the entry, the same identity is a stranger.
    let plain = Center::start().await;
    let mut stranger = plain
        .network_link_as(&plain.pki.second_link_mobile().unwrap())
        .await;
    assert_eq!(
        reason(stranger.relay_get_wallet_balance(relay(&second, 0)).await),
        R::PeerNotAllowed
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = ompp_server::config::Config::on_loopback(
        dir.path().to_owned(),
        ompp_server::passwords::HashingProfile::FastInsecure,
    );
    config.network.link_peers = vec!["ompp://network/NS-9".to_owned()];
    let clock = std::sync::Arc::new(ompp_server::clock::ManualClock::new());
    let refused = ompp_server::run::start(&config, ompp_server::run::Role::All, clock, None).await;
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("network.link_peers") && error.contains("NS-9"),
        "{error}"
    );
}

/// The bank processor and SMS center identities the network server accepts are configured, and
/// must be of their role (OMPP-TLS-012).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_identities_of_another_role_stop_the_start() {
    for (setting, adjust) in [
        (
            "network.bank_identity",
            (|config: &mut ompp_server::config::Config| {
                config.network.bank_identity = "ompp://sms/SC-1".to_owned();
            }) as fn(&mut ompp_server::config::Config),
        ),
        ("network.sms_identity", |config| {
            config.network.sms_identity = "ompp://bank/BP-1".to_owned();
        }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ompp_server::config::Config::on_loopback(
            dir.path().to_owned(),
            ompp_server::passwords::HashingProfile::FastInsecure,
        );
        adjust(&mut config);
        let clock = std::sync::Arc::new(ompp_server::clock::ManualClock::new());
        let refused =
            ompp_server::run::start(&config, ompp_server::run::Role::All, clock, None).await;
        let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            error.contains(setting) && error.contains("must be an identity of role"),
            "{setting}: {error}"
        );
    }
}

/// OMPP-MSG-010 over the wire: a 100 KiB request gets MESSAGE_TOO_LARGE and has no effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_with_their_own_reason() {
    let center = Center::start().await;
    let ana = center.customer("+4915100000104", 0).await;
    let mut merchant = center.merchant().await;
    let mut big = create(&ana.customer_id, 100, "k-big");
    big.merchant_reference = "r".repeat(100 * 1024);
    let status = merchant.create_payment(big).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert_eq!(reason::<()>(Err(status)), R::MessageTooLarge);
    // Nothing was created under the key: the same key with a normal request is a new payment.
    let payment = merchant
        .create_payment(create(&ana.customer_id, 100, "k-big"))
        .await
        .unwrap();
    assert_eq!(
        payment.into_inner().payment.unwrap().status,
        pb::PaymentStatus::PendingCustomer as i32
    );
}
