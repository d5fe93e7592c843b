//! TLS for every listener and link: TLS 1.3 only (rustls, ring), client certificates checked
//! against the right CA, and the caller's identity read from its certificate.
//!
//! Listeners do their own TLS handshakes (rather than tonic's built-in TLS) so that the protocol
//! versions and the client-certificate policy are ours to set; tonic still sees the
//! `tokio_rustls` stream and exposes the peer certificates through `Request::peer_certs()`.

use std::io;
use std::sync::Arc;

use ompp::error::ProtocolError;
use ompp::proto::v1::ErrorReason;
use ompp::types::{PartyIdentity, Role};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// Whether a listener demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a certificate from the trusted CA.
    Required,
    /// A certificate is checked if presented; calls without one reach handlers, which decide
    /// (registration is open; merchant calls are not).
    Optional,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a TLS 1.3-only server configuration with `cert_chain`/`key`, verifying client
/// certificates against `client_roots` (OMPP-TLS-001).
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: Vec<CertificateDer<'static>>,
    client_auth: ClientAuth,
) -> Result<ServerConfig, rustls::Error> {
    let mut roots = RootCertStore::empty();
    for root in client_roots {
        roots.add(root)?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let verifier = match client_auth {
        ClientAuth::Required => builder.build(),
        ClientAuth::Optional => builder.allow_unauthenticated().build(),
    }
    .map_err(|e| rustls::Error::General(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(cert_chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A stream of TLS connections for `tonic::transport::Server::serve_with_incoming`. Handshakes
/// run in their own tasks so a slow or hostile client never stalls `accept`; failed handshakes
/// are logged and dropped.
pub fn incoming(
    listener: TcpListener,
    config: ServerConfig,
) -> ReceiverStream<Result<TlsStream<tokio::net::TcpStream>, io::Error>> {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let (tx, rx) = mpsc::channel(128);
    tokio::spawn(async move {
        loop {
            // Stop listening (and free the port) as soon as the server is gone, not at the
            // next connection attempt.
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => break,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            };
            // gRPC sends small frames and waits for the answer: Nagle's algorithm would hold
            // each back for up to 40 ms.
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%peer, %error, "cannot set TCP_NODELAY");
            }
            let acceptor = acceptor.clone();
            let handshake_tx = tx.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                        .await;
                match handshake {
                    Ok(Ok(stream)) => {
                        let _ = handshake_tx.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake rejected"),
                    Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// The identity in the caller's client certificate, if it presented one.
pub fn peer_identity<T>(request: &tonic::Request<T>) -> Option<PartyIdentity> {
    let certs = request.peer_certs()?;
    let leaf = certs.first()?;
    crate::pki::identity_of(leaf.as_ref()).ok()
}

/// The caller's identity, which must have `role`; otherwise `UNAUTHENTICATED_PEER`
/// (no certificate) or `PEER_NOT_ALLOWED` (another role).
pub fn require_role<T>(
    request: &tonic::Request<T>,
    role: Role,
) -> Result<PartyIdentity, ProtocolError> {
    let identity = peer_identity(request).ok_or_else(|| {
        ProtocolError::new(
            ErrorReason::UnauthenticatedPeer,
            "this service requires a client certificate",
        )
    })?;
    if identity.role() == role {
        Ok(identity)
    } else {
        Err(ProtocolError::new(
            ErrorReason::PeerNotAllowed,
            format!("this service accepts only {} certificates", role.as_str()),
        ))
    }
}

/// A tonic client TLS configuration: trust `ca_pem`, present `cert_pem`/`key_pem`, and expect
/// the server to be named `domain`.
pub fn client_tls(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
    domain: &str,
) -> tonic::transport::ClientTlsConfig {
    let mut tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca_pem))
        .domain_name(domain);
    if let Some((cert, key)) = identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
    }
    tls
}
