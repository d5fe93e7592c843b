//! `ompp-bench`: a first benchmark of the OMPP reference servers, in one process on loopback,
//! with real mutual TLS (the development PKI) and real SQLite (WAL, `synchronous=FULL`).
//!
//! Phases:
//! 1. transport limit: a bare unary gRPC echo over the reference TLS configuration;
//! 2. flow A rate (closed loop, `password_hashing = fast-insecure`);
//! 3. flow A latency at half of that rate (open loop, fixed arrival schedule);
//! 4. peak memory (VmHWM of this process, which also runs the servers) and storage per payment;
//! 5. argon2id verification time at Production parameters.
//!
//! Not measured here: flows B and C, growth to 10 k / 1 M stored payments, flow A at
//! production hashing.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use ompp::proto::v1 as pb;
use ompp_server::clock::SystemClock;
use ompp_server::config::Config;
use ompp_server::passwords::{HashingProfile, PasswordHasherService};
use ompp_server::pki::{DevPki, cert_der_to_pem, certs_from_pem, generate_csr};
use ompp_server::run::{Role, start};
use ompp_server::tls::{ClientAuth, client_tls, incoming, server_config};
use pb::bank_processor_service_client::BankProcessorServiceClient;
use pb::bank_processor_service_server::{BankProcessorService, BankProcessorServiceServer};
use pb::device_service_client::DeviceServiceClient;
use pb::merchant_payment_service_client::MerchantPaymentServiceClient;
use pb::registration_service_client::RegistrationServiceClient;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

/// The customers' payment password (hashed with the bench profile).
const PASSWORD: &str = "bench horse battery";
/// Public-side RPCs per flow A payment: CreatePayment (merchant) + ConfirmPayment (device).
const RPCS_PER_PAYMENT: f64 = 2.0;
/// Secure-link RPCs per flow A payment, read from the reference code path (not counted at run
/// time): RelayConfirmPayment (mobile -> network, inside ConfirmPayment), plus two background
/// pushes that are not on the caller's path, PushPaymentRequest after CreatePayment and
/// PushNotice after settlement (network -> mobile).
const LINK_RPCS_PER_PAYMENT: u64 = 3;
/// Each payment moves one cent; each wallet is topped up with 100.00 EUR.
const PAYMENT_CENTS: i64 = 1;
const TOP_UP_CENTS: i64 = 10_000;

/// Benchmark of the OMPP reference servers on loopback.
#[derive(Debug, Parser)]
#[command(name = "ompp-bench")]
struct Args {
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent workers (closed loop) and customers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

type BenchResult<T> = Result<T, String>;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.seconds == 0 || args.concurrency == 0 {
        eprintln!("ompp-bench: --seconds and --concurrency must be at least 1");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ompp-bench: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ompp-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The echo: `GetTransfer` answers an empty response at once; everything else is UNIMPLEMENTED.
#[derive(Debug)]
struct Echo;

#[tonic::async_trait]
impl BankProcessorService for Echo {
    async fn execute_transfer(
        &self,
        _request: Request<pb::ExecuteTransferRequest>,
    ) -> Result<Response<pb::ExecuteTransferResponse>, Status> {
        Err(Status::unimplemented("bench echo server"))
    }

    async fn get_transfer(
        &self,
        _request: Request<pb::GetTransferRequest>,
    ) -> Result<Response<pb::GetTransferResponse>, Status> {
        Ok(Response::new(pb::GetTransferResponse::default()))
    }
}

async fn channel(
    addr: SocketAddr,
    ca_pem: &str,
    identity: Option<(&str, &str)>,
) -> BenchResult<Channel> {
    Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .and_then(|e| e.tls_config(client_tls(ca_pem, identity, "localhost")))
        .map_err(|e| format!("endpoint for {addr}: {e}"))?
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))
}

/// What a closed-loop phase measured.
#[derive(Debug)]
struct LoopResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
}

impl LoopResult {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Prints a progress line every second until `stop` is set.
fn progress(
    label: &'static str,
    ok: Arc<AtomicU64>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut last = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            if done.load(Ordering::Relaxed) {
                break;
            }
            let now = ok.load(Ordering::Relaxed);
            println!(
                "  [{label}] t={:>3.0}s  total={now:>8}  last second={:>7}",
                started.elapsed().as_secs_f64(),
                now - last
            );
            last = now;
        }
    })
}

