//! The reference bank processor: `BankProcessorService` over mutual TLS, accounts with balances
//! in its own SQLite database, transfers idempotent by `transfer_id`, and fault injection for
//! the network server's recovery paths (OMPP-BANK-*, OMPP-FLC-007/008).
//!
//! - A transfer debits the payer's account and credits the payee's in one transaction; a
//!   business rejection (`INSUFFICIENT_FUNDS`, `UNKNOWN_ACCOUNT`, `ACCOUNT_BLOCKED`,
//!   `CURRENCY_MISMATCH`, `AMOUNT_LIMIT_EXCEEDED` when the credit would overflow) is a recorded,
//!   final outcome, returned as a `REJECTED` transfer, never an RPC error.
//! - Both accounts must be held by this bank (`bank_id` and an account in the store), so the sum
//!   of all balances per currency never changes.
//! - Only the identities in `allowed_clients` may call (`PEER_NOT_ALLOWED` otherwise); client
//!   certificates must chain to the operator CA.
//! - [`BankFaults`] adds latency, unavailability, or answers dropped after the transfer was
//!   committed, while the server runs.

mod service;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use ompp::money::Currency;
use ompp::proto::v1::bank_processor_service_server::BankProcessorServiceServer;
use ompp::types::{AccountNumber, BankId, PartyIdentity};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tonic::transport::Server;

pub use store::AccountBalance;

use self::service::BankHandler;
use self::store::{BankStore, SeedAccount};
use crate::pki::{DevPki, certs_from_pem};
use crate::tls::{ClientAuth, server_config};

/// File name of the bank processor's database inside the data directory.
pub const DATABASE_FILE: &str = "bank-processor.sqlite3";

/// `[bank]` section of the server configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankConfig {
    /// Where `BankProcessorService` listens (mutual TLS).
    pub listen: SocketAddr,
    /// This bank's identifier (BIC or national bank code, 1 to 11 characters of `A-Z 0-9`);
    /// transfers naming another bank id are rejected with `UNKNOWN_ACCOUNT`.
    pub bank_id: String,
    /// The accounts created on the first start (never reset on later starts).
    pub accounts: Vec<BankAccountConfig>,
    /// The identities (`ompp://<role>/<id>`) allowed to call.
    pub allowed_clients: Vec<String>,
    /// Faults injected from the start.
    pub faults: FaultConfig,
}

impl Default for BankConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7300)),
            bank_id: "OMPPBANK".to_owned(),
            accounts: vec![
                BankAccountConfig {
                    account_number: "DEMO0001".to_owned(),
                    currency: "EUR".to_owned(),
                    balance_minor_units: 50_000,
                    blocked: false,
                },
                BankAccountConfig {
                    account_number: "DEMO1042".to_owned(),
                    currency: "EUR".to_owned(),
                    balance_minor_units: 0,
                    blocked: false,
                },
                // The operator's own account, credited by every wallet top-up
                // (`network.operator_account`, OMPP-LEDGER-010).
                BankAccountConfig {
                    account_number: crate::config::OPERATOR_ACCOUNT.to_owned(),
                    currency: "EUR".to_owned(),
                    balance_minor_units: 0,
                    blocked: false,
                },
            ],
            allowed_clients: vec!["ompp://network/NS-1".to_owned()],
            faults: FaultConfig::default(),
        }
    }
}

/// One account of the bank, as configured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankAccountConfig {
    /// The account number, 1 to 34 characters of `A-Z 0-9`.
    pub account_number: String,
    /// The account's currency, an ISO 4217 alphabetic code.
    pub currency: String,
    /// The opening balance in minor units of `currency`, zero or more.
    pub balance_minor_units: i64,
    /// A blocked account can neither be debited nor credited (`ACCOUNT_BLOCKED`).
    #[serde(default)]
    pub blocked: bool,
}

/// Faults injected from the start; [`BankFaults`] changes them while the server runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Added to every call before it is handled, in milliseconds.
    pub latency_ms: u64,
    /// Answer every call with `SERVICE_UNAVAILABLE`.
    pub unavailable: bool,
}

#[derive(Debug, Default)]
struct FaultState {
    latency_ms: AtomicU64,
    unavailable: AtomicBool,
    drops_left: AtomicU32,
    drop_hold_ms: AtomicU64,
    /// Broken variant for the conformance suite's own tests (feature "defects").
    #[cfg(feature = "defects")]
    defects: std::sync::RwLock<crate::defects::Defects>,
}

