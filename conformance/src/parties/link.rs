//! The suite on the secure link, between the operation center's network server and its mobile
//! server: the network server is configured to call `MobileLinkService` here, and every call is
//! forwarded unchanged to the mobile server's link endpoint, presenting the network server's
//! link identity of the manifest (`tls.link.as_network`). It records each envelope as it arrived
//! and can refuse a push before forwarding it, so that a case can judge the network server as a
//! secure-link sender (OMPP-LINK-010) and how it retries (OMPP-FLA-022).
//!
//! It presents the mobile server's link identity (`tls.link.as_mobile`), which the network
//! server expects of its peer, and accepts only a `network` client identity chaining to the link
//! CA.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::mobile_link_service_client::MobileLinkServiceClient;
use ompp::proto::v1::mobile_link_service_server::{MobileLinkService, MobileLinkServiceServer};
use ompp::types::Role;
use ompp_server::pki::{certs_from_pem, key_from_pem};
use ompp_server::tls::{ClientAuth, incoming, server_config};
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server};
use tonic::{Request, Response, Status};

use crate::target::Credential;

/// One `MobileLinkService` call as it reached the suite.
#[derive(Debug, Clone)]
pub struct LinkMessage {
    /// `PushPaymentRequest` or `PushNotice`.
    pub rpc: &'static str,
    /// The envelope as sent; `None` when the request had none.
    pub envelope: Option<pb::LinkEnvelope>,
    /// The devices addressed.
    pub device_ids: Vec<String>,
    /// The payment pushed (`PushPaymentRequest`) or noticed, if any.
    pub payment_id: String,
    /// When the suite received it, by its own clock.
    pub received_at: SystemTime,
    /// Whether the suite refused it instead of forwarding it.
    pub refused: bool,
}

#[derive(Debug, Default)]
struct State {
    log: Vec<LinkMessage>,
    /// Pushes still to refuse, by addressed device id.
    refuse: HashMap<String, u32>,
}

/// The running proxy; clones share the log. It stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct LinkProxy {
    state: Arc<Mutex<State>>,
    upstream: Upstream,
    config: LinkProxyConfig,
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: Arc<watch::Sender<()>>,
}

/// What the proxy presents, accepts and forwards to.
#[derive(Debug, Clone)]
pub struct LinkProxyConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The mobile server's link endpoint (`https://host:port`), when known at the start; else
    /// [`LinkProxy::forward_to`] gives it later.
    pub upstream_url: Option<String>,
    /// PEM link CA: anchors the network server's client certificate and the mobile server's.
    pub anchors_pem: String,
    /// Presented to the network server: the mobile server's link identity.
    pub as_mobile: Credential,
    /// Presented to the mobile server: the network server's link identity.
    pub as_network: Credential,
}

/// The mobile server's link, once known.
type Upstream = Arc<OnceLock<MobileLinkServiceClient<Channel>>>;

#[derive(Debug, Clone)]
struct Service {
    state: Arc<Mutex<State>>,
    upstream: Upstream,
}

impl Service {
    fn upstream(&self) -> Result<MobileLinkServiceClient<Channel>, Status> {
        self.upstream.get().cloned().ok_or_else(|| {
            Status::unavailable("the suite's link proxy does not know the mobile server yet")
        })
    }
}

impl LinkProxy {
    /// Binds and starts serving; the upstream connection is made on the first call.
    pub async fn start(config: &LinkProxyConfig) -> Result<Self, String> {
        let proxy = Self::listen(config).await?;
        if let Some(url) = &config.upstream_url {
            proxy.forward_to(url)?;
        }
        Ok(proxy)
    }

    /// Forwards to the mobile server's link endpoint at `url` (`https://host:port`) from now
    /// on; the connection is made on the first call. Only the first call has an effect.
    pub fn forward_to(&self, url: &str) -> Result<(), String> {
        let config = &self.config;
        let host = url
            .trim_start_matches("https://")
            .split([':', '/'])
            .next()
            .unwrap_or_default()
            .to_owned();
        let upstream = Endpoint::from_shared(url.to_owned())
            .and_then(|e| {
                e.tls_config(
                    ClientTlsConfig::new()
                        .ca_certificate(Certificate::from_pem(&config.anchors_pem))
                        .identity(Identity::from_pem(
                            &config.as_network.cert_pem,
                            &config.as_network.key_pem,
                        ))
                        .domain_name(host),
                )
            })
            .map_err(|e| format!("the mobile server's link endpoint: {e}"))?
            .timeout(std::time::Duration::from_secs(10))
            .connect_lazy();
        let _ = self.upstream.set(MobileLinkServiceClient::new(upstream));
        Ok(())
    }

