//! Who may call `MerchantPaymentService`, and the error contract of a refused request.

use std::time::Duration;

use ompp::conformance::Profile;
use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use ompp::types::{PartyIdentity, Role};
use ompp_server::pki::{Ca, Validity};
use pb::ErrorReason as R;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{Credential, Target, money};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.tls.identity-mismatch",
            title: "a merchant_id other than the certificate's fails with IDENTITY_MISMATCH and has no effect",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-TLS-016"],
            run: body!(identity_mismatch),
        },
        Case {
            id: "oc.tls.no-client-certificate",
            title: "MerchantPaymentService without a client certificate fails with UNAUTHENTICATED_PEER or at the handshake",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-009"],
            run: body!(no_client_certificate),
        },
        Case {
            id: "oc.tls.wrong-role-certificate",
            title: "a device certificate on MerchantPaymentService fails with PEER_NOT_ALLOWED",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-010"],
            run: body!(wrong_role),
        },
        Case {
            id: "oc.tls.unknown-ca",
            title: "a merchant certificate from an unknown CA is refused at the handshake",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-009"],
            run: body!(unknown_ca),
        },
        Case {
            id: "oc.tls.expired-certificate",
            title: "an expired merchant certificate from the operator CA is refused at the handshake",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-007"],
            run: body!(expired_certificate),
        },
        Case {
            id: "oc.tls.unknown-caller",
            title: "a valid certificate from the operator CA is not enough: a merchant the system never registered gets UNKNOWN_MERCHANT, a device it never paired DEVICE_NOT_PAIRED, on every call",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-011"],
            run: body!(unknown_caller),
        },
        Case {
            id: "oc.err.invalid-field",
            title: "a malformed CreatePayment fails with INVALID_ARGUMENT, INVALID_FIELD in ompp.v1 and a BadRequest naming the field",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &[
                "OMPP-MSG-001",
                "OMPP-MSG-006",
                "OMPP-MSG-012",
                "OMPP-ERR-001",
                "OMPP-ERR-002",
            ],
            run: body!(invalid_field),
        },
        Case {
            id: "oc.msg.message-too-large",
            title: "a request over 64 KiB fails with MESSAGE_TOO_LARGE and has no effect",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-MSG-010"],
            run: body!(message_too_large),
        },
        Case {
            id: "oc.msg.oversized-by-unknown-fields",
            title: "a request over 64 KiB as received, made large by an unknown field, fails with MESSAGE_TOO_LARGE and has no effect",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-MSG-010"],
            run: body!(oversized_by_unknown_fields),
        },
        Case {
            id: "oc.msg.undecodable-request",
            title: "bytes that are not a valid encoding of the request fail with INVALID_FIELD naming the field, not INTERNAL",
            role: OC,
            profile: None,
            requirements: &["OMPP-MSG-018"],
            run: body!(undecodable_request),
        },
        Case {
            id: "oc.msg.unknown-fields-ignored",
            title: "requests carrying fields the receiver does not know are served as if they were absent",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-MSG-011"],
            run: body!(unknown_fields_ignored),
        },
        Case {
            id: "oc.tls.only-tls13",
            title: "a client offering only TLS 1.2, and a client without TLS, are refused",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-001"],
            run: body!(only_tls13),
        },
        Case {
            id: "oc.tls.h2-and-public-services",
            title: "TLS 1.3 negotiates ALPN h2; RegistrationService and GatewayService serve callers without a client certificate",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-003", "OMPP-TLS-013"],
            run: body!(h2_and_public_services),
        },
    ]
}

async fn unknown_fields_ignored(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use prost::Message;
    let mut body = balance_request(target).encode_to_vec();
    append_unknown_field(&mut body, 16);
    let balance = raw_merchant_call(
        target,
        checks,
        "/ompp.v1.MerchantPaymentService/GetMerchantBalance",
        body,
    )
    .await?;
    checks.succeeds(
        "OMPP-MSG-011",
        "GetMerchantBalance with an unknown field succeeds",
        balance,
    )?;
    let ana = target.customer(checks, 0).await?;
    let key = target.key("unknown-small");
    let mut body = create(target, &ana.customer_id, 100, &key).encode_to_vec();
    append_unknown_field(&mut body, 32);
    let created = raw_merchant_call(
        target,
        checks,
        "/ompp.v1.MerchantPaymentService/CreatePayment",
        body,
    )
    .await?;
    let created = checks.succeeds(
        "OMPP-MSG-011",
        "CreatePayment with an unknown field succeeds",
        created,
    )?;
    let payment = pb::CreatePaymentResponse::decode(created.0.as_slice())
        .ok()
        .and_then(|r| r.payment);
    checks.equal(
        "OMPP-MSG-011",
        "the payment is created for the amount asked, as without the unknown field",
        Some(money(100)),
        payment.and_then(|p| p.amount),
    );
    Ok(())
}

