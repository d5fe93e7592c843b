//! The reference bank processor over real mutual TLS on loopback (OMPP-BANK-*): completed and
//! rejected transfers, idempotency, concurrency, fault injection, allow-list, restart,
//! conservation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_client::BankProcessorServiceClient;
use ompp_server::bank::{
    BankAccountConfig, BankConfig, BankError, FaultConfig, RunningBank, start_bank,
};
use ompp_server::pki::{DevPki, Issued};
use ompp_server::tls::client_tls;
use tempfile::TempDir;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

const BANK: &str = "OMPPBANK";
const PAYER: &str = "DEMO0001";
const PAYEE: &str = "DEMO1042";
const BLOCKED: &str = "BLOCKED0001";
const USD: &str = "USD0001";

type Client = BankProcessorServiceClient<Channel>;

fn account(number: &str, currency: &str, balance: i64, blocked: bool) -> BankAccountConfig {
    BankAccountConfig {
        account_number: number.to_owned(),
        currency: currency.to_owned(),
        balance_minor_units: balance,
        blocked,
    }
}

fn config() -> BankConfig {
    let mut config = BankConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..BankConfig::default()
    };
    config.accounts.push(account(BLOCKED, "EUR", 10_000, true));
    config.accounts.push(account(USD, "USD", 10_000, false));
    config
}

/// A bank processor on loopback with its own PKI and data directory.
struct Bank {
    running: Option<RunningBank>,
    dir: TempDir,
    pki: DevPki,
    config: BankConfig,
    shutdown: watch::Sender<bool>,
}

impl Bank {
    async fn start() -> Self {
        Self::start_with(config()).await
    }

    async fn start_with(config: BankConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate().unwrap();
        let (shutdown, rx) = watch::channel(false);
        let running = start_bank(&config, &pki, dir.path(), rx).await.unwrap();
        Self {
            running: Some(running),
            dir,
            pki,
            config,
            shutdown,
        }
    }

    /// Stops the bank and starts it again on the same data directory (new port).
    async fn restart(&mut self) {
        self.running.take().unwrap().stop().await;
        let running = start_bank(
            &self.config,
            &self.pki,
            self.dir.path(),
            self.shutdown.subscribe(),
        )
        .await
        .unwrap();
        self.running = Some(running);
    }

    fn running(&self) -> &RunningBank {
        self.running.as_ref().unwrap()
    }

    async fn client_as(&self, identity: &Issued, timeout: Duration) -> Client {
        let url = format!("https://localhost:{}", self.running().addr.port());
        let channel = Endpoint::from_shared(url)
            .unwrap()
            .tls_config(client_tls(
                &self.pki.operator_ca.cert_pem(),
                Some((&identity.cert_pem, &identity.key_pem)),
                "localhost",
            ))
            .unwrap()
            .timeout(timeout)
            .connect()
            .await
            .unwrap();
        BankProcessorServiceClient::new(channel)
    }

    /// A client with the network server's identity (allow-listed).
    async fn client(&self) -> Client {
        self.client_as(&self.pki.network, Duration::from_secs(20))
            .await
    }

    fn balance(&self, account_number: &str) -> i64 {
        self.running().balance(account_number).unwrap().unwrap()
    }

    fn balances(&self) -> BTreeMap<String, i64> {
        self.running()
            .balances()
            .unwrap()
            .into_iter()
            .map(|a| (a.account_number, a.balance_minor_units))
            .collect()
    }

    /// Sum of all balances per currency.
    fn totals(&self) -> BTreeMap<String, i64> {
        let mut totals = BTreeMap::new();
        for account in self.running().balances().unwrap() {
            *totals.entry(account.currency).or_insert(0) += account.balance_minor_units;
        }
        totals
    }
}

fn account_ref(bank_id: &str, number: &str) -> pb::BankAccountRef {
    pb::BankAccountRef {
        bank_id: bank_id.to_owned(),
        account_number: number.to_owned(),
    }
}

