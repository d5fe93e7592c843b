//! The operation center's certificates and TLS sessions, read off the handshakes: the
//! identities, key usages and keys of the certificates it presents and issues, both signature
//! schemes on client certificates, the separation of the link CA from the operator CA, and no
//! 0-RTT.

use std::sync::Arc;
use std::time::Duration;

use ompp::proto::v1 as pb;
use pb::device_service_client::DeviceServiceClient;
use pb::merchant_payment_service_client::MerchantPaymentServiceClient;
use pb::mobile_link_service_client::MobileLinkServiceClient;
use pb::network_link_service_client::NetworkLinkServiceClient;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::link::{envelope, link};
use super::{OC, body};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::target::{Credential, PASSWORD, Target};

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.tls.certificate-profile",
            title: "the certificates the OC presents (network, mobile, both link ends) and issues to devices carry one ompp:// identity of the right role, digitalSignature, the extended key usages of their use, and an Ed25519 or P-256 key",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-004", "OMPP-TLS-005", "OMPP-TLS-006"],
            run: body!(certificate_profile),
        },
        Case {
            id: "oc.tls.both-signature-schemes",
            title: "devices paired with an Ed25519 key and with a P-256 key are both served by DeviceService",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-006"],
            run: body!(both_signature_schemes),
        },
        Case {
            id: "oc.tls.link-ca-separation",
            title: "operator-CA certificates are refused on the secure link, and link-CA certificates on MerchantPaymentService and DeviceService",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-008"],
            run: body!(link_ca_separation),
        },
        Case {
            id: "oc.tls.no-early-data",
            title: "a resumed TLS 1.3 session's 0-RTT data is not accepted",
            role: OC,
            profile: None,
            requirements: &["OMPP-TLS-002"],
            run: body!(no_early_data),
        },
    ]
}

/// The HTTP/2 client connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A TLS 1.3 client configuration trusting `anchors_pem`, presenting `identity` if given.
fn client_config(
    checks: &Checks,
    anchors_pem: &str,
    identity: Option<&Credential>,
) -> Result<rustls::ClientConfig, Abort> {
    let anchors = checks.setup(
        "read the trust anchors",
        ompp_server::pki::certs_from_pem(anchors_pem),
    )?;
    let mut roots = rustls::RootCertStore::empty();
    for anchor in anchors {
        checks.setup("add a trust anchor", roots.add(anchor))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = checks
        .setup(
            "a TLS 1.3 client configuration",
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13]),
        )?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => checks.setup(
            "the client identity",
            builder.with_client_auth_cert(
                checks.setup(
                    "the client certificate",
                    ompp_server::pki::certs_from_pem(&identity.cert_pem),
                )?,
                checks.setup(
                    "the client key",
                    ompp_server::pki::key_from_pem(&identity.key_pem),
                )?,
            ),
        )?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn host_and_address(url: &str) -> (String, String) {
    let address = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let host = address.split(':').next().unwrap_or("localhost").to_owned();
    (host, address)
}

/// The leaf certificate the server at `url` presents.
async fn server_leaf(
    checks: &Checks,
    url: &str,
    anchors_pem: &str,
    identity: Option<&Credential>,
) -> Result<CertificateDer<'static>, Abort> {
    let config = client_config(checks, anchors_pem, identity)?;
    let (host, address) = host_and_address(url);
    let name = checks.setup(
        "the server name",
        rustls::pki_types::ServerName::try_from(host),
    )?;
    let tcp = checks.setup(
        "connect to the server",
        tokio::net::TcpStream::connect(address.as_str()).await,
    )?;
    let tls = checks.setup(
        "a TLS 1.3 handshake",
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await,
    )?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.clone().into_owned());
    leaf.ok_or_else(|| checks.fail("the server's certificate", "none presented"))
}

/// Whether `id` matches OMPP-MSG-002.
fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// What a certificate says about itself, as the three requirements read it.
#[derive(Debug, PartialEq, Eq)]
struct Profile {
    /// The `ompp://` identity when there is exactly one well-formed URI SAN, else why not.
    identity: Result<String, String>,
    digital_signature: bool,
    server_auth: bool,
    client_auth: bool,
    /// `Ed25519`, `P-256`, or the algorithm it is.
    key: String,
}