async fn h2_and_public_services(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let address = target.addresses().into_iter().next().unwrap_or_default();
    let anchors = checks.setup(
        "read the system's trust anchors",
        ompp_server::pki::certs_from_pem(&target.trust_anchors_pem),
    )?;
    let mut roots = rustls::RootCertStore::empty();
    for anchor in anchors {
        checks.setup("add a trust anchor", roots.add(anchor))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = checks
        .setup(
            "a TLS 1.3 client configuration",
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13]),
        )?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let host = address.split(':').next().unwrap_or("localhost").to_owned();
    let name = checks.setup(
        "the server name",
        rustls::pki_types::ServerName::try_from(host),
    )?;
    let tcp = checks.setup(
        "connect to the network server",
        tokio::net::TcpStream::connect(address.as_str()).await,
    )?;
    let tls = checks.setup(
        "a TLS 1.3 handshake without a client certificate",
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await,
    )?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    checks.equal(
        "OMPP-TLS-003",
        "the server selects ALPN h2 (offered: h2, http/1.1)",
        Some(b"h2".to_vec()),
        alpn,
    );
    let mut registration = target.registration(checks).await?;
    checks.succeeds(
        "OMPP-TLS-013",
        "RegisterCustomer without a client certificate succeeds",
        registration
            .register_customer(pb::RegisterCustomerRequest {
                display_name: "Conformance Customer".into(),
                phone_number: target.phone(),
                password: crate::target::PASSWORD.into(),
                wallet_currencies: vec![crate::target::CURRENCY.into()],
                bank_account: None,
                idempotency_key: target.key("public"),
            })
            .await,
    )?;
    let mut gateway = target.gateway(checks).await?;
    let status = gateway
        .get_checkout_status(pb::GetCheckoutStatusRequest {
            payment_id: "pay_no_such_checkout".into(),
        })
        .await;
    checks.reason(
        "OMPP-TLS-013",
        "GetCheckoutStatus without a client certificate is served (an unknown checkout is NOT_FOUND, not a refusal of the caller)",
        status,
        R::NotFound,
    );
    Ok(())
}

async fn only_tls13(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let address = target.addresses().into_iter().next().unwrap_or_default();
    let anchors = checks.setup(
        "read the system's trust anchors",
        ompp_server::pki::certs_from_pem(&target.trust_anchors_pem),
    )?;
    let mut roots = rustls::RootCertStore::empty();
    for anchor in anchors {
        checks.setup("add a trust anchor", roots.add(anchor))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = checks
        .setup(
            "a TLS 1.2-only client configuration",
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS12]),
        )?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            checks.setup(
                "the merchant certificate",
                ompp_server::pki::certs_from_pem(&target.merchant.cert_pem),
            )?,
            checks.setup("the merchant key", {
                use rustls::pki_types::pem::PemObject;
                rustls::pki_types::PrivateKeyDer::from_pem_slice(target.merchant.key_pem.as_bytes())
            })?,
        );
    let config = checks.setup("the merchant identity in the TLS 1.2 client", config)?;
    let host = address.split(':').next().unwrap_or("localhost").to_owned();
    let name = checks.setup(
        "the server name",
        rustls::pki_types::ServerName::try_from(host),
    )?;
    let tcp = checks.setup(
        "connect to the network server",
        tokio::net::TcpStream::connect(address.as_str()).await,
    )?;
    let handshake = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp),
    )
    .await;
    checks.record(
        "OMPP-TLS-001",
        "a ClientHello offering only TLS 1.2 is refused",
        "handshake refused",
        match &handshake {
            Ok(Ok(_)) => "handshake completed with TLS 1.2".to_owned(),
            Ok(Err(error)) => format!("handshake refused: {error}"),
            Err(_) => "no answer within 10 s".to_owned(),
        },
        matches!(handshake, Ok(Err(_))),
    );
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map(|e| e.connect_timeout(Duration::from_secs(10)));
    let served = match plain {
        Ok(endpoint) => match endpoint.connect().await {
            Ok(channel) => MerchantPaymentServiceClient::new(channel)
                .get_merchant_balance(balance_request(target))
                .await
                .is_ok(),
            Err(_) => false,
        },
        Err(_) => false,
    };
    checks.record(
        "OMPP-TLS-001",
        "a call without TLS is not served",
        "not served",
        if served { "served" } else { "not served" },
        !served,
    );
    Ok(())
}

