//! The TLS rules of an OMPP client (feature `tls`), for every party that calls another: TLS 1.3
//! only, with only TLS 1.3 cipher suites offered (OMPP-SEC-009); the server's chain checked
//! against the given CA and its single `ompp://` identity against what the caller expects
//! (OMPP-TLS-012): a role (a merchant terminal expects `network`, a device `mobile`, a handset
//! `sms`, the network server `bank` or `sms`) or one exact identity (the other end of the
//! secure link). It builds a rustls configuration and reads certificates; connecting is the
//! caller's.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::types::{PartyIdentity, Role};

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

/// The client TLS configuration: trust `ca_pem`, present `identity` (certificate and key PEM)
/// when given, accept only a server whose identity is `expected`; TLS 1.3 only, HTTP/2 by ALPN.
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
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
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ExpectedServer { chain, expected }));
    let mut config = match identity {
        Some((cert_pem, key_pem)) => {
            let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("own certificate: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                .map_err(|e| format!("own key: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
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
        let presented = identity_of_der(end_entity.as_ref())
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
