//! TLS channels to the operation center with the client TLS rules of [`ompp::tls`]: TLS 1.3 only
//! (OMPP-SEC-009), the operator CA as trust anchor, the server's `ompp://` identity of the role
//! the service calls for (OMPP-TLS-012), and the client's certificate when the service needs one.
//!
//! The handshake is ours (tokio-rustls under tonic's HTTP/2), not tonic's built-in TLS, so that
//! the protocol versions offered and the server certificate checks are ours to set.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use ompp::tls::identity_of_der;
use ompp::types::{PartyIdentity, Role};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
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
    ompp::tls::client_config(ca_pem, identity, ompp::tls::Expected::Role(server_role))
        .map_err(ClientError::Tls)
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

/// The `ompp://<role>/<id>` identity in a PEM certificate file, if it has one.
pub fn identity_of_pem(path: &Path) -> Result<PartyIdentity, ClientError> {
    let text = read_text(path)?;
    let pem = pem::parse(text.as_bytes())
        .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
    identity_of_der(pem.contents())
        .map_err(|why| ClientError::Usage(format!("{}: {why}", path.display())))
}