/// The body of an answer to a raw call; shown in transcripts by its length only.
pub(super) struct RawAnswer(pub(super) Vec<u8>);

impl std::fmt::Debug for RawAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Sends raw bytes to a unary method as the suite's merchant; the answer as a typed call's.
async fn raw_merchant_call(
    target: &Target,
    checks: &Checks,
    method: &str,
    body: Vec<u8>,
) -> Result<Result<tonic::Response<RawAnswer>, tonic::Status>, Abort> {
    let channel = checks.setup(
        "connect to MerchantPaymentService with the merchant certificate",
        target
            .channel(&target.network_url, Some(&target.merchant))
            .await,
    )?;
    Ok(raw_call(channel, method, body).await)
}

/// Sends raw bytes to a unary method on `channel`; the answer as a typed call's.
pub(super) async fn raw_call(
    channel: tonic::transport::Channel,
    method: &str,
    body: Vec<u8>,
) -> Result<tonic::Response<RawAnswer>, tonic::Status> {
    match crate::fuzz::call(channel, method, body).await {
        crate::fuzz::Outcome::Ok(body) => Ok(tonic::Response::new(RawAnswer(body))),
        crate::fuzz::Outcome::Status(status) => Err(status),
        crate::fuzz::Outcome::Transport(error) => Err(tonic::Status::unavailable(error)),
        crate::fuzz::Outcome::Timeout => Err(tonic::Status::deadline_exceeded("no answer")),
    }
}

/// Records that a refused request bound nothing: a new request under its key succeeds.
#[allow(clippy::too_many_arguments)]
async fn key_serves_a_new_request(
    checks: &Checks,
    merchant: &mut MerchantPaymentServiceClient<tonic::transport::Channel>,
    target: &Target,
    customer_id: &str,
    cents: i64,
    key: &str,
    requirement: &str,
    description: &str,
) {
    let again = merchant
        .create_payment(create(target, customer_id, cents, key))
        .await;
    checks.record(
        requirement,
        description,
        "OK",
        match &again {
            Ok(_) => "OK".to_owned(),
            Err(status) => describe_status(status),
        },
        again.is_ok(),
    );
}

/// Appends an unknown field (number 2897, length-delimited) of `len` bytes.
pub(super) fn append_unknown_field(body: &mut Vec<u8>, len: usize) {
    let mut varint = |mut n: u64| {
        while n >= 0x80 {
            body.push(u8::try_from(n & 0x7f).unwrap_or(0) | 0x80);
            n >>= 7;
        }
        body.push(u8::try_from(n).unwrap_or(0));
    };
    varint((2897 << 3) | 2);
    varint(u64::try_from(len).unwrap_or(0));
    body.resize(body.len() + len, b'u');
}

async fn oversized_by_unknown_fields(target: &Target, checks: &Checks) -> Result<(), Abort> {
    use prost::Message;
    let ana = target.customer(checks, 0).await?;
    let key = target.key("unknown");
    let mut body = create(target, &ana.customer_id, 100, &key).encode_to_vec();
    append_unknown_field(&mut body, 100 * 1024);
    let result = raw_merchant_call(
        target,
        checks,
        "/ompp.v1.MerchantPaymentService/CreatePayment",
        body,
    )
    .await?;
    checks.reason(
        "OMPP-MSG-010",
        "a request of 100 KiB as received (an unknown field) fails with MESSAGE_TOO_LARGE",
        result,
        R::MessageTooLarge,
    );
    let mut merchant = target.merchant(checks).await?;
    key_serves_a_new_request(
        checks,
        &mut merchant,
        target,
        &ana.customer_id,
        100,
        &key,
        "OMPP-MSG-010",
        "the refused request had no effect: its key serves a new request",
    )
    .await;
    Ok(())
}

