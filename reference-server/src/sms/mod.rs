//! The reference SMS center (SC): the out-of-band channel of flow C.
//!
//! Two listeners:
//! - `SmsCenterService` for the network server: mutual TLS with the `sms` certificate, client
//!   certificates from the operator CA, callers allow-listed by identity (OMPP-TLS-009,
//!   OMPP-TLS-010). Submissions are stored durably before the answer and are idempotent by
//!   `message_id` (OMPP-SMS-001..003, OMPP-SMS-007).
//! - `HandsetService` for handsets: server TLS only; a handset authenticates with the token it
//!   got at registration (OMPP-SMS-008..010). Its stream first carries every queued message for
//!   its number, oldest first, then each new one (OMPP-SMS-004); an acknowledgement makes a
//!   message `DELIVERED` (OMPP-SMS-011).
//!
//! State is one SQLite file, `sms-center.sqlite3` in the data directory. A message whose
//! validity ends unacknowledged becomes `EXPIRED` with `SMS_UNDELIVERABLE` if a handset was
//! registered for its number by then, otherwise `FAILED` with `UNKNOWN_HANDSET` (OMPP-SMS-005,
//! OMPP-SMS-006). Message texts carry authorization codes: they are never logged
//! (OMPP-SMS-012), and the stored text is erased once the message is delivered, expired or
//! failed. Handset tokens are stored only as SHA-256 digests and never logged.

mod handset;
mod service;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ompp::limits::MAX_REQUEST_BYTES;
use ompp::proto::v1::handset_service_server::HandsetServiceServer;
use ompp::proto::v1::sms_center_service_server::SmsCenterServiceServer;
use ompp::types::PartyIdentity;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::Server;

use self::handset::HandsetHandler;
use self::service::{Sms, SmsCenterHandler};
use self::store::SmsStore;
use crate::clock::{Clock, SystemClock};
use crate::pki::{DevPki, certs_from_pem};
use crate::tls::{ClientAuth, server_config};

/// Name of the SMS center's database file in the data directory.
pub const DATABASE_FILE: &str = "sms-center.sqlite3";

/// How often messages past their validity are swept (reads apply expiry themselves).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The `[sms]` configuration of the SMS center.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Address of `SmsCenterService` (mutual TLS); default `127.0.0.1:7400`.
    pub listen: SocketAddr,
    /// Address of `HandsetService` (server TLS; handsets authenticate with their token);
    /// default `127.0.0.1:7401`.
    pub handset_listen: SocketAddr,
    /// Identities (`ompp://<role>/<id>`) allowed to call `SmsCenterService`; default
    /// `["ompp://network/NS-1"]`.
    pub allowed_clients: Vec<String>,
    /// Fault injection: start with `SubmitMessage` answering `SERVICE_UNAVAILABLE`.
    pub unavailable: bool,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7400)),
            handset_listen: SocketAddr::from(([127, 0, 0, 1], 7401)),
            allowed_clients: vec!["ompp://network/NS-1".to_owned()],
            unavailable: false,
        }
    }
}

/// Runtime fault injection shared with tests.
#[derive(Debug, Clone, Default)]
pub struct SmsFaults {
    unavailable: Arc<AtomicBool>,
    latency_ms: Arc<AtomicU64>,
    /// Broken variant for the conformance suite's own tests (feature "defects").
    #[cfg(feature = "defects")]
    defects: Arc<std::sync::RwLock<crate::defects::Defects>>,
}

impl SmsFaults {
    /// While `yes`, `SubmitMessage` answers `UNAVAILABLE` (`ErrorInfo` `SERVICE_UNAVAILABLE`)
    /// and stores nothing.
    pub fn set_unavailable(&self, yes: bool) {
        self.unavailable.store(yes, Ordering::SeqCst);
    }

    /// Delays every `SmsCenterService` answer by `d`, after the request was handled (a slow or
    /// lost answer: the message is stored all the same). Zero turns the delay off.
    pub fn set_latency(&self, d: Duration) {
        let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(millis, Ordering::SeqCst);
    }

    /// Whether `SubmitMessage` currently refuses service.
    pub fn unavailable(&self) -> bool {
        self.unavailable.load(Ordering::SeqCst)
    }

    /// The current answer delay.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::SeqCst))
    }

    /// Switches the defects of a broken variant on (the conformance suite's own tests).
    #[cfg(feature = "defects")]
    pub fn set_defects(&self, defects: crate::defects::Defects) {
        *self
            .defects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = defects;
    }

    /// Whether `defect` is switched on.
    #[cfg(feature = "defects")]
    pub(crate) fn defect(&self, defect: crate::defects::Defect) -> bool {
        self.defects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .has(defect)
    }
}

/// A failure to start the SMS center.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate or key of the PKI could not be read.
    #[error("PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The database could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The configuration is not usable (e.g. a malformed `allowed_clients` entry).
    #[error("{0}")]
    Config(String),
    /// I/O on the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running SMS center.
#[derive(Debug)]
pub struct RunningSms {
    /// Address of `SmsCenterService`.
    pub addr: SocketAddr,
    /// Address of `HandsetService`.
    pub handset_addr: SocketAddr,
    /// Fault injection for this SMS center.
    pub faults: SmsFaults,
    stop: watch::Sender<bool>,
    sms: Sms,
    tasks: JoinSet<()>,
}