fn transfer(
    id: &str,
    debit: &str,
    credit: &str,
    currency: &str,
    minor_units: i64,
) -> pb::ExecuteTransferRequest {
    pb::ExecuteTransferRequest {
        transfer_id: id.to_owned(),
        debit_account: Some(account_ref(BANK, debit)),
        credit_account: Some(account_ref(BANK, credit)),
        amount: Some(pb::Money {
            currency: currency.to_owned(),
            minor_units,
        }),
        remittance_info: "Sample Merchant order 42".to_owned(),
    }
}

fn eur(id: &str, debit: &str, credit: &str, cents: i64) -> pb::ExecuteTransferRequest {
    transfer(id, debit, credit, "EUR", cents)
}

async fn execute(client: &mut Client, request: pb::ExecuteTransferRequest) -> pb::BankTransfer {
    client
        .execute_transfer(request)
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap()
}

async fn get(client: &mut Client, id: &str) -> Result<pb::BankTransfer, tonic::Status> {
    client
        .get_transfer(pb::GetTransferRequest {
            transfer_id: id.to_owned(),
        })
        .await
        .map(|r| r.into_inner().transfer.unwrap())
}

fn reason(status: &tonic::Status) -> pb::ErrorReason {
    ProtocolError::from_status(status)
        .unwrap_or_else(|e| panic!("not an OMPP error ({e}): {status:?}"))
        .reason
}

fn assert_echoes(transfer: &pb::BankTransfer, request: &pb::ExecuteTransferRequest) {
    assert_eq!(transfer.transfer_id, request.transfer_id);
    assert_eq!(transfer.debit_account, request.debit_account);
    assert_eq!(transfer.credit_account, request.credit_account);
    assert_eq!(transfer.amount, request.amount);
    assert!(transfer.decided_at.is_some());
}

fn assert_rejected(transfer: &pb::BankTransfer, why: pb::ErrorReason) {
    assert_eq!(transfer.status(), pb::BankTransferStatus::Rejected);
    assert_eq!(transfer.reject_reason(), why);
    assert!(transfer.bank_reference.is_empty());
}

#[tokio::test]
async fn completed_transfer_moves_the_money_and_get_transfer_returns_it() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let request = eur("T-1", PAYER, PAYEE, 1250);
    let transfer = execute(&mut client, request.clone()).await;
    assert_eq!(transfer.status(), pb::BankTransferStatus::Completed);
    assert_eq!(transfer.reject_reason(), pb::ErrorReason::Unspecified);
    assert!(!transfer.bank_reference.is_empty());
    assert_echoes(&transfer, &request);
    assert_eq!(bank.balance(PAYER), 50_000 - 1250);
    assert_eq!(bank.balance(PAYEE), 1250);
    assert_eq!(get(&mut client, "T-1").await.unwrap(), transfer);

    // Another transfer gets its own bank reference.
    let second = execute(&mut client, eur("T-2", PAYEE, PAYER, 250)).await;
    assert_eq!(second.status(), pb::BankTransferStatus::Completed);
    assert_ne!(second.bank_reference, transfer.bank_reference);
    assert_eq!(bank.balance(PAYER), 50_000 - 1000);
    assert_eq!(bank.balance(PAYEE), 1000);
}

#[tokio::test]
async fn business_rejections_are_recorded_outcomes_and_book_nothing() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let before = bank.balances();
    let mut other_bank = eur("R-BANK", PAYER, PAYEE, 100);
    other_bank.credit_account = Some(account_ref("OTHERBANK", PAYEE));
    let cases = [
        (
            eur("R-FUNDS", PAYER, PAYEE, 50_001),
            pb::ErrorReason::InsufficientFunds,
        ),
        (
            eur("R-DEBIT", "NOSUCH01", PAYEE, 100),
            pb::ErrorReason::UnknownAccount,
        ),
        (
            eur("R-CREDIT", PAYER, "NOSUCH01", 100),
            pb::ErrorReason::UnknownAccount,
        ),
        (other_bank, pb::ErrorReason::UnknownAccount),
        (
            eur("R-BLOCKED-CREDIT", PAYER, BLOCKED, 100),
            pb::ErrorReason::AccountBlocked,
        ),
        (
            eur("R-BLOCKED-DEBIT", BLOCKED, PAYEE, 100),
            pb::ErrorReason::AccountBlocked,
        ),
        (
            transfer("R-CCY-AMOUNT", PAYER, PAYEE, "USD", 100),
            pb::ErrorReason::CurrencyMismatch,
        ),
        (
            eur("R-CCY-ACCOUNT", PAYER, USD, 100),
            pb::ErrorReason::CurrencyMismatch,
        ),
    ];
    for (request, why) in cases {
        let id = request.transfer_id.clone();
        let rejected = execute(&mut client, request.clone()).await;
        assert_rejected(&rejected, why);
        assert_echoes(&rejected, &request);
        assert_eq!(bank.balances(), before, "{id} booked something");
        // A retry returns the recorded outcome unchanged, and so does GetTransfer.
        assert_eq!(execute(&mut client, request).await, rejected, "{id}");
        assert_eq!(get(&mut client, &id).await.unwrap(), rejected, "{id}");
    }
    assert_eq!(bank.balances(), before);
}

