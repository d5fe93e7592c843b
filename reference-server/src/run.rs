//! Starting and stopping the operation center: listeners, TLS, link clients, services, health,
//! reflection, the expiry sweeper, and a graceful shutdown that finishes in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ompp::firewall::{Firewall, FirewallConfig};
use ompp::proto::v1::bank_processor_service_client::BankProcessorServiceClient;
use ompp::proto::v1::device_service_server::DeviceServiceServer;
use ompp::proto::v1::gateway_service_server::GatewayServiceServer;
use ompp::proto::v1::merchant_payment_service_server::MerchantPaymentServiceServer;
use ompp::proto::v1::mobile_link_service_client::MobileLinkServiceClient;
use ompp::proto::v1::mobile_link_service_server::MobileLinkServiceServer;
use ompp::proto::v1::network_link_service_client::NetworkLinkServiceClient;
use ompp::proto::v1::network_link_service_server::NetworkLinkServiceServer;
use ompp::proto::v1::registration_service_server::RegistrationServiceServer;
use ompp::proto::v1::sms_center_service_client::SmsCenterServiceClient;
use ompp::types::{MerchantId, PartyIdentity};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::{Channel, Server};

use crate::clock::Clock;
use crate::config::Config;
use crate::link::{EnvelopeStamp, LinkGuard};
use crate::mobile::{DeviceHandler, Mobile, MobileLinkHandler};
use crate::network::{
    CodeLocation, GatewayHandler, MerchantHandler, Network, NetworkLinkHandler, NetworkParts,
    PayeeCodeKeys, RegistrationHandler,
};
use crate::passwords::PasswordHasherService;
use crate::pki::{DevPki, Issued, certs_from_pem};
use crate::store::sqlite::SqliteStore;
use crate::store::{MerchantRecord, Store};
use crate::tls::{ClientAuth, server_config};

/// Which servers this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Network server only.
    Network,
    /// Mobile server only.
    Mobile,
    /// The reference bank processor only.
    Bank,
    /// The reference SMS center only.
    Sms,
    /// Network and mobile server joined by the secure link, calling the bank processor and SMS
    /// center at `network.bank_url` and `network.sms_url` (for example the conformance suite's).
    OperationCenter,
    /// Everything: network and mobile server joined by the secure link, and the reference bank
    /// processor and SMS center they call.
    All,
}

/// A failure to start.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The PKI could not be created or read.
    #[error("PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A link URL is not usable.
    #[error("link endpoint {url}: {source}")]
    Endpoint {
        /// The URL.
        url: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// Another configuration problem.
    #[error("{0}")]
    Config(String),
    /// I/O on the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The running operation center.
#[derive(Debug)]
pub struct Running {
    /// Network server public address (when it runs here).
    pub network_addr: Option<SocketAddr>,
    /// Network server link address.
    pub network_link_addr: Option<SocketAddr>,
    /// Mobile server device address.
    pub mobile_addr: Option<SocketAddr>,
    /// Mobile server link address.
    pub mobile_link_addr: Option<SocketAddr>,
    /// The network server's state, for tests and operators.
    pub network: Option<Network>,
    /// The mobile server's state.
    pub mobile: Option<Mobile>,
    /// The reference bank processor, when it runs here.
    pub bank: Option<crate::bank::RunningBank>,
    /// The reference SMS center, when it runs here.
    pub sms: Option<crate::sms::RunningSms>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, ends device and watch streams, and
    /// waits for every server task.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(mobile) = &self.mobile {
            mobile.close_streams();
        }
        while self.tasks.join_next().await.is_some() {}
        if let Some(bank) = self.bank.take() {
            bank.stop().await;
        }
        if let Some(sms) = self.sms.take() {
            sms.stop().await;
        }
    }

    /// Waits until every server task ends (after a shutdown signal).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// A sender that triggers the shutdown (e.g. from a signal handler).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Reads the PKI in `config.pki_dir()`, creating a development PKI there on first start.