    async fn listen(config: &LinkProxyConfig) -> Result<Self, String> {
        let anchors =
            certs_from_pem(&config.anchors_pem).map_err(|e| format!("link trust anchors: {e}"))?;
        let chain = certs_from_pem(&config.as_mobile.cert_pem)
            .map_err(|e| format!("link identity as mobile server: {e}"))?;
        let key = key_from_pem(&config.as_mobile.key_pem)
            .map_err(|e| format!("link identity as mobile server: {e}"))?;
        let tls = server_config(chain, key, anchors, ClientAuth::Required)
            .map_err(|e| format!("the suite's link proxy TLS: {e}"))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| {
                format!(
                    "the suite's link proxy cannot listen on {}: {e}",
                    config.listen
                )
            })?;
        let addr = listener.local_addr().unwrap_or(config.listen);
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = Upstream::default();
        let service = Service {
            state: state.clone(),
            upstream: upstream.clone(),
        };
        let (stop, mut stopped) = watch::channel(());
        tokio::spawn(
            Server::builder()
                .add_service(MobileLinkServiceServer::new(service))
                .serve_with_incoming_shutdown(incoming(listener, tls), async move {
                    // Resolves once the sender is gone; no value is ever sent.
                    while stopped.changed().await.is_ok() {}
                }),
        );
        Ok(Self {
            state,
            upstream,
            config: config.clone(),
            addr,
            _stop: Arc::new(stop),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Refuses the next `times` pushes addressed to `device_id` with `UNAVAILABLE`
    /// (`SERVICE_UNAVAILABLE`), without forwarding them.
    pub fn refuse_pushes(&self, device_id: &str, times: u32) {
        self.lock().refuse.insert(device_id.to_owned(), times);
    }

    /// Every call addressed to `device_id`, oldest first.
    pub fn messages_for(&self, device_id: &str) -> Vec<LinkMessage> {
        self.lock()
            .log
            .iter()
            .filter(|m| m.device_ids.iter().any(|d| d == device_id))
            .cloned()
            .collect()
    }
}

impl Service {
    /// Records the call and says whether to refuse it.
    fn record(&self, mut message: LinkMessage) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if message.rpc == "PushPaymentRequest" {
            for device in &message.device_ids {
                if let Some(left) = state.refuse.get_mut(device).filter(|left| **left > 0) {
                    *left -= 1;
                    message.refused = true;
                }
            }
        }
        let refused = message.refused;
        state.log.push(message);
        refused
    }
}

fn refused() -> Status {
    ProtocolError::new(
        pb::ErrorReason::ServiceUnavailable,
        "the conformance suite refused this push on purpose",
    )
    .into()
}

fn admit<T>(request: &Request<T>) -> Result<(), Status> {
    ompp_server::tls::require_role(request, Role::Network)
        .map(|_| ())
        .map_err(Status::from)
}

#[tonic::async_trait]
impl MobileLinkService for Service {
    async fn push_payment_request(
        &self,
        request: Request<pb::PushPaymentRequestRequest>,
    ) -> Result<Response<pb::PushPaymentRequestResponse>, Status> {
        admit(&request)?;
        let body = request.into_inner();
        let refuse = self.record(LinkMessage {
            rpc: "PushPaymentRequest",
            envelope: body.envelope.clone(),
            device_ids: body.device_ids.clone(),
            payment_id: body
                .payment_request
                .as_ref()
                .map(|p| p.payment_id.clone())
                .unwrap_or_default(),
            received_at: SystemTime::now(),
            refused: false,
        });
        if refuse {
            return Err(refused());
        }
        self.upstream()?.push_payment_request(body).await
    }

    async fn push_notice(
        &self,
        request: Request<pb::PushNoticeRequest>,
    ) -> Result<Response<pb::PushNoticeResponse>, Status> {
        admit(&request)?;
        let body = request.into_inner();
        self.record(LinkMessage {
            rpc: "PushNotice",
            envelope: body.envelope.clone(),
            device_ids: body.device_ids.clone(),
            payment_id: body
                .notice
                .as_ref()
                .map(|n| n.payment_id.clone())
                .unwrap_or_default(),
            received_at: SystemTime::now(),
            refused: false,
        });
        self.upstream()?.push_notice(body).await
    }
}