fn profile_of(der: &[u8]) -> Result<Profile, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let uris: Vec<String> = cert
        .subject_alternative_name()
        .map_err(|e| format!("subjectAltName: {e}"))?
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some((*uri).to_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let identity = match uris.as_slice() {
        [one] => match one
            .strip_prefix("ompp://")
            .and_then(|rest| rest.split_once('/'))
        {
            Some((role, id))
                if ["merchant", "device", "network", "mobile", "bank", "sms"].contains(&role)
                    && is_identifier(id) =>
            {
                Ok(one.clone())
            }
            _ => Err(format!("malformed identity URI {one:?}")),
        },
        other => Err(format!("{} URI SANs: {other:?}", other.len())),
    };
    let digital_signature = cert
        .key_usage()
        .map_err(|e| format!("keyUsage: {e}"))?
        .is_some_and(|ku| ku.value.digital_signature());
    let (server_auth, client_auth) = cert
        .extended_key_usage()
        .map_err(|e| format!("extendedKeyUsage: {e}"))?
        .map_or((false, false), |eku| {
            (eku.value.server_auth, eku.value.client_auth)
        });
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    let key = match (algorithm.as_str(), curve.as_deref()) {
        ("1.3.101.112", _) => "Ed25519".to_owned(),
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => "P-256".to_owned(),
        (algorithm, curve) => format!("{algorithm} {curve:?}"),
    };
    Ok(Profile {
        identity,
        digital_signature,
        server_auth,
        client_auth,
        key,
    })
}

/// Records the three requirements for one certificate whose role is `role`.
fn judge(checks: &Checks, whose: &str, der: &[u8], role: &str) {
    let profile = match profile_of(der) {
        Ok(profile) => profile,
        Err(why) => {
            checks.record(
                "OMPP-TLS-004",
                format!("{whose}: the certificate parses"),
                "an X.509 certificate",
                why,
                false,
            );
            return;
        }
    };
    let prefix = format!("ompp://{role}/");
    checks.record(
        "OMPP-TLS-004",
        format!("{whose}: exactly one URI SAN, ompp://{role}/<id> with an id per OMPP-MSG-002"),
        format!("{prefix}<id>"),
        format!("{:?}", profile.identity),
        profile
            .identity
            .as_ref()
            .is_ok_and(|uri| uri.starts_with(&prefix)),
    );
    let (server, client) = match role {
        "merchant" | "device" => (false, true),
        "bank" | "sms" => (true, false),
        _ => (true, true),
    };
    checks.record(
        "OMPP-TLS-005",
        format!("{whose}: key usage digitalSignature and the extended key usages of a {role}"),
        format!(
            "digitalSignature{}{}",
            if server { ", serverAuth" } else { "" },
            if client { ", clientAuth" } else { "" }
        ),
        format!(
            "digitalSignature={}, serverAuth={}, clientAuth={}",
            profile.digital_signature, profile.server_auth, profile.client_auth
        ),
        profile.digital_signature
            && (!server || profile.server_auth)
            && (!client || profile.client_auth),
    );
    checks.record(
        "OMPP-TLS-006",
        format!("{whose}: an Ed25519 or ECDSA P-256 key"),
        "Ed25519 or P-256",
        profile.key.clone(),
        profile.key == "Ed25519" || profile.key == "P-256",
    );
}

async fn certificate_profile(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let ana = target.customer(checks, 0).await?;
    let network = server_leaf(checks, &target.network_url, &target.trust_anchors_pem, None).await?;
    judge(checks, "the network server", &network, "network");
    let mobile = server_leaf(
        checks,
        &target.mobile_url,
        &target.trust_anchors_pem,
        Some(&ana.credential),
    )
    .await?;
    judge(checks, "the mobile server", &mobile, "mobile");
    let link = link(target, checks)?;
    let network_link = server_leaf(
        checks,
        &link.network_link_url,
        &link.anchors_pem,
        Some(&link.as_mobile),
    )
    .await?;
    judge(checks, "NetworkLinkService", &network_link, "network");
    let mobile_link = server_leaf(
        checks,
        &link.mobile_link_url,
        &link.anchors_pem,
        Some(&link.as_network),
    )
    .await?;
    judge(checks, "MobileLinkService", &mobile_link, "mobile");
    let device = checks.setup(
        "the paired device's certificate",
        ompp_server::pki::certs_from_pem(&ana.credential.cert_pem),
    )?;
    match device.first() {
        Some(der) => judge(checks, "the certificate PairDevice issued", der, "device"),
        None => return Err(checks.fail("the paired device's certificate", "empty PEM")),
    }
    Ok(())
}

/// A CSR for a new key of `algorithm`, and the key.
fn csr_for(
    checks: &Checks,
    algorithm: &'static rcgen::SignatureAlgorithm,
) -> Result<(Vec<u8>, String), Abort> {
    let key = checks.setup(
        "generate a device key",
        rcgen::KeyPair::generate_for(algorithm),
    )?;
    let csr = checks.setup(
        "a CSR for the key",
        rcgen::CertificateParams::default().serialize_request(&key),
    )?;
    Ok((csr.der().to_vec(), key.serialize_pem()))
}