pub fn load_or_create_pki(config: &Config) -> Result<DevPki, StartError> {
    let dir = config.pki_dir();
    if dir.join("operator-ca.key").exists() {
        return Ok(DevPki::read(&dir)?);
    }
    let pki = DevPki::generate()?;
    pki.write(&dir)?;
    tracing::info!(dir = %dir.display(), "created a development PKI");
    Ok(pki)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn local(listener: &TcpListener, fallback: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(fallback)
}

fn link_channel(
    url: &str,
    link_ca_pem: &str,
    identity: &Issued,
    peer: &PartyIdentity,
) -> Result<Channel, StartError> {
    let tls = ompp::tls::client_config(
        link_ca_pem,
        Some((&identity.cert_pem, &identity.key_pem)),
        ompp::tls::Expected::Identity(peer.clone()),
    )
    .map_err(StartError::Config)?;
    crate::tls_client::lazy_channel(url, tls, Some(Duration::from_secs(10)))
        .map_err(StartError::Config)
}

/// A channel to the bank processor or SMS center: mutual TLS with the network server's
/// identity, trusting the operator CA, accepting only the configured identity `expected` (a
/// `(setting, value)` pair), which must be of `role` (OMPP-TLS-012).
fn upstream_channel(
    config: &Config,
    url: &str,
    pki: &DevPki,
    (setting, expected): (&str, &str),
    role: ompp::types::Role,
) -> Result<Channel, StartError> {
    let identity = PartyIdentity::parse(expected)
        .map_err(|v| StartError::Config(format!("{setting} {expected:?}: {v}")))?;
    if identity.role() != role {
        return Err(StartError::Config(format!(
            "{setting} {expected:?}: must be an identity of role {}",
            role.as_str()
        )));
    }
    #[allow(unused_mut)]
    let mut tls = ompp::tls::client_config(
        &pki.operator_ca.cert_pem(),
        Some((&pki.network.cert_pem, &pki.network.key_pem)),
        ompp::tls::Expected::Identity(identity.clone()),
    )
    .map_err(StartError::Config)?;
    #[cfg(feature = "defects")]
    crate::defects::weaken_upstream_tls(
        &config.defects,
        &mut tls,
        &pki.operator_ca.cert_pem(),
        (&pki.network.cert_pem, &pki.network.key_pem),
        &identity,
    )
    .map_err(StartError::Config)?;
    #[cfg(not(feature = "defects"))]
    let _ = (config, identity);
    crate::tls_client::lazy_channel(url, tls, None).map_err(StartError::Config)
}

/// Runs a server future as a task, logging why it stopped if it stopped with an error.
fn spawn_server<F>(tasks: &mut JoinSet<()>, what: &'static str, server: F)
where
    F: std::future::Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
{
    tasks.spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, server = what, "server stopped");
        }
    });
}

/// TLS for one end of the secure link: its link certificate, peers pinned to the link CA
/// (OMPP-LINK-001, OMPP-TLS-008).
fn link_server_config(end: &Issued, pki: &DevPki) -> Result<rustls::ServerConfig, StartError> {
    Ok(server_config(
        certs_from_pem(&end.cert_pem)?,
        end.key_der(),
        vec![pki.link_ca.cert_der()],
        ClientAuth::Required,
    )?)
}

fn identity(issued: &Issued) -> Result<PartyIdentity, StartError> {
    Ok(crate::pki::identity_of(issued.cert_der.as_ref())?)
}