#[tokio::test]
async fn a_rejection_is_final_even_after_its_cause_has_gone() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let request = eur("F-1", PAYEE, PAYER, 300);
    let rejected = execute(&mut client, request.clone()).await;
    assert_rejected(&rejected, pb::ErrorReason::InsufficientFunds);
    // Fund the payer; the same transfer id still yields the first outcome (OMPP-BANK-005).
    let funding = execute(&mut client, eur("F-FUND", PAYER, PAYEE, 1000)).await;
    assert_eq!(funding.status(), pb::BankTransferStatus::Completed);
    assert_eq!(execute(&mut client, request).await, rejected);
    assert_eq!(bank.balance(PAYEE), 1000);
    assert_eq!(bank.balance(PAYER), 49_000);
}

#[tokio::test]
async fn an_identical_retry_returns_the_first_outcome_and_debits_once() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let request = eur("I-1", PAYER, PAYEE, 700);
    let first = execute(&mut client, request.clone()).await;
    for _ in 0..3 {
        assert_eq!(execute(&mut client, request.clone()).await, first);
    }
    assert_eq!(bank.balance(PAYER), 50_000 - 700);
    assert_eq!(bank.balance(PAYEE), 700);
}

#[tokio::test]
async fn the_same_id_with_other_content_is_an_idempotency_conflict() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let request = eur("C-1", PAYER, PAYEE, 700);
    let first = execute(&mut client, request.clone()).await;
    let before = bank.balances();

    let mut amount = request.clone();
    amount.amount = Some(pb::Money {
        currency: "EUR".to_owned(),
        minor_units: 701,
    });
    let mut remittance = request.clone();
    remittance.remittance_info = "another order".to_owned();
    let mut credit = request.clone();
    credit.credit_account = Some(account_ref(BANK, BLOCKED));
    let mut debit = request.clone();
    debit.debit_account = Some(account_ref(BANK, BLOCKED));
    for other in [amount, remittance, credit, debit] {
        let status = client.execute_transfer(other).await.unwrap_err();
        assert_eq!(reason(&status), pb::ErrorReason::IdempotencyConflict);
    }
    assert_eq!(bank.balances(), before);
    assert_eq!(get(&mut client, "C-1").await.unwrap(), first);

    // Also for a rejected first outcome.
    let rejected = execute(&mut client, eur("C-2", PAYEE, PAYER, 100_000)).await;
    assert_rejected(&rejected, pb::ErrorReason::InsufficientFunds);
    let status = client
        .execute_transfer(eur("C-2", PAYEE, PAYER, 1))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::IdempotencyConflict);
    assert_eq!(bank.balances(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_identical_transfers_debit_once() {
    let bank = Bank::start().await;
    let client = bank.client().await;
    let totals = bank.totals();
    let request = eur("P-1", PAYER, PAYEE, 4200);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut client = client.clone();
        let request = request.clone();
        tasks.spawn(async move { execute(&mut client, request).await });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        outcomes.push(outcome.unwrap());
    }
    assert_eq!(outcomes.len(), 20);
    assert_eq!(outcomes[0].status(), pb::BankTransferStatus::Completed);
    assert!(outcomes.iter().all(|o| *o == outcomes[0]));
    assert_eq!(bank.balance(PAYER), 50_000 - 4200);
    assert_eq!(bank.balance(PAYEE), 4200);
    assert_eq!(bank.totals(), totals);
}

#[tokio::test]
async fn get_transfer_of_an_unknown_id_is_not_found() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let status = get(&mut client, "NEVER-SENT").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::NotFound);
    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn invalid_requests_are_invalid_field() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let before = bank.balances();
    let same_account = eur("V-1", PAYER, PAYER, 100);
    let mut no_id = eur("", PAYER, PAYEE, 100);
    no_id.transfer_id = String::new();
    let zero = eur("V-3", PAYER, PAYEE, 0);
    let mut no_credit = eur("V-4", PAYER, PAYEE, 100);
    no_credit.credit_account = None;
    for request in [same_account, no_id, zero, no_credit] {
        let status = client.execute_transfer(request).await.unwrap_err();
        assert_eq!(reason(&status), pb::ErrorReason::InvalidField);
    }
    let status = get(&mut client, "").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::InvalidField);
    assert_eq!(bank.balances(), before);
    // Nothing was recorded for a rejected request.
    let status = get(&mut client, "V-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::NotFound);
}