/// Runtime fault injection, shared with tests: every field can be changed while the server runs.
#[derive(Debug, Clone, Default)]
pub struct BankFaults {
    state: Arc<FaultState>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl BankFaults {
    /// Adds `d` before every call is handled (zero: none). A call abandoned by its caller during
    /// this delay is never applied.
    pub fn set_latency(&self, d: Duration) {
        self.state.latency_ms.store(millis(d), Ordering::SeqCst);
    }

    /// Answer UNAVAILABLE (ErrorInfo SERVICE_UNAVAILABLE) without touching the ledger.
    pub fn set_unavailable(&self, yes: bool) {
        self.state.unavailable.store(yes, Ordering::SeqCst);
    }

    /// The next `n` ExecuteTransfer calls are applied and committed, but their answer is held
    /// back for `hold` (longer than the caller's deadline): the caller sees a timeout although
    /// the transfer happened ("dropped response"). Replaces any earlier count; `n = 0` cancels.
    /// A held answer is released early when the server stops.
    pub fn drop_responses_after_apply(&self, n: u32, hold: Duration) {
        self.state
            .drop_hold_ms
            .store(millis(hold), Ordering::SeqCst);
        self.state.drops_left.store(n, Ordering::SeqCst);
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.state.latency_ms.load(Ordering::SeqCst))
    }

    /// Switches the defects of a broken variant on (the conformance suite's own tests).
    #[cfg(feature = "defects")]
    pub fn set_defects(&self, defects: crate::defects::Defects) {
        *self
            .state
            .defects
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = defects;
    }

    /// Whether `defect` is switched on.
    #[cfg(feature = "defects")]
    pub(crate) fn defect(&self, defect: crate::defects::Defect) -> bool {
        self.state
            .defects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .has(defect)
    }

    fn is_unavailable(&self) -> bool {
        self.state.unavailable.load(Ordering::SeqCst)
    }

    /// If an answer is to be dropped, counts it and returns how long to hold it.
    fn take_dropped_response(&self) -> Option<Duration> {
        self.state
            .drops_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| Duration::from_millis(self.state.drop_hold_ms.load(Ordering::SeqCst)))
    }
}

/// A failure of the bank processor: at start, or of its store.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// The `[bank]` configuration is not usable.
    #[error("bank configuration: {0}")]
    Config(String),
    /// The listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The bank's certificate or the operator CA could not be used.
    #[error("PKI: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// TLS configuration failed.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// I/O on the data directory.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database failed.
    #[error("bank database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database has a schema version this server does not know.
    #[error("bank database schema version {found}, this server needs {needed}")]
    SchemaVersion {
        /// The version in the file.
        found: i64,
        /// The version this server writes.
        needed: i64,
    },
    /// The database holds a value that cannot be read back.
    #[error("bank database holds a bad value: {0}")]
    Corrupt(String),
}

