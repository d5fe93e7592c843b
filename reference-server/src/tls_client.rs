//! The operation center as a TLS client: the network server calling the bank processor and the
//! SMS center, and each end of the secure link calling the other. TLS 1.3 only, with only TLS
//! 1.3 cipher suites offered (OMPP-SEC-009); the server's chain checked against the configured
//! CA and its `ompp://` identity against what the caller expects (OMPP-TLS-012): the role `bank`
//! or `sms` of the party it calls, or the exact link identity of the other end.
//!
//! The handshake is ours (tokio-rustls under tonic's HTTP/2), not tonic's built-in TLS, so that
//! the versions offered and the certificate checks are ours to set.

use std::sync::Arc;
use std::time::Duration;

use ompp::types::{PartyIdentity, Role};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tonic::transport::{Channel, Endpoint, Uri};

/// What the caller accepts as the server's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Any identity of this role (the bank processor or SMS center the network server calls).
    Role(Role),
    /// Exactly this identity (the other end of the secure link).
    Identity(PartyIdentity),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Role(role) => write!(f, "role {}", role.as_str()),
            Self::Identity(identity) => write!(f, "{identity}"),
        }
    }
}

/// The client TLS configuration: trust `ca_pem`, present `cert_pem`/`key_pem`, accept only a
/// server whose identity is `expected`; TLS 1.3 only, HTTP/2 by ALPN.
pub fn client_config(
    ca_pem: &str,
    (cert_pem, key_pem): (&str, &str),
    expected: Expected,
) -> Result<ClientConfig, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| suite.version() == &rustls::version::TLS13);
    let provider = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("CA certificate: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("own certificate: {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| format!("own key: {e}"))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExpectedServer { chain, expected }))
        .with_client_auth_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A channel to `url` (`https://host:port`) over TLS made with `config`; it connects on first
/// use and again after a broken connection.
pub fn lazy_channel(
    url: &str,
    config: ClientConfig,
    timeout: Option<Duration>,
) -> Result<Channel, String> {
    let origin: Uri = url.parse().map_err(|_| format!("{url}: not a URL"))?;
    if origin.scheme_str() != Some("https") {
        return Err(format!("{url}: an OMPP endpoint is https://host:port"));
    }
    let host = origin
        .host()
        .ok_or_else(|| format!("{url}: no host"))?
        .to_owned();
    let port = origin.port_u16().unwrap_or(443);
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|_| format!("{url}: not a host name or address"))?;
    let address = format!("{host}:{port}");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| format!("{url}: {e}"))?
        .origin(origin)
        .connect_timeout(Duration::from_secs(5));
    if let Some(timeout) = timeout {
        endpoint = endpoint.timeout(timeout);
    }
    // tonic connects to the endpoint's URI with this connector, which does the TLS; requests
    // still name the https origin.
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let (connector, name, address) = (connector.clone(), name.clone(), address.clone());
            async move {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        })),
    )
}

/// The server's chain and name checked by webpki against the CA, then its single `ompp://`
/// identity against what the caller expects.
#[derive(Debug)]
struct ExpectedServer {
    chain: Arc<WebPkiServerVerifier>,
    expected: Expected,
}

