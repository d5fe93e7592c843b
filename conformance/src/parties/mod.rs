//! The counterparties the suite plays for an operation center under test (issue 6, spec 09 "The
//! suite's own counterparties"): a bank processor ([`bank`]) and an SMS center ([`sms`]) that the
//! system is configured to call.
//!
//! Both are tonic servers over mutual TLS 1.3 ([`presentation`]'s listener), and
//! both accept only a client certificate that chains to the configured anchors and names a
//! `network` identity. They decide nothing about the system under test: they answer as a plain
//! bank or SMS center would, record every request, and let a case inject a fault; the cases
//! judge what was recorded.
//!
//! # Layout
//! - [`bank`]: `BankProcessorService`, accounts, transfers, the call log and bank faults.
//! - [`sms`]: `SmsCenterService`, the messages received, inboxes and SMS faults.
//! - [`presentation`]: what the bank processor and the SMS center present in the TLS handshake,
//!   switchable to certificates and versions the system must refuse.
//! - [`link`]: the suite between the network server and the mobile server on the secure link,
//!   recording what the network server sends (`MobileLinkService`) and refusing pushes on
//!   demand.

pub mod bank;
pub mod link;
pub mod presentation;
pub mod sms;

use std::net::SocketAddr;
use std::sync::Arc;

use ompp::proto::v1::bank_processor_service_server::BankProcessorServiceServer;
use ompp::proto::v1::sms_center_service_server::SmsCenterServiceServer;
use ompp::types::Role;
use ompp_server::pki::certs_from_pem;
use tokio::sync::watch;
use tonic::transport::Server;

use crate::target::Credential;

/// How the suite's counterparties present themselves and whom they accept.
#[derive(Debug, Clone)]
pub struct PartyTls {
    /// The server identity the bank processor presents; the system under test must trust it as
    /// its bank processor.
    pub bank: Credential,
    /// The server identity the SMS center presents; the system must trust it as its SMS center.
    pub sms: Credential,
    /// PEM anchors of the system's client certificate (its network server identity).
    pub client_ca_pem: String,
    /// A certificate the system trusts for another bank's identity, which it must refuse
    /// (OMPP-TLS-012), when the manifest gives one.
    pub other_bank: Option<Credential>,
}

/// Where the suite's counterparties listen and what the bank holds.
#[derive(Debug, Clone)]
pub struct PartyConfig {
    /// Listen address of the bank processor.
    pub bank_listen: SocketAddr,
    /// Listen address of the SMS center.
    pub sms_listen: SocketAddr,
    /// The `bank_id` the bank processor serves.
    pub bank_id: String,
    /// Accounts it holds from the start with a zero balance (e.g. the merchant's, which the
    /// system credits).
    pub accounts: Vec<String>,
}

/// The suite's running bank processor and SMS center. They stop when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Parties {
    /// The bank processor's state, for the cases.
    pub bank: bank::Bank,
    /// The SMS center's state, for the cases.
    pub sms: sms::Sms,
    /// Where the bank processor listens.
    pub bank_addr: SocketAddr,
    /// Where the SMS center listens.
    pub sms_addr: SocketAddr,
    /// What the bank processor presents in the TLS handshake.
    pub bank_presenter: presentation::Presenter,
    /// What the SMS center presents in the TLS handshake.
    pub sms_presenter: presentation::Presenter,
    /// Dropping the last clone ends both servers.
    _stop: Arc<watch::Sender<()>>,
}

/// Why a caller may not use a counterparty: it must present a `network` identity (the TLS layer
/// already checked the chain against the configured anchors).
pub(crate) fn admit<T>(request: &tonic::Request<T>) -> Result<(), tonic::Status> {
    ompp_server::tls::require_role(request, Role::Network)
        .map(|_| ())
        .map_err(tonic::Status::from)
}

async fn bind(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("the suite's {what} cannot listen on {addr}: {e}"))
}

impl Parties {
    /// Starts both servers.
    pub async fn start(config: &PartyConfig, tls: &PartyTls) -> Result<Self, String> {
        let anchors = certs_from_pem(&tls.client_ca_pem)
            .map_err(|e| format!("counterparty client CA: {e}"))?;
        if anchors.is_empty() {
            return Err("counterparty client CA: no certificate in the PEM".into());
        }
        let bank_presenter =
            presentation::Presenter::new(&tls.bank, tls.other_bank.as_ref(), &anchors)
                .map_err(|e| format!("the suite's bank processor: {e}"))?;
        // The SMS center's other identity is the bank processor's: trusted by the system, but
        // not as its SMS center; or another bank's, when both present the same certificate.
        let sms_other = if tls.sms.cert_pem == tls.bank.cert_pem {
            tls.other_bank.as_ref()
        } else {
            Some(&tls.bank)
        };
        let sms_presenter = presentation::Presenter::new(&tls.sms, sms_other, &anchors)
            .map_err(|e| format!("the suite's SMS center: {e}"))?;
        let bank_listener = bind(config.bank_listen, "bank processor").await?;
        let sms_listener = bind(config.sms_listen, "SMS center").await?;
        let local = |l: &tokio::net::TcpListener, fallback| l.local_addr().unwrap_or(fallback);
        let (bank_addr, sms_addr) = (
            local(&bank_listener, config.bank_listen),
            local(&sms_listener, config.sms_listen),
        );
        let bank = bank::Bank::new(&config.bank_id, &config.accounts);
        let sms = sms::Sms::default();
        let (stop, stopped) = watch::channel(());
        let until_dropped = |mut rx: watch::Receiver<()>| async move {
            // Resolves once the sender is gone; no value is ever sent.
            while rx.changed().await.is_ok() {}
        };
        tokio::spawn(
            Server::builder()
                .add_service(BankProcessorServiceServer::new(bank.clone()))
                .serve_with_incoming_shutdown(
                    presentation::incoming(bank_listener, bank_presenter.clone()),
                    until_dropped(stopped.clone()),
                ),
        );
        tokio::spawn(
            Server::builder()
                .add_service(SmsCenterServiceServer::new(sms.clone()))
                .serve_with_incoming_shutdown(
                    presentation::incoming(sms_listener, sms_presenter.clone()),
                    until_dropped(stopped),
                ),
        );
        Ok(Self {
            bank,
            sms,
            bank_addr,
            sms_addr,
            bank_presenter,
            sms_presenter,
            _stop: Arc::new(stop),
        })
    }
}