async fn both_signature_schemes(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let (customer_id, _) = target.register(checks, true, None).await?;
    for (algorithm, name) in [
        (&rcgen::PKCS_ED25519, "Ed25519 (signature scheme ed25519)"),
        (
            &rcgen::PKCS_ECDSA_P256_SHA256,
            "P-256 (signature scheme ecdsa_secp256r1_sha256)",
        ),
    ] {
        let (csr_der, key_pem) = csr_for(checks, algorithm)?;
        let mut registration = target.registration(checks).await?;
        let paired = checks.succeeds(
            "OMPP-TLS-006",
            format!("PairDevice with a CSR for an {name} key succeeds"),
            registration
                .pair_device(pb::PairDeviceRequest {
                    customer_id: customer_id.clone(),
                    password: PASSWORD.into(),
                    device_name: "conformance device".into(),
                    csr_der,
                    idempotency_key: target.key("scheme"),
                })
                .await,
        )?;
        let credential = Credential {
            cert_pem: ompp_server::pki::cert_der_to_pem(&paired.certificate_der),
            key_pem,
        };
        let served = match target.channel(&target.mobile_url, Some(&credential)).await {
            Err(error) => Err(format!("connection refused: {error}")),
            Ok(channel) => DeviceServiceClient::new(channel)
                .get_wallet_balance(pb::GetWalletBalanceRequest {})
                .await
                .map(|_| ())
                .map_err(|status| describe_status(&status)),
        };
        checks.record(
            "OMPP-TLS-006",
            format!("DeviceService serves the device with the {name} key"),
            "OK",
            served.clone().err().unwrap_or_else(|| "OK".to_owned()),
            served.is_ok(),
        );
    }
    Ok(())
}

/// How a call with a certificate the service must refuse went: `Ok` when it was refused (in
/// the handshake, at the transport, or with `UNAUTHENTICATED_PEER`), `Err` when it was served.
fn refused<T>(
    connected: Result<tonic::transport::Channel, tonic::transport::Error>,
    call: Option<Result<tonic::Response<T>, tonic::Status>>,
) -> Result<String, String> {
    match (connected, call) {
        (Err(error), _) => Ok(format!("connection refused: {error}")),
        (Ok(_), None) => Ok("connection refused".to_owned()),
        (Ok(_), Some(Ok(_))) => Err("the call was served (OK)".to_owned()),
        (Ok(_), Some(Err(status))) => match ompp::error::ProtocolError::from_status(&status) {
            Ok(error) if error.reason == pb::ErrorReason::UnauthenticatedPeer => {
                Ok("UNAUTHENTICATED_PEER".to_owned())
            }
            Ok(error) => Err(format!(
                "the session was accepted and the call answered {}",
                crate::case::describe_error(&error)
            )),
            Err(_) => Ok(format!(
                "refused at the transport: {}",
                describe_status(&status)
            )),
        },
    }
}

fn record_refusal(checks: &Checks, description: &str, outcome: Result<String, String>) {
    let passed = outcome.is_ok();
    checks.record(
        "OMPP-TLS-008",
        description,
        "refused like an untrusted certificate (handshake or UNAUTHENTICATED_PEER)",
        match outcome {
            Ok(a) | Err(a) => a,
        },
        passed,
    );
}