async fn undecodable_request(target: &Target, checks: &Checks) -> Result<(), Abort> {
    // GetPaymentRequest.merchant_id (field 1) announces 6 bytes and none follow.
    let truncated = raw_merchant_call(
        target,
        checks,
        "/ompp.v1.MerchantPaymentService/GetPayment",
        vec![0x0a, 0x06],
    )
    .await?;
    let error = checks.reason(
        "OMPP-MSG-018",
        "a string field cut short fails with INVALID_FIELD",
        truncated,
        R::InvalidField,
    );
    if let Some(error) = error {
        checks.equal(
            "OMPP-MSG-018",
            "the error names the field the decoder was in",
            Some("merchant_id"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    // CreatePaymentRequest.amount (field 3) holding Money.currency (field 1) that is not UTF-8.
    let not_utf8 = raw_merchant_call(
        target,
        checks,
        "/ompp.v1.MerchantPaymentService/CreatePayment",
        vec![0x1a, 0x04, 0x0a, 0x02, 0xff, 0xfe],
    )
    .await?;
    let error = checks.reason(
        "OMPP-MSG-018",
        "a string that is not UTF-8 fails with INVALID_FIELD",
        not_utf8,
        R::InvalidField,
    );
    if let Some(error) = error {
        checks.equal(
            "OMPP-MSG-018",
            "the error names the nested field",
            Some("amount.currency"),
            error.metadata.get("field").map(String::as_str),
        );
    }
    Ok(())
}

fn balance_request(target: &Target) -> pb::GetMerchantBalanceRequest {
    pb::GetMerchantBalanceRequest {
        merchant_id: target.merchant_id.clone(),
    }
}

/// Presents `credential` to `MerchantPaymentService` and reports what came back: the
/// requirement holds when no OMPP answer does (the handshake refused the certificate).
async fn refused_at_handshake(
    target: &Target,
    checks: &Checks,
    requirement: &str,
    description: &str,
    credential: &Credential,
) {
    // Control: the suite's valid merchant certificate is served on the same endpoint, so a
    // refusal below is the certificate's doing, not a dead endpoint.
    let control = match target
        .channel(&target.network_url, Some(&target.merchant))
        .await
    {
        Err(error) => Err(format!("connection failed: {error}")),
        Ok(channel) => MerchantPaymentServiceClient::new(channel)
            .get_merchant_balance(balance_request(target))
            .await
            .map(|_| ())
            .map_err(|status| describe_status(&status)),
    };
    let control_ok = control.is_ok();
    checks.record(
        requirement,
        "control: the same call with the suite's valid merchant certificate is served",
        "OK",
        control.err().unwrap_or_else(|| "OK".to_owned()),
        control_ok,
    );
    let actual = match target.channel(&target.network_url, Some(credential)).await {
        Err(error) => Err(format!("connection refused: {error}")),
        Ok(channel) => {
            let call = tokio::time::timeout(
                Duration::from_secs(20),
                MerchantPaymentServiceClient::new(channel)
                    .get_merchant_balance(balance_request(target)),
            )
            .await;
            match call {
                Err(_) => Err("no answer within 20 s".to_owned()),
                Ok(Ok(_)) => Ok("the call was served (OK)".to_owned()),
                Ok(Err(status)) => match ProtocolError::from_status(&status) {
                    // An OMPP answer means the TLS session was accepted.
                    Ok(error) => Ok(format!(
                        "the session was accepted and the call answered {}",
                        crate::case::describe_error(&error)
                    )),
                    Err(_) => Err(format!(
                        "the call failed at the transport: {}",
                        describe_status(&status)
                    )),
                },
            }
        }
    };
    let passed = actual.is_err();
    checks.record(
        requirement,
        description,
        "TLS handshake refused (no OMPP answer)",
        match actual {
            Ok(a) | Err(a) => a,
        },
        passed,
    );
}

async fn identity_mismatch(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let key = target.key("mismatch");
    let mut request = create(target, &ana.customer_id, 100, &key);
    request.merchant_id = format!("{}X", target.merchant_id);
    checks.reason(
        "OMPP-TLS-016",
        "CreatePayment naming another merchant fails",
        merchant.create_payment(request).await,
        R::IdentityMismatch,
    );
    key_serves_a_new_request(
        checks,
        &mut merchant,
        target,
        &ana.customer_id,
        200,
        &key,
        "OMPP-TLS-016",
        "the refused request bound nothing: the key serves a new request",
    )
    .await;
    Ok(())
}

async fn no_client_certificate(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let actual = match target.channel(&target.network_url, None).await {
        Err(error) => Ok(format!("connection refused: {error}")),
        Ok(channel) => {
            let result = MerchantPaymentServiceClient::new(channel)
                .get_merchant_balance(balance_request(target))
                .await;
            match result {
                Ok(_) => Err("the call was served (OK)".to_owned()),
                Err(status) => match ProtocolError::from_status(&status) {
                    Ok(error) if error.reason == R::UnauthenticatedPeer => {
                        Ok("UNAUTHENTICATED_PEER".to_owned())
                    }
                    Ok(error) => Err(crate::case::describe_error(&error)),
                    Err(_) => Ok(format!("transport failure: {}", describe_status(&status))),
                },
            }
        }
    };
    let passed = actual.is_ok();
    checks.record(
        "OMPP-TLS-009",
        "GetMerchantBalance without a client certificate fails",
        "UNAUTHENTICATED_PEER, or the TLS handshake refused",
        match actual {
            Ok(a) | Err(a) => a,
        },
        passed,
    );
    Ok(())
}

async fn unknown_ca(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let identity = checks.setup(
        "the merchant identity",
        PartyIdentity::new(Role::Merchant, &target.merchant_id),
    )?;
    let rogue_ca = checks.setup(
        "generate a throwaway CA",
        Ca::generate("Conformance Rogue CA"),
    )?;
    let rogue = checks.setup(
        "issue a certificate from the throwaway CA",
        rogue_ca.issue(&identity, &[], &[], Validity::days_from_now(30)),
    )?;
    refused_at_handshake(
        target,
        checks,
        "OMPP-TLS-009",
        "a certificate for the suite's merchant id from a CA the system does not trust is refused",
        &Credential {
            cert_pem: rogue.cert_pem,
            key_pem: rogue.key_pem,
        },
    )
    .await;
    Ok(())
}

async fn expired_certificate(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let Some(expired) = &target.expired_merchant else {
        return Err(checks.fail(
            "an expired merchant certificate from the system's CA is needed",
            "the manifest has no tls.expired_merchant",
        ));
    };
    refused_at_handshake(
        target,
        checks,
        "OMPP-TLS-007",
        "a merchant certificate past its validity period is refused",
        expired,
    )
    .await;
    Ok(())
}

async fn unknown_caller(target: &Target, checks: &Checks) -> Result<(), Abort> {
    // OMPP-CONF-009: without the material the case cannot run (verdict error).
    let callers = checks.setup(
        "certificates from the system's CA for a merchant and a device it does not know \
         (tls.unregistered_merchant, tls.unpaired_device)",
        target
            .unknown_callers
            .as_ref()
            .ok_or("the manifest does not give them"),
    )?;
    let identity = checks.setup(
        "read the unregistered merchant's identity from its certificate",
        crate::target::identity_uri(&callers.merchant.cert_pem),
    )?;
    let merchant_id = identity.rsplit('/').next().unwrap_or_default().to_owned();
    let channel = checks.setup(
        "connect to MerchantPaymentService with the unregistered merchant's certificate",
        target
            .channel(&target.network_url, Some(&callers.merchant))
            .await,
    )?;
    let mut merchant = MerchantPaymentServiceClient::new(channel);
    let ana = target.customer(checks, 0).await?;
    let mut request = create(target, &ana.customer_id, 100, &target.key("unknown"));
    request.merchant_id.clone_from(&merchant_id);
    checks.reason(
        "OMPP-TLS-011",
        "CreatePayment as a merchant the system never registered, with its own merchant_id",
        merchant.create_payment(request).await,
        R::UnknownMerchant,
    );
    checks.reason(
        "OMPP-TLS-011",
        "GetMerchantBalance on the same connection: checked again on every call",
        merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: merchant_id.clone(),
            })
            .await,
        R::UnknownMerchant,
    );

    let channel = checks.setup(
        "connect to DeviceService with the unpaired device's certificate",
        target
            .channel(&target.mobile_url, Some(&callers.device))
            .await,
    )?;
    let mut device = pb::device_service_client::DeviceServiceClient::new(channel);
    checks.reason(
        "OMPP-TLS-011",
        "GetWalletBalance as a device the system never paired",
        device
            .get_wallet_balance(pb::GetWalletBalanceRequest {})
            .await,
        R::DeviceNotPaired,
    );
    checks.reason(
        "OMPP-TLS-011",
        "TopUpWallet on the same connection: checked again on every call",
        device
            .top_up_wallet(pb::TopUpWalletRequest {
                amount: Some(money(100)),
                password: crate::target::PASSWORD.into(),
                idempotency_key: target.key("unknown"),
            })
            .await,
        R::DeviceNotPaired,
    );
    Ok(())
}

async fn invalid_field(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let mut request = create(target, &ana.customer_id, 100, &target.key("invalid"));
    request.items[0].product_code = String::new();
    let result = merchant.create_payment(request).await;
    let Err(status) = result else {
        return Err(checks.fail(
            "CreatePayment with an empty items[0].product_code fails",
            "OK (the call succeeded)",
        ));
    };
    checks.equal(
        "OMPP-MSG-001",
        "the gRPC status code",
        tonic::Code::InvalidArgument,
        status.code(),
    );
    let error = ProtocolError::from_status(&status);
    checks.record(
        "OMPP-ERR-001",
        "the status carries an ErrorInfo in domain ompp.v1 with a catalogue reason",
        "ErrorInfo, domain ompp.v1, catalogue reason",
        match &error {
            Ok(e) => format!("{} in ompp.v1", crate::case::describe_error(e)),
            Err(why) => why.to_string(),
        },
        !matches!(
            error,
            Err(ompp::error::NotAnOmppStatus::NoErrorInfo
                | ompp::error::NotAnOmppStatus::WrongDomain(_)
                | ompp::error::NotAnOmppStatus::UnknownReason(_))
        ),
    );
    checks.record(
        "OMPP-ERR-002",
        "the status code is the catalogue's for the reason",
        "the catalogue's code",
        match &error {
            Ok(_) => "the catalogue's code".to_owned(),
            Err(why) => why.to_string(),
        },
        !matches!(error, Err(ompp::error::NotAnOmppStatus::WrongCode { .. })),
    );
    let Ok(error) = error else {
        return Ok(());
    };
    checks.equal(
        "OMPP-MSG-006",
        "the reason",
        "INVALID_FIELD",
        ompp::error::catalogue::wire_name(error.reason),
    );
    let fields: Vec<&str> = error
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    checks.record(
        "OMPP-MSG-012",
        "the BadRequest names the offending field by its path",
        "a field violation for items[0].product_code",
        format!("{fields:?}"),
        fields.contains(&"items[0].product_code"),
    );
    Ok(())
}

async fn message_too_large(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let mut merchant = target.merchant(checks).await?;
    let key = target.key("big");
    let mut big = create(target, &ana.customer_id, 100, &key);
    big.merchant_reference = "r".repeat(100 * 1024);
    let result = merchant.create_payment(big).await;
    let code = result.as_ref().err().map(tonic::Status::code);
    checks.equal(
        "OMPP-MSG-010",
        "the gRPC status code of a 100 KiB request",
        Some(tonic::Code::ResourceExhausted),
        code,
    );
    checks.reason(
        "OMPP-MSG-010",
        "a 100 KiB request fails with its own reason",
        result,
        R::MessageTooLarge,
    );
    key_serves_a_new_request(
        checks,
        &mut merchant,
        target,
        &ana.customer_id,
        100,
        &key,
        "OMPP-MSG-010",
        "the refused request had no effect: its key serves a new request",
    )
    .await;
    Ok(())
}

async fn wrong_role(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let channel = checks.setup(
        "connect to the network server with the device certificate",
        target
            .channel(&target.network_url, Some(&ana.credential))
            .await,
    )?;
    checks.reason(
        "OMPP-TLS-010",
        "GetMerchantBalance with a device certificate fails",
        MerchantPaymentServiceClient::new(channel)
            .get_merchant_balance(balance_request(target))
            .await,
        R::PeerNotAllowed,
    );
    Ok(())
}