async fn shutdown_signal(mut rx: watch::Receiver<bool>) {
    // Resolves when the flag becomes true or the sender is gone.
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Starts the servers of `role` with `config`, `clock` and `store` (`None`: the SQLite file in
/// the data directory).
pub async fn start(
    config: &Config,
    role: Role,
    clock: Arc<dyn Clock>,
    store: Option<Arc<dyn Store>>,
) -> Result<Running, StartError> {
    let pki = load_or_create_pki(config)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let run_network = matches!(role, Role::Network | Role::OperationCenter | Role::All);
    let run_mobile = matches!(role, Role::Mobile | Role::OperationCenter | Role::All);

    // The counterparties first, so that the network server in the same process knows where
    // they listen.
    let bank = if matches!(role, Role::Bank | Role::All) {
        Some(
            crate::bank::start_bank(&config.bank, &pki, &config.data_dir, shutdown_rx.clone())
                .await
                .map_err(|e| StartError::Config(format!("bank processor: {e}")))?,
        )
    } else {
        None
    };
    let sms = if matches!(role, Role::Sms | Role::All) {
        Some(
            crate::sms::start_sms(&config.sms, &pki, &config.data_dir, shutdown_rx.clone())
                .await
                .map_err(|e| StartError::Config(format!("SMS center: {e}")))?,
        )
    } else {
        None
    };
    // Broken variants for the conformance suite's own tests (feature "defects").
    #[cfg(feature = "defects")]
    {
        if let Some(bank) = &bank {
            bank.faults.set_defects(config.defects.clone());
        }
        if let Some(sms) = &sms {
            sms.faults.set_defects(config.defects.clone());
        }
    }
    let bank_url = bank.as_ref().map_or_else(
        || config.network.bank_url.clone(),
        |b| format!("https://localhost:{}", b.addr.port()),
    );
    let sms_url = sms.as_ref().map_or_else(
        || config.network.sms_url.clone(),
        |s| format!("https://localhost:{}", s.addr.port()),
    );

    // Bind everything first: in one process each side's link client needs the other's address.
    let network_listeners = if run_network {
        Some((
            bind(config.network.listen).await?,
            bind(config.network.link_listen).await?,
        ))
    } else {
        None
    };
    let mobile_listeners = if run_mobile {
        Some((
            bind(config.mobile.listen).await?,
            bind(config.mobile.link_listen).await?,
        ))
    } else {
        None
    };
    let network_link_url = match &network_listeners {
        Some((_, link)) => format!(
            "https://localhost:{}",
            local(link, config.network.link_listen).port()
        ),
        None => config.mobile.network_link_url.clone(),
    };
    let mobile_link_url = match &mobile_listeners {
        Some((_, link)) => format!(
            "https://localhost:{}",
            local(link, config.mobile.link_listen).port()
        ),
        None => config.network.mobile_link_url.clone(),
    };
    let link_ca_pem = pki.link_ca.cert_pem();
    let network_identity = identity(&pki.link_network)?;
    let mobile_identity = identity(&pki.link_mobile)?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ompp::proto::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| StartError::Config(format!("reflection: {e}")))
    };

    let mut running = Running {
        network_addr: None,
        network_link_addr: None,
        mobile_addr: None,
        mobile_link_addr: None,
        network: None,
        mobile: None,
        bank,
        sms,
        shutdown: shutdown.clone(),
        tasks: JoinSet::new(),
    };

    if let Some((public, link)) = network_listeners {
        let store: Arc<dyn Store> = match store {
            Some(store) => store,
            None => {
                std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
                    path: config.data_dir.clone(),
                    source,
                })?;
                Arc::new(SqliteStore::open(
                    &config.data_dir.join("operation-center.sqlite3"),
                )?)
            }
        };
        provision(config, store.as_ref(), clock.now())?;
        let network = Network::new(NetworkParts {
            store,
            clock: clock.clone(),
            hasher: PasswordHasherService::new(config.password_hashing),
            operator_ca: crate::pki::Ca::from_pem(
                &pki.operator_ca.cert_pem(),
                &pki.operator_ca.key_pem(),
            )?,
            mobile: MobileLinkServiceClient::new(link_channel(
                &mobile_link_url,
                &link_ca_pem,
                &pki.link_network,
                &mobile_identity,
            )?),
            stamp: EnvelopeStamp {
                identity: network_identity.clone(),
                clock: clock.clone(),
            },
            // OMPP-LINK-001: only the mobile server's link identity, and the configured
            // further peers, may call the link service; each has its own bucket (LINK-005).
            guard: LinkGuard::new(
                Firewall::new(network_firewall(config, &mobile_identity)?),
                clock.clone(),
            ),
            payee_keys: PayeeCodeKeys::load_or_create(&config.pki_dir()).map_err(|source| {
                StartError::Io {
                    path: config.pki_dir(),
                    source,
                }
            })?,
            code_location: CodeLocation {
                country: config.network.payee_code_country.clone(),
                city: config.network.payee_code_city.clone(),
            },
            code_key: crate::secrets::load_or_create_key(&config.pki_dir(), "authcode-hmac.key")
                .map_err(|source| StartError::Io {
                    path: config.pki_dir(),
                    source,
                })?,
            sms: Some(SmsCenterServiceClient::new(upstream_channel(
                config,
                &sms_url,
                &pki,
                ("network.sms_identity", &config.network.sms_identity),
                ompp::types::Role::Sms,
            )?)),
            bank: Some(BankProcessorServiceClient::new(upstream_channel(
                config,
                &bank_url,
                &pki,
                ("network.bank_identity", &config.network.bank_identity),
                ompp::types::Role::Bank,
            )?)),
            operator_account: bank_account(config, &config.network.operator_account)?,
            code_validity: code_validity(config)?,
            gateway_url: config.network.gateway_url.clone(),
        });
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let network = network.with_defects(config.defects.clone());
        running.network_addr = Some(local(&public, config.network.listen));
        running.network_link_addr = Some(local(&link, config.network.link_listen));

        let public_tls = server_config(
            certs_from_pem(&pki.network.cert_pem)?,
            pki.network.key_der(),
            vec![pki.operator_ca.cert_der()],
            ClientAuth::Optional,
        )?;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        let public_tls = if config
            .defects
            .has(crate::defects::Defect::AcceptExpiredCertificate)
        {
            crate::defects::server_config_ignoring_expiry(
                certs_from_pem(&pki.network.cert_pem)?,
                pki.network.key_der(),
                vec![pki.operator_ca.cert_der()],
            )?
        } else {
            public_tls
        };
        health_reporter
            .set_serving::<MerchantPaymentServiceServer<MerchantHandler>>()
            .await;
        health_reporter
            .set_serving::<RegistrationServiceServer<RegistrationHandler>>()
            .await;
        health_reporter
            .set_serving::<GatewayServiceServer<GatewayHandler>>()
            .await;
        let public_server = Server::builder()
            .add_service(health_service.clone())
            .add_service(reflection()?)
            .add_service(MerchantPaymentServiceServer::new(MerchantHandler::new(
                network.clone(),
            )))
            .add_service(RegistrationServiceServer::new(RegistrationHandler::new(
                network.clone(),
            )))
            .add_service(GatewayServiceServer::new(GatewayHandler::new(
                network.clone(),
            )))
            .serve_with_incoming_shutdown(
                crate::tls::incoming(public, public_tls),
                shutdown_signal(shutdown_rx.clone()),
            );
        spawn_server(&mut tasks, "network server stopped", public_server);

        // The secure link: mutual TLS pinned to the link CA (OMPP-LINK-001).
        let link_tls = link_server_config(&pki.link_network, &pki)?;
        health_reporter
            .set_serving::<NetworkLinkServiceServer<NetworkLinkHandler>>()
            .await;
        let link_server = Server::builder()
            .add_service(health_service.clone())
            .add_service(
                NetworkLinkServiceServer::new(NetworkLinkHandler::new(network.clone()))
                    // Oversized messages reach the firewall, which answers with a catalogue reason.
                    .max_decoding_message_size(4 * ompp::limits::LINK_MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(
                crate::tls::incoming(link, link_tls),
                shutdown_signal(shutdown_rx.clone()),
            );
        spawn_server(&mut tasks, "network link server stopped", link_server);

        // Expiry sweeper: pending payments past their expiry become EXPIRED and are reported.
        let sweeper = network.clone();
        let mut stop = shutdown_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(error) = sweeper.expire_due().await {
                            tracing::warn!(%error, "expiry sweep failed");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        // Bank recovery, apart from the expiry sweeper so that a slow bank never delays an
        // expiry: checkouts (OMPP-FLC-008) and top-ups (OMPP-LEDGER-011) whose transfer's
        // answer was lost.
        let recovery = network.clone();
        let mut stop = shutdown_rx.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(error) = recovery.recover_checkouts().await {
                            tracing::warn!(%error, "checkout recovery failed");
                        }
                        if let Err(error) = recovery.recover_top_ups().await {
                            tracing::warn!(%error, "top-up recovery failed");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
        tracing::info!(public = ?running.network_addr, link = ?running.network_link_addr, "network server listening");
        running.network = Some(network);
    }

    if let Some((devices, link)) = mobile_listeners {
        let mobile = Mobile::new(
            NetworkLinkServiceClient::new(link_channel(
                &network_link_url,
                &link_ca_pem,
                &pki.link_mobile,
                &network_identity,
            )?),
            EnvelopeStamp {
                identity: mobile_identity,
                clock: clock.clone(),
            },
            LinkGuard::new(
                Firewall::new(FirewallConfig::new([network_identity])),
                clock.clone(),
            ),
        );
        running.mobile_addr = Some(local(&devices, config.mobile.listen));
        running.mobile_link_addr = Some(local(&link, config.mobile.link_listen));

        // Devices authenticate with the certificate issued at pairing (operator CA).
        let device_tls = server_config(
            certs_from_pem(&pki.mobile.cert_pem)?,
            pki.mobile.key_der(),
            vec![pki.operator_ca.cert_der()],
            ClientAuth::Required,
        )?;
        health_reporter
            .set_serving::<DeviceServiceServer<DeviceHandler>>()
            .await;
        let device_server = Server::builder()
            .add_service(health_service.clone())
            .add_service(reflection()?)
            .add_service(DeviceServiceServer::new(DeviceHandler::new(mobile.clone())))
            .serve_with_incoming_shutdown(
                crate::tls::incoming(devices, device_tls),
                shutdown_signal(shutdown_rx.clone()),
            );
        spawn_server(&mut tasks, "mobile server stopped", device_server);

        let link_tls = link_server_config(&pki.link_mobile, &pki)?;
        health_reporter
            .set_serving::<MobileLinkServiceServer<MobileLinkHandler>>()
            .await;
        let link_server = Server::builder()
            .add_service(health_service.clone())
            .add_service(
                MobileLinkServiceServer::new(MobileLinkHandler::new(mobile.clone()))
                    .max_decoding_message_size(4 * ompp::limits::LINK_MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming_shutdown(
                crate::tls::incoming(link, link_tls),
                shutdown_signal(shutdown_rx.clone()),
            );
        spawn_server(&mut tasks, "mobile link server stopped", link_server);
        tracing::info!(devices = ?running.mobile_addr, link = ?running.mobile_link_addr, "mobile server listening");
        running.mobile = Some(mobile);
    }

    running.tasks = tasks;
    Ok(running)
}

/// The network server's secure-link firewall: the protocol's limits, with this PKI's mobile
/// server and `network.link_peers` allowed (OMPP-LINK-001, OMPP-LINK-005).
fn network_firewall(
    config: &Config,
    mobile_identity: &PartyIdentity,
) -> Result<FirewallConfig, StartError> {
    let mut allowed = vec![mobile_identity.clone()];
    for uri in &config.network.link_peers {
        let peer = PartyIdentity::parse(uri)
            .map_err(|v| StartError::Config(format!("network.link_peers entry {uri:?}: {v}")))?;
        if peer.role() != ompp::types::Role::Mobile {
            return Err(StartError::Config(format!(
                "network.link_peers entry {uri:?}: must be a mobile server (ompp://mobile/<id>)"
            )));
        }
        allowed.push(peer);
    }
    #[allow(unused_mut)]
    let mut firewall = FirewallConfig::new(allowed);
    #[cfg(feature = "defects")]
    if config.defects.has(crate::defects::Defect::NoLinkRateLimit) {
        firewall.rate_per_sec = u32::MAX;
        firewall.burst = u32::MAX;
    }
    Ok(firewall)
}

/// `network.auth_code_validity_secs`, within the protocol's bounds (OMPP-AUTH-002).
fn code_validity(config: &Config) -> Result<Duration, StartError> {
    let secs = config.network.auth_code_validity_secs;
    let bounds = ompp::limits::AUTH_CODE_VALIDITY;
    if !(bounds.min_secs..=bounds.max_secs).contains(&secs) {
        return Err(StartError::Config(format!(
            "network.auth_code_validity_secs = {secs}: must be {} to {} (OMPP-AUTH-002)",
            bounds.min_secs, bounds.max_secs
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// Account `number` at the configured bank (`bank.bank_id`).
fn bank_account(config: &Config, number: &str) -> Result<ompp::types::BankAccountRef, StartError> {
    let invalid =
        |what: &str, v: ompp::validation::Violation| StartError::Config(format!("{what}: {v}"));
    Ok(ompp::types::BankAccountRef {
        bank_id: ompp::types::BankId::parse(&config.bank.bank_id)
            .map_err(|v| invalid("bank.bank_id", v))?,
        account_number: ompp::types::AccountNumber::parse(number)
            .map_err(|v| invalid(&format!("bank account {number:?}"), v))?,
    })
}

/// Operator provisioning from the configuration: enrollment tokens and the sample merchant.
fn provision(
    config: &Config,
    store: &dyn Store,
    now: ompp::types::UnixMillis,
) -> Result<(), StartError> {
    for token in &config.network.enrollment_tokens {
        let merchant_id = MerchantId::parse(&token.merchant_id).map_err(|v| {
            StartError::Config(format!(
                "enrollment token merchant_id {:?}: {v}",
                token.merchant_id
            ))
        })?;
        ompp::types::EnrollmentToken::parse(&token.token)
            .map_err(|v| StartError::Config(format!("enrollment token for {merchant_id}: {v}")))?;
        store.add_enrollment_token(&token.token, &merchant_id)?;
    }
    if config.network.sample_merchant {
        let merchant_id =
            MerchantId::parse("M-1042").map_err(|v| StartError::Config(v.to_string()))?;
        let eur = ompp::money::Currency::from_code("EUR")
            .map_err(|v| StartError::Config(v.to_string()))?;
        store.upsert_merchant(
            &MerchantRecord {
                merchant_id,
                display_name: "Sample Merchant".to_owned(),
                // The reference bank processor's demo account for the sample merchant.
                bank_account: Some(bank_account(config, "DEMO1042")?),
            },
            &[eur],
            now,
        )?;
    }
    Ok(())
}
