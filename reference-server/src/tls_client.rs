//! The operation center as a TLS client: the network server calling the bank processor and the
//! SMS center, and each end of the secure link calling the other, with the client TLS rules of
//! [`ompp::tls`] (TLS 1.3 only, OMPP-SEC-009; the server's identity checked, OMPP-TLS-012): the
//! role `bank` or `sms` of the party it calls, or the exact link identity of the other end.
//!
//! The handshake is ours (tokio-rustls under tonic's HTTP/2), not tonic's built-in TLS, so that
//! the versions offered and the certificate checks are ours to set.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tonic::transport::{Channel, Endpoint, Uri};

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

#[cfg(test)]
mod tests {
    use ompp::tls::{Expected, client_config};
    use ompp::types::{PartyIdentity, Role};

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
            Some((&pki.network.cert_pem, &pki.network.key_pem)),
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
                Some((&pki.link_network.cert_pem, &pki.link_network.key_pem)),
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