async fn link_ca_separation(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let ana = target.customer(checks, 0).await?;
    let timeout = Duration::from_secs(20);

    // Control: the link identity is served on the secure link.
    let control = match target
        .channel_with(
            &link.network_link_url,
            &link.anchors_pem,
            Some(&link.as_mobile),
        )
        .await
    {
        Err(error) => Err(format!("connection failed: {error}")),
        Ok(channel) => NetworkLinkServiceClient::new(channel)
            .relay_get_wallet_balance(pb::RelayGetWalletBalanceRequest {
                envelope: Some(envelope(&link.as_mobile_id, &target.key("ca"), 0)),
                device_id: ana.device_id.clone(),
                request: Some(pb::GetWalletBalanceRequest {}),
            })
            .await
            .map(|_| ())
            .map_err(|status| describe_status(&status)),
    };
    checks.record(
        "OMPP-TLS-008",
        "control: the link identity is served on NetworkLinkService",
        "OK",
        control.clone().err().unwrap_or_else(|| "OK".to_owned()),
        control.is_ok(),
    );

    // Operator-CA certificates on the secure link.
    let connected = target
        .channel_with(
            &link.network_link_url,
            &link.anchors_pem,
            Some(&target.merchant),
        )
        .await;
    let call = match &connected {
        Ok(channel) => tokio::time::timeout(
            timeout,
            NetworkLinkServiceClient::new(channel.clone()).relay_get_wallet_balance(
                pb::RelayGetWalletBalanceRequest {
                    envelope: Some(envelope(&link.as_mobile_id, &target.key("ca"), 0)),
                    device_id: ana.device_id.clone(),
                    request: Some(pb::GetWalletBalanceRequest {}),
                },
            ),
        )
        .await
        .ok(),
        Err(_) => None,
    };
    record_refusal(
        checks,
        "the merchant's operator-CA certificate on NetworkLinkService",
        refused(connected, call),
    );
    let connected = target
        .channel_with(
            &link.mobile_link_url,
            &link.anchors_pem,
            Some(&ana.credential),
        )
        .await;
    let call = match &connected {
        Ok(channel) => tokio::time::timeout(
            timeout,
            MobileLinkServiceClient::new(channel.clone()).push_notice(pb::PushNoticeRequest {
                envelope: Some(envelope(&link.as_network_id, &target.key("ca"), 0)),
                customer_id: ana.customer_id.clone(),
                device_ids: vec![ana.device_id.clone()],
                notice: Some(pb::DeviceNotice {
                    wallet_delta: Some(crate::target::money(1)),
                    ..pb::DeviceNotice::default()
                }),
            }),
        )
        .await
        .ok(),
        Err(_) => None,
    };
    record_refusal(
        checks,
        "a device's operator-CA certificate on MobileLinkService",
        refused(connected, call),
    );

    // Link-CA certificates on the public services.
    let connected = target
        .channel(&target.network_url, Some(&link.as_network))
        .await;
    let call = match &connected {
        Ok(channel) => tokio::time::timeout(
            timeout,
            MerchantPaymentServiceClient::new(channel.clone()).get_merchant_balance(
                pb::GetMerchantBalanceRequest {
                    merchant_id: target.merchant_id.clone(),
                },
            ),
        )
        .await
        .ok(),
        Err(_) => None,
    };
    record_refusal(
        checks,
        "the link CA's network identity on MerchantPaymentService",
        refused(connected, call),
    );
    let connected = target
        .channel(&target.mobile_url, Some(&link.as_mobile))
        .await;
    let call = match &connected {
        Ok(channel) => tokio::time::timeout(
            timeout,
            DeviceServiceClient::new(channel.clone())
                .get_wallet_balance(pb::GetWalletBalanceRequest {}),
        )
        .await
        .ok(),
        Err(_) => None,
    };
    record_refusal(
        checks,
        "the link CA's mobile identity on DeviceService",
        refused(connected, call),
    );
    Ok(())
}

/// One TLS session to `address` that writes the HTTP/2 preface and reads the first answer;
/// the preface goes as 0-RTT data when the client may send it. Returns (resumed, early data
/// offered, early data accepted).
async fn session(
    checks: &Checks,
    config: Arc<rustls::ClientConfig>,
    host: &str,
    address: &str,
) -> Result<(bool, bool, bool), Abort> {
    let name = checks.setup(
        "the server name",
        rustls::pki_types::ServerName::try_from(host.to_owned()),
    )?;
    let tcp = checks.setup(
        "connect to the server",
        tokio::net::TcpStream::connect(address).await,
    )?;
    let mut offered = false;
    let mut tls = checks.setup(
        "a TLS 1.3 handshake",
        tokio_rustls::TlsConnector::from(config)
            .connect_with(name, tcp, |connection| {
                if let Some(mut early) = connection.early_data() {
                    offered = std::io::Write::write_all(&mut early, H2_PREFACE).is_ok();
                }
            })
            .await,
    )?;
    if !offered {
        checks.setup("send the HTTP/2 preface", tls.write_all(H2_PREFACE).await)?;
    }
    let _ = tls.flush().await;
    // Reading lets the client take the session tickets the server sends.
    let mut buffer = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_millis(500), tls.read(&mut buffer)).await;
    let connection = tls.get_ref().1;
    let resumed = connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    Ok((resumed, offered, connection.is_early_data_accepted()))
}

async fn no_early_data(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut config = client_config(checks, &target.trust_anchors_pem, None)?;
    config.enable_early_data = true;
    let config = Arc::new(config);
    let (host, address) = host_and_address(&target.network_url);
    session(checks, config.clone(), &host, &address).await?;
    let (resumed, offered, accepted) = session(checks, config, &host, &address).await?;
    checks.record(
        "OMPP-TLS-002",
        "a second session offering 0-RTT data (when a ticket allows it): the server does not accept early data",
        "early data not accepted",
        format!("resumed={resumed}, early data offered={offered}, accepted={accepted}"),
        !accepted,
    );
    Ok(())
}