#[tokio::test]
async fn a_dropped_response_times_out_but_the_transfer_happened() {
    let bank = Bank::start().await;
    let mut impatient = bank
        .client_as(&bank.pki.network, Duration::from_secs(1))
        .await;
    let mut client = bank.client().await;
    bank.running()
        .faults
        .drop_responses_after_apply(1, Duration::from_secs(30));
    let request = eur("D-1", PAYER, PAYEE, 999);
    let started = Instant::now();
    let status = impatient
        .execute_transfer(request.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Recovery (OMPP-BANK-009): GetTransfer finds the outcome, a retry returns the same one.
    let found = get(&mut client, "D-1").await.unwrap();
    assert_eq!(found.status(), pb::BankTransferStatus::Completed);
    assert_echoes(&found, &request);
    assert_eq!(execute(&mut impatient, request).await, found);
    assert_eq!(bank.balance(PAYER), 50_000 - 999);
    assert_eq!(bank.balance(PAYEE), 999);

    // Stopping releases the held answer instead of waiting 30 s for it.
    let mut bank = bank;
    let stopping = Instant::now();
    bank.running.take().unwrap().stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn unavailable_answers_service_unavailable_and_books_nothing() {
    // Unavailable from the configuration...
    let mut config = config();
    config.faults = FaultConfig {
        latency_ms: 0,
        unavailable: true,
    };
    let bank = Bank::start_with(config).await;
    let mut client = bank.client().await;
    let before = bank.balances();
    let request = eur("U-1", PAYER, PAYEE, 500);
    let status = client.execute_transfer(request.clone()).await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::ServiceUnavailable);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let status = get(&mut client, "U-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::ServiceUnavailable);
    assert_eq!(bank.balances(), before);

    // ...and switched at run time.
    let faults = &bank.running().faults;
    faults.set_unavailable(false);
    let status = get(&mut client, "U-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::NotFound);
    let done = execute(&mut client, request.clone()).await;
    assert_eq!(done.status(), pb::BankTransferStatus::Completed);
    faults.set_unavailable(true);
    let status = client.execute_transfer(request).await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::ServiceUnavailable);
    assert_eq!(bank.balance(PAYER), 50_000 - 500);
}

#[tokio::test]
async fn latency_delays_every_call() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    bank.running()
        .faults
        .set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let status = get(&mut client, "L-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::NotFound);
    assert!(started.elapsed() >= Duration::from_millis(300));
    bank.running().faults.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn a_peer_that_is_not_allow_listed_is_refused() {
    let bank = Bank::start().await;
    // The bank's own identity chains to the operator CA but is not on the allow-list.
    let mut intruder = bank
        .client_as(&bank.pki.mobile, Duration::from_secs(20))
        .await;
    let before = bank.balances();
    let status = intruder
        .execute_transfer(eur("X-1", PAYER, PAYEE, 100))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::PeerNotAllowed);
    let status = get(&mut intruder, "X-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::PeerNotAllowed);
    assert_eq!(bank.balances(), before);
    let mut client = bank.client().await;
    let status = get(&mut client, "X-1").await.unwrap_err();
    assert_eq!(reason(&status), pb::ErrorReason::NotFound);
}

#[tokio::test]
async fn a_restart_keeps_balances_and_transfers() {
    let mut bank = Bank::start().await;
    let mut client = bank.client().await;
    let completed = execute(&mut client, eur("S-1", PAYER, PAYEE, 1500)).await;
    let rejected = execute(&mut client, eur("S-2", PAYEE, PAYER, 1_000_000)).await;
    assert_rejected(&rejected, pb::ErrorReason::InsufficientFunds);
    let balances = bank.balances();

    // Changed opening balances in the configuration never reset existing accounts.
    bank.config.accounts[0].balance_minor_units = 1;
    bank.restart().await;
    assert_eq!(bank.balances(), balances);
    let mut client = bank.client().await;
    assert_eq!(get(&mut client, "S-1").await.unwrap(), completed);
    assert_eq!(get(&mut client, "S-2").await.unwrap(), rejected);
    assert_eq!(
        execute(&mut client, eur("S-1", PAYER, PAYEE, 1500)).await,
        completed
    );
    assert_eq!(bank.balance(PAYER), 50_000 - 1500);
}

#[tokio::test]
async fn the_sum_of_balances_per_currency_never_changes() {
    let bank = Bank::start().await;
    let mut client = bank.client().await;
    let totals = bank.totals();
    let accounts = [PAYER, PAYEE, BLOCKED, USD, "NOSUCH01"];
    let mut completed = 0;
    for i in 0..40_i64 {
        let debit = accounts[usize::try_from(i % 5).unwrap()];
        let credit = accounts[usize::try_from((i * 3 + 1) % 5).unwrap()];
        if debit == credit {
            continue;
        }
        let currency = if i % 7 == 0 { "USD" } else { "EUR" };
        let outcome = execute(
            &mut client,
            transfer(&format!("K-{i}"), debit, credit, currency, 1 + i * 997),
        )
        .await;
        if outcome.status() == pb::BankTransferStatus::Completed {
            completed += 1;
        }
        assert_eq!(bank.totals(), totals, "after K-{i}");
    }
    assert!(completed > 0);
    assert!(bank.balances().values().all(|b| *b >= 0));
}

#[test]
fn the_configuration_has_working_defaults_and_rejects_unknown_keys() {
    let config: BankConfig = toml::from_str("").unwrap();
    assert_eq!(config, BankConfig::default());
    assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 7300)));
    assert_eq!(config.bank_id, "OMPPBANK");
    assert_eq!(config.allowed_clients, ["ompp://network/NS-1"]);
    assert_eq!(config.accounts[0], account(PAYER, "EUR", 50_000, false));
    assert_eq!(config.accounts[1], account(PAYEE, "EUR", 0, false));

    let config: BankConfig = toml::from_str(
        r#"
        bank_id = "TESTBANK"
        [[accounts]]
        account_number = "A1"
        currency = "JPY"
        balance_minor_units = 5
        [faults]
        latency_ms = 20
        "#,
    )
    .unwrap();
    assert_eq!(config.accounts, [account("A1", "JPY", 5, false)]);
    assert_eq!(config.faults.latency_ms, 20);
    assert!(toml::from_str::<BankConfig>("bank = 1").is_err());
    assert!(toml::from_str::<BankConfig>("[faults]\ndrop = 1").is_err());
}

#[tokio::test]
async fn a_bad_configuration_does_not_start() {
    let pki = DevPki::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    let mut c = config();
    c.bank_id = "bad id".to_owned();
    bad.push(c);
    let mut c = config();
    c.accounts.push(account(PAYER, "EUR", 1, false));
    bad.push(c);
    let mut c = config();
    c.accounts.push(account("NEG1", "EUR", -1, false));
    bad.push(c);
    let mut c = config();
    c.accounts.push(account("X1", "EURO", 1, false));
    bad.push(c);
    let mut c = config();
    c.allowed_clients.push("https://example.com".to_owned());
    bad.push(c);
    for config in bad {
        let (_tx, rx) = watch::channel(false);
        let error = start_bank(&config, &pki, dir.path(), rx).await.unwrap_err();
        assert!(matches!(error, BankError::Config(_)), "{error}");
    }
}