/// Runs `op` in `states.len()` concurrent workers, each in a closed loop, for `seconds`.
async fn closed_loop<S, F, Fut>(
    label: &'static str,
    states: Vec<S>,
    seconds: u64,
    op: F,
) -> BenchResult<LoopResult>
where
    S: Clone + Send + 'static,
    F: Fn(S, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<()>> + Send + 'static,
{
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = progress(label, ok.clone(), done.clone());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for state in states {
        let (ok, errors, first_error, op) =
            (ok.clone(), errors.clone(), first_error.clone(), op.clone());
        workers.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                match op(state.clone(), n).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut first) = first_error.lock() {
                            first.get_or_insert(error);
                        }
                    }
                }
                n += 1;
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| format!("{label}: worker failed: {e}"))?;
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    let first_error = first_error.lock().ok().and_then(|mut f| f.take());
    let result = LoopResult {
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        elapsed,
    };
    if let Some(error) = &result.first_error {
        println!("  [{label}] {} errors; first: {error}", result.errors);
    }
    if result.ok == 0 {
        return Err(format!(
            "{label}: no call succeeded ({})",
            result.first_error.as_deref().unwrap_or("no error recorded")
        ));
    }
    Ok(result)
}

/// One flow A worker: its merchant connection, its customer's paired device.
#[derive(Debug, Clone)]
struct Till {
    worker: usize,
    merchant: MerchantPaymentServiceClient<Channel>,
    device: DeviceServiceClient<Channel>,
    customer_id: String,
}

fn eur(cents: i64) -> pb::Money {
    pb::Money {
        currency: "EUR".into(),
        minor_units: cents,
    }
}

/// Flow A once: the merchant creates a payment, the device confirms it; must end SETTLED.
async fn flow_a(mut till: Till, key: String) -> BenchResult<()> {
    let created = till
        .merchant
        .create_payment(pb::CreatePaymentRequest {
            merchant_id: "M-1042".into(),
            customer_id: till.customer_id.clone(),
            amount: Some(eur(PAYMENT_CENTS)),
            items: vec![pb::LineItem {
                product_code: "SKU-1".into(),
                description: "Coffee".into(),
                quantity: 1,
            }],
            merchant_reference: format!("till {}", till.worker),
            expires_in: None,
            idempotency_key: key,
        })
        .await
        .map_err(|s| format!("CreatePayment: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    let payment_id = created
        .payment
        .ok_or("CreatePayment: response without a payment")?
        .payment_id;
    let confirmed = till
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id,
            amount: Some(eur(PAYMENT_CENTS)),
            password: PASSWORD.into(),
        })
        .await
        .map_err(|s| format!("ConfirmPayment: {:?}: {}", s.code(), s.message()))?
        .into_inner();
    if confirmed.status == pb::PaymentStatus::Settled as i32 {
        Ok(())
    } else {
        Err(format!(
            "ConfirmPayment: status {} instead of SETTLED",
            confirmed.status
        ))
    }
}

/// Registers customer `i` with a EUR wallet, pairs a device, tops the wallet up.
async fn till(
    i: usize,
    pki: &DevPki,
    network: SocketAddr,
    mobile: SocketAddr,
) -> BenchResult<Till> {
    let ca = pki.operator_ca.cert_pem();
    let mut registration = RegistrationServiceClient::new(channel(network, &ca, None).await?);
    let phone = format!("+49151{:07}", i + 1);
    let customer_id = registration
        .register_customer(pb::RegisterCustomerRequest {
            display_name: format!("Bench {i}"),
            phone_number: phone.clone(),
            password: PASSWORD.into(),
            wallet_currencies: vec!["EUR".into()],
            bank_account: None,
            idempotency_key: format!("bench-reg-{i}"),
        })
        .await
        .map_err(|s| format!("RegisterCustomer {phone}: {s}"))?
        .into_inner()
        .customer_id;
    let csr = generate_csr("device").map_err(|e| format!("CSR: {e}"))?;
    let paired = registration
        .pair_device(pb::PairDeviceRequest {
            customer_id: customer_id.clone(),
            password: PASSWORD.into(),
            device_name: "phone".into(),
            csr_der: csr.csr_der.clone(),
            idempotency_key: format!("bench-pair-{i}"),
        })
        .await
        .map_err(|s| format!("PairDevice {phone}: {s}"))?
        .into_inner();
    let cert_pem = cert_der_to_pem(&paired.certificate_der);
    let mut device =
        DeviceServiceClient::new(channel(mobile, &ca, Some((&cert_pem, &csr.key_pem))).await?);
    device
        .top_up_wallet(pb::TopUpWalletRequest {
            amount: Some(eur(TOP_UP_CENTS)),
            password: PASSWORD.into(),
            idempotency_key: format!("bench-topup-{i}"),
        })
        .await
        .map_err(|s| format!("TopUpWallet {phone}: {s}"))?;
    let merchant = MerchantPaymentServiceClient::new(
        channel(
            network,
            &ca,
            Some((&pki.merchant.cert_pem, &pki.merchant.key_pem)),
        )
        .await?,
    );
    Ok(Till {
        worker: i,
        merchant,
        device,
        customer_id,
    })
}