/// A running bank processor.
#[derive(Debug)]
pub struct RunningBank {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Fault injection, effective immediately.
    pub faults: BankFaults,
    store: Arc<BankStore>,
    stopping: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningBank {
    /// Stops accepting, releases held answers, lets in-flight calls finish, and waits for the
    /// server to end.
    pub async fn stop(mut self) {
        self.stopping.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until the server ends (after the shutdown signal given to [`start_bank`]).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// The balance of `account_number` in minor units, or `None` if this bank does not hold it
    /// (for tests and the demo; reads the database on the calling thread).
    pub fn balance(&self, account_number: &str) -> Result<Option<i64>, BankError> {
        self.store.balance(account_number)
    }

    /// Every account with its balance, by account number (for tests and the demo).
    pub fn balances(&self) -> Result<Vec<AccountBalance>, BankError> {
        self.store.balances()
    }
}

/// Resolves when `rx` holds `true`, or when its sender is gone.
async fn until_true(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

struct Checked {
    bank_id: BankId,
    accounts: Vec<SeedAccount>,
    allowed_clients: Vec<PartyIdentity>,
}

fn check(config: &BankConfig) -> Result<Checked, BankError> {
    let bad = |what: String| BankError::Config(what);
    let bank_id = BankId::parse(&config.bank_id)
        .map_err(|v| bad(format!("bank_id {:?}: {v}", config.bank_id)))?;
    let mut accounts: Vec<SeedAccount> = Vec::with_capacity(config.accounts.len());
    for account in &config.accounts {
        let account_number = AccountNumber::parse(&account.account_number)
            .map_err(|v| bad(format!("account_number {:?}: {v}", account.account_number)))?;
        let currency = Currency::from_code(&account.currency).map_err(|v| {
            bad(format!(
                "account {}: currency {:?}: {v}",
                account.account_number, account.currency
            ))
        })?;
        if account.balance_minor_units < 0 {
            return Err(bad(format!(
                "account {}: balance_minor_units must not be negative",
                account.account_number
            )));
        }
        if accounts.iter().any(|a| a.account_number == account_number) {
            return Err(bad(format!(
                "account {} is configured twice",
                account.account_number
            )));
        }
        accounts.push(SeedAccount {
            account_number,
            currency,
            balance: account.balance_minor_units,
            blocked: account.blocked,
        });
    }
    let allowed_clients = config
        .allowed_clients
        .iter()
        .map(|uri| {
            PartyIdentity::parse(uri).map_err(|v| bad(format!("allowed_clients {uri:?}: {v}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Checked {
        bank_id,
        accounts,
        allowed_clients,
    })
}

/// The balances in the bank processor's database under `data_dir`, for operators (and the
/// README walkthrough: `ompp-server bank-balances`). The database must exist already.
pub fn read_balances(
    config: &BankConfig,
    data_dir: &Path,
) -> Result<Vec<AccountBalance>, BankError> {
    let checked = check(config)?;
    let path = data_dir.join(DATABASE_FILE);
    if !path.exists() {
        return Err(BankError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no bank processor database yet",
            ),
        });
    }
    // The database exists, so opening it creates and changes nothing.
    BankStore::open(&path, checked.bank_id, &[])?.balances()
}

/// Start it: its own SQLite file `data_dir/bank-processor.sqlite3` (accounts from config are
/// created on first start only, never reset); TLS 1.3 with `pki.bank`, client certificates
/// required and verified against `pki.operator_ca`; every call's peer identity must be in
/// `allowed_clients` (else PEER_NOT_ALLOWED); stops when `shutdown` turns true (or its sender is
/// dropped), or on [`RunningBank::stop`].
pub async fn start_bank(
    config: &BankConfig,
    pki: &DevPki,
    data_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> Result<RunningBank, BankError> {
    let checked = check(config)?;
    std::fs::create_dir_all(data_dir).map_err(|source| BankError::Io {
        path: data_dir.to_owned(),
        source,
    })?;
    let path = data_dir.join(DATABASE_FILE);
    let store = {
        let bank_id = checked.bank_id.clone();
        let accounts = checked.accounts;
        tokio::task::spawn_blocking(move || BankStore::open(&path, bank_id, &accounts))
            .await
            .map_err(|e| BankError::Config(format!("opening the database: {e}")))??
    };
    let store = Arc::new(store);

    let tls = server_config(
        certs_from_pem(&pki.bank.cert_pem)?,
        pki.bank.key_der(),
        vec![pki.operator_ca.cert_der()],
        ClientAuth::Required,
    )?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| BankError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(config.listen);

    let faults = BankFaults::default();
    faults.set_latency(Duration::from_millis(config.faults.latency_ms));
    faults.set_unavailable(config.faults.unavailable);

    // `stopping` turns true on `RunningBank::stop` or when the caller's `shutdown` does.
    let (stopping, stopping_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let forward = stopping.clone();
    tasks.spawn(async move {
        tokio::select! {
            () = until_true(shutdown) => { forward.send_replace(true); }
            () = until_true(forward.subscribe()) => {}
        }
    });

    let handler = BankHandler::new(
        store.clone(),
        faults.clone(),
        checked.allowed_clients.into(),
        stopping_rx.clone(),
    );
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<BankProcessorServiceServer<BankHandler>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(ompp::proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| BankError::Config(format!("reflection: {e}")))?;
    let server = Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(BankProcessorServiceServer::new(handler))
        .serve_with_incoming_shutdown(crate::tls::incoming(listener, tls), until_true(stopping_rx));
    tasks.spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "bank processor stopped");
        }
    });
    tracing::info!(%addr, bank_id = %checked.bank_id.as_str(), "bank processor listening");
    Ok(RunningBank {
        addr,
        faults,
        store,
        stopping,
        tasks,
    })
}
