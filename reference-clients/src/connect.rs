//! TLS channels to the operation center: the operator CA as trust anchor, and the client's
//! certificate when the service needs one.

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

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
}

/// Opens a channel to `target`.
pub async fn channel(target: &Target<'_>) -> Result<Channel, ClientError> {
    let ca = read_text(target.ca)?;
    let host = target
        .url
        .trim_start_matches("https://")
        .split([':', '/'])
        .next()
        .unwrap_or("localhost")
        .to_owned();
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name(host);
    if let Some((cert, key)) = target.identity {
        tls = tls.identity(Identity::from_pem(read_text(cert)?, read_text(key)?));
    }
    let connect_error = |source| ClientError::Connect {
        url: target.url.to_owned(),
        source,
    };
    Endpoint::from_shared(target.url.to_owned())
        .map_err(connect_error)?
        .tls_config(tls)
        .map_err(connect_error)?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(connect_error)
}

/// The `ompp://<role>/<id>` identity in a PEM certificate file, if it has one.
pub fn identity_of_pem(path: &Path) -> Result<ompp::types::PartyIdentity, ClientError> {
    let text = read_text(path)?;
    let pem = pem::parse(text.as_bytes())
        .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
    let (_, cert) = x509_parser::parse_x509_certificate(pem.contents())
        .map_err(|e| ClientError::Usage(format!("{}: not a certificate: {e}", path.display())))?;
    let uris = cert
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
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    uris.iter()
        .find_map(|uri| ompp::types::PartyIdentity::parse(uri).ok())
        .ok_or_else(|| {
            ClientError::Usage(format!(
                "{}: no ompp:// identity in the certificate",
                path.display()
            ))
        })
}