impl RunningSms {
    /// Stops accepting, ends handset streams, lets in-flight requests finish, and waits for
    /// every task.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.sms.close_streams();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until every task ends (after the shutdown signal).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SmsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SmsError::Bind { addr, source })
}

/// Resolves when the flag becomes true; never if the sender is gone first.
async fn turned_true(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts both listeners of the SMS center with its own SQLite file
/// `data_dir/sms-center.sqlite3`: `SmsCenterService` over TLS 1.3 with `pki.sms`, client
/// certificates required against `pki.operator_ca` and the caller's identity checked against
/// `allowed_clients` (else `PEER_NOT_ALLOWED`); `HandsetService` with `pki.sms` and no client
/// certificate. Stops when `shutdown` turns true (a dropped sender does not stop it; use
/// [`RunningSms::stop`]), ending handset streams so that shutdown is prompt.
pub async fn start_sms(
    config: &SmsConfig,
    pki: &DevPki,
    data_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningSms, SmsError> {
    start_sms_with_clock(config, pki, data_dir, Arc::new(SystemClock), shutdown).await
}

/// [`start_sms`] with another clock (tests use a manual one to pass validity without waiting).
pub async fn start_sms_with_clock(
    config: &SmsConfig,
    pki: &DevPki,
    data_dir: &Path,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningSms, SmsError> {
    let allowed_clients = config
        .allowed_clients
        .iter()
        .map(|uri| {
            PartyIdentity::parse(uri)
                .map_err(|v| SmsError::Config(format!("sms.allowed_clients entry {uri:?}: {v}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(data_dir).map_err(|source| SmsError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    let store = SmsStore::open(&data_dir.join(DATABASE_FILE))?;
    let faults = SmsFaults::default();
    faults.set_unavailable(config.unavailable);
    let sms = Sms::new(store, clock, faults.clone(), allowed_clients);

    let center_listener = bind(config.listen).await?;
    let handset_listener = bind(config.handset_listen).await?;
    let addr = center_listener.local_addr().unwrap_or(config.listen);
    let handset_addr = handset_listener
        .local_addr()
        .unwrap_or(config.handset_listen);

    // OMPP-TLS-009: the network server's side requires an operator-CA client certificate.
    let center_tls = server_config(
        certs_from_pem(&pki.sms.cert_pem)?,
        pki.sms.key_der(),
        vec![pki.operator_ca.cert_der()],
        ClientAuth::Required,
    )?;
    // OMPP-TLS-013: handsets present no certificate; their token authenticates.
    let handset_tls = server_config(
        certs_from_pem(&pki.sms.cert_pem)?,
        pki.sms.key_der(),
        vec![pki.operator_ca.cert_der()],
        ClientAuth::Optional,
    )?;

    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SmsCenterServiceServer<SmsCenterHandler>>()
        .await;
    health_reporter
        .set_serving::<HandsetServiceServer<HandsetHandler>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ompp::proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| SmsError::Config(format!("reflection: {e}")))
    };
    // Oversized requests up to 4x the limit reach the handlers, which answer MESSAGE_TOO_LARGE
    // (OMPP-MSG-010); beyond that the gRPC library refuses them by itself.
    let max_decoding = 4 * MAX_REQUEST_BYTES;

    let center_server = Server::builder()
        .add_service(health_service.clone())
        .add_service(reflection()?)
        .add_service(
            SmsCenterServiceServer::new(SmsCenterHandler::new(sms.clone()))
                .max_decoding_message_size(max_decoding),
        )
        .serve_with_incoming_shutdown(
            crate::tls::incoming(center_listener, center_tls),
            turned_true(stop_rx.clone()),
        );
    tasks.spawn(async move {
        if let Err(error) = center_server.await {
            tracing::error!(%error, "SMS center service stopped");
        }
    });

    let handset_server = Server::builder()
        .add_service(health_service)
        .add_service(reflection()?)
        .add_service(
            HandsetServiceServer::new(HandsetHandler::new(sms.clone()))
                .max_decoding_message_size(max_decoding),
        )
        .serve_with_incoming_shutdown(
            crate::tls::incoming(handset_listener, handset_tls),
            turned_true(stop_rx.clone()),
        );
    tasks.spawn(async move {
        if let Err(error) = handset_server.await {
            tracing::error!(%error, "handset service stopped");
        }
    });

    // The external shutdown signal: stop the servers and end the handset streams, whose
    // responses would otherwise hold the graceful shutdown open.
    let closer = sms.clone();
    let internal = stop_rx.clone();
    let forward = stop.clone();
    tasks.spawn(async move {
        tokio::select! {
            () = turned_true(shutdown) => {
                let _ = forward.send(true);
            }
            () = turned_true(internal) => {}
        }
        closer.close_streams();
    });

    // Expiry sweeper: reports turn EXPIRED or FAILED when validity ends, even unread.
    let sweeper = sms.clone();
    let mut stopped = stop_rx;
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let sms = sweeper.clone();
                    if let Err(error) = crate::errors::blocking(move || sms.sweep()).await {
                        tracing::warn!(%error, "SMS expiry sweep failed");
                    }
                }
                changed = stopped.changed() => {
                    if changed.is_err() || *stopped.borrow() {
                        return;
                    }
                }
            }
        }
    });

    tracing::info!(%addr, %handset_addr, "SMS center listening");
    Ok(RunningSms {
        addr,
        handset_addr,
        faults,
        stop,
        sms,
        tasks,
    })
}