/// What the open-loop phase measured.
#[derive(Debug)]
struct Latency {
    target_rate: f64,
    achieved_rate: f64,
    ok: u64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Flow A on a fixed arrival schedule of `rate` per second for `seconds`; latency is measured
/// from each payment's scheduled arrival (so queueing for a free customer counts).
async fn open_loop(tills: Vec<Till>, rate: f64, seconds: u64) -> BenchResult<Latency> {
    let total = (rate * seconds as f64).floor().max(1.0) as u64;
    let interval = 1.0 / rate;
    let (pool_tx, pool_rx) = tokio::sync::mpsc::channel(tills.len());
    for till in tills {
        pool_tx
            .send(till)
            .await
            .map_err(|_| "latency: customer pool closed")?;
    }
    let pool_rx = Arc::new(tokio::sync::Mutex::new(pool_rx));
    let ok = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = progress("latency", ok.clone(), done.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let at = started + Duration::from_secs_f64(n as f64 * interval);
        tokio::time::sleep_until(at.into()).await;
        let (pool_tx, pool_rx, ok) = (pool_tx.clone(), pool_rx.clone(), ok.clone());
        tasks.spawn(async move {
            let till = pool_rx
                .lock()
                .await
                .recv()
                .await
                .ok_or("latency: customer pool closed")?;
            let result = flow_a(till.clone(), format!("bench-lat-{n}")).await;
            let latency = at.elapsed();
            let _ = pool_tx.send(till).await;
            result?;
            ok.fetch_add(1, Ordering::Relaxed);
            Ok::<Duration, String>(latency)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| format!("latency: task failed: {e}"))? {
            Ok(latency) => latencies.push(latency),
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    if let Some(error) = &first_error {
        println!("  [latency] {errors} errors; first: {error}");
    }
    if latencies.is_empty() {
        return Err(format!(
            "latency: no payment settled ({})",
            first_error.unwrap_or_default()
        ));
    }
    latencies.sort_unstable();
    Ok(Latency {
        target_rate: rate,
        achieved_rate: latencies.len() as f64 / elapsed.as_secs_f64(),
        ok: latencies.len() as u64,
        errors,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies
            .last()
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
    })
}

/// VmHWM of this process, in KiB.
fn vm_hwm_kib() -> BenchResult<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM line in /proc/self/status".to_owned())
}

/// The SQLite files (databases, WAL, shared memory) under `dir`, with their sizes.
fn sqlite_files(dir: &Path) -> BenchResult<Vec<(PathBuf, u64)>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let path = entry.path();
            let meta = entry
                .metadata()
                .map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
            if meta.is_dir() {
                pending.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(".sqlite") || n.contains(".db"))
            {
                found.push((path, meta.len()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Median time of one argon2id verification at Production parameters, over `rounds`.
fn production_verify_time(rounds: usize) -> BenchResult<Duration> {
    let hasher = PasswordHasherService::new(HashingProfile::Production);
    let password = ompp::types::Password::parse(PASSWORD).map_err(|v| format!("password: {v}"))?;
    let phc = hasher.hash(&password).map_err(|e| e.to_string())?;
    if !phc.contains("m=19456,t=2,p=1") {
        return Err(format!("unexpected production parameters in {phc}"));
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let ok = hasher.verify(&password, &phc);
        times.push(started.elapsed());
        if !ok {
            return Err("production hash did not verify".to_owned());
        }
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

async fn run(args: Args) -> BenchResult<()> {
    let seconds = args.seconds;
    let concurrency = args.concurrency;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!(
        "ompp-bench: {seconds} s per phase, concurrency {concurrency}, {cores} cores; \
         servers and clients in this one process on loopback"
    );

    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        password_hashing: HashingProfile::FastInsecure,
        ..Config::default()
    };
    config.network.listen = any;
    config.network.link_listen = any;
    config.mobile.listen = any;
    config.mobile.link_listen = any;
    config.bank.listen = any;
    config.sms.listen = any;
    config.sms.handset_listen = any;
    let running = start(&config, Role::All, Arc::new(SystemClock), None)
        .await
        .map_err(|e| format!("cannot start the operation center: {e}"))?;
    let pki = DevPki::read(&config.pki_dir()).map_err(|e| format!("PKI: {e}"))?;
    let network_addr = running
        .network_addr
        .ok_or("the network server did not start")?;
    let mobile_addr = running
        .mobile_addr
        .ok_or("the mobile server did not start")?;
    println!(
        "operation center up (data in {}): network {network_addr}, mobile {mobile_addr}",
        dir.path().display()
    );

    // 1. Transport limit.
    println!("\n[1/5] transport limit: unary echo over the reference TLS 1.3 mutual-TLS setup");
    let listener = tokio::net::TcpListener::bind(any)
        .await
        .map_err(|e| format!("echo listener: {e}"))?;
    let echo_addr = listener
        .local_addr()
        .map_err(|e| format!("echo listener: {e}"))?;
    let tls = server_config(
        certs_from_pem(&pki.network.cert_pem).map_err(|e| format!("network cert: {e}"))?,
        pki.network.key_der(),
        vec![pki.operator_ca.cert_der()],
        ClientAuth::Optional,
    )
    .map_err(|e| format!("echo TLS: {e}"))?;
    let (echo_stop, echo_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let echo_server = tokio::spawn(
        Server::builder()
            .add_service(BankProcessorServiceServer::new(Echo))
            .serve_with_incoming_shutdown(incoming(listener, tls), async {
                let _ = echo_stop_rx.await;
            }),
    );
    let ca = pki.operator_ca.cert_pem();
    let mut echo_clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        echo_clients.push(BankProcessorServiceClient::new(
            channel(
                echo_addr,
                &ca,
                Some((&pki.merchant.cert_pem, &pki.merchant.key_pem)),
            )
            .await?,
        ));
    }
    let echo = closed_loop("echo", echo_clients, seconds, |mut client, _| async move {
        client
            .get_transfer(pb::GetTransferRequest::default())
            .await
            .map(|_| ())
            .map_err(|s| format!("echo: {s}"))
    })
    .await?;
    let _ = echo_stop.send(());
    let _ = echo_server.await;
    println!("  echo: {:.0} calls/s", echo.rate());

    // 2. Flow A rate.
    println!(
        "\n[2/5] flow A rate, closed loop, password_hashing = fast-insecure (BENCH PROFILE, not production)"
    );
    let mut tills = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        tills.push(till(i, &pki, network_addr, mobile_addr).await?);
    }
    println!("  {concurrency} customers registered, paired, topped up");
    let flow = closed_loop("flow A", tills.clone(), seconds, |till, n| async move {
        let key = format!("bench-rate-{}-{n}", till.worker);
        flow_a(till, key).await
    })
    .await?;
    let flow_rate = flow.rate();
    let ratio = flow_rate / (echo.rate() / RPCS_PER_PAYMENT);
    println!("  flow A: {flow_rate:.1} settled payments/s");

    // 3. Latency at half the rate, open loop.
    let target = flow_rate / 2.0;
    println!("\n[3/5] flow A latency, open loop at {target:.1} payments/s (half of phase 2)");
    let latency = open_loop(tills, target, seconds).await?;
    println!(
        "  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} settled, {:.1}/s achieved)",
        latency.p50_ms, latency.p99_ms, latency.max_ms, latency.ok, latency.achieved_rate
    );

    // 4. Memory and storage.
    println!("\n[4/5] peak memory and storage");
    let hwm_kib = vm_hwm_kib()?;
    running.stop().await;
    let settled = flow.ok + latency.ok;
    let files = sqlite_files(dir.path())?;
    let storage_bytes: u64 = files.iter().map(|(_, len)| len).sum();
    for (path, len) in &files {
        let name = path.strip_prefix(dir.path()).unwrap_or(path);
        println!("  {:>12} bytes  {}", len, name.display());
    }
    let bytes_per_payment = storage_bytes as f64 / settled as f64;
    println!(
        "  VmHWM {:.1} MiB (whole process: servers + bench clients); {storage_bytes} bytes of \
         SQLite / {settled} settled payments = {bytes_per_payment:.0} bytes per payment",
        hwm_kib as f64 / 1024.0
    );

    // 5. Password hashing.
    println!("\n[5/5] argon2id verification at Production parameters (m=19456 KiB, t=2, p=1)");
    let rounds = 21;
    let verify = tokio::task::spawn_blocking(move || production_verify_time(rounds))
        .await
        .map_err(|e| format!("hashing task failed: {e}"))??;
    let verify_ms = verify.as_secs_f64() * 1000.0;
    let ceiling = cores as f64 / verify.as_secs_f64();
    println!(
        "  median of {rounds}: {verify_ms:.1} ms; ceiling {cores} cores / {verify_ms:.1} ms = {ceiling:.0} verifications/s"
    );

    // Summary.
    println!("\n================ OMPP reference server benchmark ================");
    println!(
        "loopback, one process (servers + clients), TLS 1.3 mutual TLS, SQLite WAL synchronous=FULL"
    );
    println!("seconds/phase {seconds}, concurrency {concurrency}, cores {cores}");
    println!("{:<52} {:>14}", "metric", "value");
    let rows: Vec<(String, String)> = vec![
        (
            "echo (transport limit), calls/s".into(),
            format!("{:.0}", echo.rate()),
        ),
        (
            "flow A [fast-insecure hashing], settled payments/s".into(),
            format!("{flow_rate:.1}"),
        ),
        (
            "  public RPCs per payment / link RPCs per payment".into(),
            format!("{RPCS_PER_PAYMENT:.0} / {LINK_RPCS_PER_PAYMENT}"),
        ),
        (
            "  flow A / (echo / public RPCs per payment)".into(),
            format!("{ratio:.3}"),
        ),
        (
            "  flow A errors (closed loop)".into(),
            format!("{}", flow.errors),
        ),
        (
            format!("latency @ {target:.1}/s open loop, p50 ms"),
            format!("{:.2}", latency.p50_ms),
        ),
        ("  p99 ms".into(), format!("{:.2}", latency.p99_ms)),
        ("  max ms".into(), format!("{:.2}", latency.max_ms)),
        ("  errors".into(), format!("{}", latency.errors)),
        (
            "peak RSS VmHWM, MiB (servers in-process)".into(),
            format!("{:.1}", hwm_kib as f64 / 1024.0),
        ),
        (
            "SQLite bytes per settled payment".into(),
            format!("{bytes_per_payment:.0}"),
        ),
        (
            "argon2id verify @ production, ms (median)".into(),
            format!("{verify_ms:.1}"),
        ),
        (
            "  ceiling, verifications/s (cores / verify time)".into(),
            format!("{ceiling:.0}"),
        ),
    ];
    for (metric, value) in &rows {
        println!("{metric:<52} {value:>14}");
    }
    println!(
        "not measured: flows B and C rates; growth to 10 k / 1 M stored payments; flow A at production hashing"
    );

    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "environment": {
                "seconds_per_phase": seconds,
                "concurrency": concurrency,
                "cores": cores,
                "transport": "loopback, TLS 1.3 mutual TLS (development PKI)",
                "storage": "SQLite WAL synchronous=FULL",
                "servers_in_process": true,
            },
            "echo": {
                "calls_per_s": echo.rate(),
                "calls": echo.ok,
                "errors": echo.errors,
            },
            "flow_a": {
                "password_hashing": "fast-insecure",
                "settled_per_s": flow_rate,
                "settled": flow.ok,
                "errors": flow.errors,
                "public_rpcs_per_payment": RPCS_PER_PAYMENT,
                "link_rpcs_per_payment": LINK_RPCS_PER_PAYMENT,
                "ratio_to_echo_bound": ratio,
            },
            "flow_a_latency": {
                "password_hashing": "fast-insecure",
                "arrival": "open loop, fixed schedule",
                "target_per_s": latency.target_rate,
                "achieved_per_s": latency.achieved_rate,
                "settled": latency.ok,
                "errors": latency.errors,
                "p50_ms": latency.p50_ms,
                "p99_ms": latency.p99_ms,
                "max_ms": latency.max_ms,
            },
            "memory": {
                "vm_hwm_kib": hwm_kib,
                "note": "whole process: servers and bench clients",
            },
            "storage": {
                "sqlite_bytes": storage_bytes,
                "settled_payments": settled,
                "bytes_per_settled_payment": bytes_per_payment,
            },
            "password_hashing": {
                "profile": "production (argon2id m=19456 KiB, t=2, p=1)",
                "verify_ms_median": verify_ms,
                "rounds": rounds,
                "ceiling_verifications_per_s": ceiling,
            },
            "not_measured": [
                "flow B rate",
                "flow C rate",
                "growth to 10k / 1M stored payments",
                "flow A at production hashing",
            ],
        });
        let text = serde_json::to_string_pretty(&json).map_err(|e| format!("JSON: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
