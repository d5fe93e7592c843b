//! TLS channels to the operation center: TLS 1.3 only (OMPP-SEC-009), the operator CA as trust
//! anchor, the server's `ompp://` identity of the role the service calls for (OMPP-TLS-012),
//! and the client's certificate when the service needs one.
//!
//! The handshake is ours (tokio-rustls under tonic's HTTP/2), not tonic's built-in TLS, so that
//! the protocol versions offered and the server certificate checks are ours to set.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ompp::types::{PartyIdentity, Role};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::{ClientError, read_text};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// `https://host:port`.
    pub url: &'a str,
    /// PEM file of the operator CA.
    pub ca: &'a Path,
    /// PEM certificate and key files of the client, if the service needs them.
    pub identity: Option<(&'a Path, &'a Path)>,
    /// The role the server's certificate must carry (OMPP-TLS-012): `network` for a merchant
    /// terminal and any client of `RegistrationService` (and of `GatewayService`, which the
    /// network server serves), `mobile` for a device, `sms` for a handset.
    pub server_role: Role,
}

/// The TLS configuration of a client that expects a server of `server_role` certified by
/// `ca_pem`, presenting `identity` (certificate and key PEM) if given: TLS 1.3 only
/// (OMPP-SEC-009), HTTP/2 by ALPN.
pub fn tls_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
    server_role: Role,
) -> Result<ClientConfig, ClientError> {
    let tls = |e: rustls::Error| ClientError::Tls(e.to_string());
    // Only TLS 1.3 cipher suites, so that the ClientHello offers nothing a TLS 1.2 server
    // could select.
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| suite.version() == &rustls::version::TLS13);
    let provider = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| ClientError::Tls(format!("operator CA: {e}")))?;
        roots.add(cert).map_err(tls)?;
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ClientError::Tls(format!("operator CA: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RoleVerifier {
            chain,
            role: server_role,
        }));
    let mut config = match identity {
        Some((cert, key)) => {
            let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| ClientError::Tls(format!("client key: {e}")))?;
            builder.with_client_auth_cert(certs, key).map_err(tls)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Checks the server's chain and name against the operator CA (webpki), then that its single
/// `ompp://` identity has the expected role.
#[derive(Debug)]
struct RoleVerifier {
    chain: Arc<WebPkiServerVerifier>,
    role: Role,
}

impl ServerCertVerifier for RoleVerifier {
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
        let refuse = |why: String| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(ClientError::Tls(why)),
            )))
        };
        match identity_of_der(end_entity) {
            Ok(identity) if identity.role() == self.role => Ok(verified),
            Ok(identity) => Err(refuse(format!(
                "the server presents {identity}, expected role {} (OMPP-TLS-012)",
                self.role.as_str()
            ))),
            Err(why) => Err(refuse(format!("server certificate: {why}"))),
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

/// Opens a channel to `target`.
pub async fn channel(target: &Target<'_>) -> Result<Channel, ClientError> {
    let ca = read_text(target.ca)?;
    let identity = match target.identity {
        Some((cert, key)) => Some((read_text(cert)?, read_text(key)?)),
        None => None,
    };
    let config = tls_config(
        &ca,
        identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
        target.server_role,
    )?;
    connect(target.url, config).await
}

/// Opens an HTTP/2 channel to `url` (`https://host:port`) over a TLS connection made with
/// `config`.
pub async fn connect(url: &str, config: ClientConfig) -> Result<Channel, ClientError> {
    let usage = |why: &str| ClientError::Usage(format!("{url}: {why}"));
    let origin: Uri = url.parse().map_err(|_| usage("not a URL"))?;
    if origin.scheme_str() != Some("https") {
        return Err(usage("an OMPP endpoint is https://host:port"));
    }
    let host = origin.host().ok_or_else(|| usage("no host"))?.to_owned();
    let port = origin.port_u16().unwrap_or(443);
    let name = ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|_| usage("not a host name or address"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let address = format!("{host}:{port}");
    let connect_error = |source| ClientError::Connect {
        url: url.to_owned(),
        source,
    };
    // tonic connects to the endpoint's URI with the connector below, which does the TLS; the
    // requests still name the https origin.
    Endpoint::from_shared(format!("http://{address}"))
        .map_err(connect_error)?
        .origin(origin)
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            let name = name.clone();
            let address = address.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                tcp.set_nodelay(true)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(connect_error)
}

/// The single `ompp://` identity of a DER certificate: none, several or a malformed one is an
/// error.
pub fn identity_of_der(der: &[u8]) -> Result<PartyIdentity, String> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not a certificate: {e}"))?;
    let uris: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::URI(uri) => Some(uri.to_string()),
                    _ => None,
                })
                .filter(|uri| {
                    uri.get(..5)
                        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("ompp:"))
                })
                .collect()
        })
        .unwrap_or_default();
    match uris.as_slice() {
        [uri] => PartyIdentity::parse(uri).map_err(|_| format!("bad ompp:// identity {uri:?}")),
        [] => Err("no ompp:// identity".to_owned()),
        _ => Err("several ompp:// identities".to_owned()),
    }
}

/// The `ompp://<role>/<id>` identity in a PEM certificate file, if it has one.
pub fn identity_of_pem(path: &Path) -> Result<PartyIdentity, ClientError> {
    let text = read_text(path)?;
    let pem = pem::parse(text.as_bytes())
        .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
    identity_of_der(pem.contents())
        .map_err(|why| ClientError::Usage(format!("{}: {why}", path.display())))
}