impl ServerCertVerifier for ExpectedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let presented = crate::pki::identity_of(end_entity.as_ref())
            .map_err(|e| refuse(format!("server certificate: {e}")))?;
        let fits = match &self.expected {
            Expected::Role(role) => presented.role() == *role,
            Expected::Identity(identity) => presented == *identity,
        };
        if fits {
            Ok(verified)
        } else {
            // OMPP-TLS-012: the server is not the party this channel is for.
            Err(refuse(format!(
                "the server presents {presented}, expected {} (OMPP-TLS-012)",
                self.expected
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

fn refuse(why: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(std::io::Error::other(why)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{DevPki, Issued, certs_from_pem};
    use crate::tls::{ClientAuth, server_config};

    /// One handshake of `client` against a loopback server with `server`; the client's error.
    async fn handshake(server: rustls::ServerConfig, client: ClientConfig) -> Result<(), String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let accepting = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = acceptor.accept(tcp).await;
        });
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let result = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let _ = accepting.await;
        result
    }

    fn serving_as(pki: &DevPki, issued: &Issued) -> rustls::ServerConfig {
        server_config(
            certs_from_pem(&issued.cert_pem).unwrap(),
            issued.key_der(),
            vec![pki.operator_ca.cert_der()],
            ClientAuth::Required,
        )
        .unwrap()
    }

    fn network_client(pki: &DevPki, expected: Expected) -> ClientConfig {
        client_config(
            &pki.operator_ca.cert_pem(),
            (&pki.network.cert_pem, &pki.network.key_pem),
            expected,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn the_network_server_accepts_only_the_role_it_calls() {
        let pki = DevPki::generate().unwrap();
        // The bank processor's certificate for the bank channel, the SMS center's for the SMS
        // channel: accepted.
        handshake(
            serving_as(&pki, &pki.bank),
            network_client(&pki, Expected::Role(Role::Bank)),
        )
        .await
        .unwrap();
        handshake(
            serving_as(&pki, &pki.sms),
            network_client(&pki, Expected::Role(Role::Sms)),
        )
        .await
        .unwrap();
        // An SMS center (or the mobile server) answering where the bank should be: refused.
        for wrong in [&pki.sms, &pki.mobile] {
            let refused = handshake(
                serving_as(&pki, wrong),
                network_client(&pki, Expected::Role(Role::Bank)),
            )
            .await
            .unwrap_err();
            assert!(
                refused.contains("expected role bank (OMPP-TLS-012)"),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_link_end_accepts_only_the_configured_peer_identity() {
        let pki = DevPki::generate().unwrap();
        let link_ca = pki.link_ca.cert_pem();
        let mobile =
            crate::pki::identity_of(certs_from_pem(&pki.link_mobile.cert_pem).unwrap()[0].as_ref())
                .unwrap();
        let link_server = |issued: &Issued| {
            server_config(
                certs_from_pem(&issued.cert_pem).unwrap(),
                issued.key_der(),
                vec![pki.link_ca.cert_der()],
                ClientAuth::Required,
            )
            .unwrap()
        };
        let as_network = |expected: PartyIdentity| {
            client_config(
                &link_ca,
                (&pki.link_network.cert_pem, &pki.link_network.key_pem),
                Expected::Identity(expected),
            )
            .unwrap()
        };
        handshake(link_server(&pki.link_mobile), as_network(mobile.clone()))
            .await
            .unwrap();
        // The network end's own link certificate answering as the mobile end: refused.
        let refused = handshake(link_server(&pki.link_network), as_network(mobile))
            .await
            .unwrap_err();
        assert!(refused.contains("OMPP-TLS-012"), "{refused}");
    }

    #[tokio::test]
    async fn a_tls_1_2_only_server_gets_no_connection() {
        let pki = DevPki::generate().unwrap();
        let tls12_only = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            certs_from_pem(&pki.bank.cert_pem).unwrap(),
            pki.bank.key_der(),
        )
        .unwrap();
        let refused = handshake(tls12_only, network_client(&pki, Expected::Role(Role::Bank)))
            .await
            .unwrap_err();
        assert!(!refused.is_empty());
        // The same bank certificate over TLS 1.3 is accepted: the version made the difference.
        handshake(
            serving_as(&pki, &pki.bank),
            network_client(&pki, Expected::Role(Role::Bank)),
        )
        .await
        .unwrap();
    }

    #[test]
    fn only_tls_1_3_is_offered() {
        let pki = DevPki::generate().unwrap();
        let config = network_client(&pki, Expected::Role(Role::Bank));
        assert!(
            config
                .crypto_provider()
                .cipher_suites
                .iter()
                .all(|s| s.version() == &rustls::version::TLS13)
        );
    }
}
