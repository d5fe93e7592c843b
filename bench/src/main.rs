//! `ompp-bench`: the benchmark of the OMPP reference servers on loopback, with real mutual TLS
//! (the development PKI) and real SQLite (WAL, `synchronous=FULL`).
//!
//! Processes: the operation center of phases 1-5 and the one of phase 8 each run in a child
//! process (the bench re-executed with the hidden `--serve CONFIG`, see `server.rs`), so that
//! the server's memory is measured apart from the bench's clients: VmHWM of that child is
//! the "server process peak RSS". The clients, the echo server of phase 1, phase 7's hashing and
//! the growth center of phase 9 (in this process: it is seeded through its store) run in the
//! bench process, whose VmHWM is reported too, as such. CPU per payment counts both processes.
//!
//! Phases:
//! 1. transport limit: a bare unary gRPC echo over the reference TLS configuration;
//! 2. flow A rate (closed loop, `password_hashing = fast-insecure`);
//! 3. flow A latency at half of that rate (open loop, fixed arrival schedule);
//! 4. flow B rate (closed loop): dynamic payee code issued, submitted by the device, settled;
//! 5. flow C rate (closed loop): checkout, password, SMS code read from the handset, code,
//!    transfer at the reference bank processor, settled;
//! 6. peak memory (VmHWM of the server process, and of the bench process) and storage per
//!    payment;
//! 7. argon2id verification time at Production parameters, and the hashing ceiling
//!    (cores / verification time);
//! 8. flow A rate with `password_hashing = production` (a second operation center), against
//!    that ceiling;
//! 9. growth: flow A rate and latency with 10 000 and with `--growth-payments` (1 000 000)
//!    payments stored (a third operation center, seeded with settled copies of a real payment).
//!
//! Phases 2 to 5 share the first operation center; phases 8 and 9 each start a fresh one.

mod flows;
mod growth;
mod measure;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ompp::proto::v1 as pb;
use ompp_server::passwords::HashingProfile;
use ompp_server::pki::certs_from_pem;
use ompp_server::tls::{ClientAuth, incoming, server_config};
use pb::bank_processor_service_client::BankProcessorServiceClient;
use pb::bank_processor_service_server::{BankProcessorService, BankProcessorServiceServer};
use tonic::transport::Server;
use tonic::{Request, Response, Status};

use crate::flows::{Center, channel, flow_a, flow_b, flow_c};
use crate::measure::{
    Memory, closed_loop, open_loop, production_parallel_rate, production_verify_time, sqlite_files,
    vm_hwm_kib,
};

/// Public RPCs per flow A payment: CreatePayment and WatchPayment (merchant), ConfirmPayment
/// (device). The device's `Subscribe` stream is opened once per device and carries the push.
const PUBLIC_RPCS_PER_PAYMENT: f64 = 3.0;
/// Secure-link RPCs per flow A payment, read from the reference code path (not counted at run
/// time): PushPaymentRequest after CreatePayment (network -> mobile), RelayConfirmPayment
/// (mobile -> network, inside ConfirmPayment), PushNotice after settlement (network -> mobile).
const LINK_RPCS_PER_PAYMENT: f64 = 3.0;
/// Every RPC a flow A payment makes over gRPC and mutual TLS: the transport limit divided by
/// this is the payment rate the transport alone would allow.
const RPCS_PER_PAYMENT: f64 = PUBLIC_RPCS_PER_PAYMENT + LINK_RPCS_PER_PAYMENT;
/// argon2id verifications per flow A payment, read from the reference code path: one, in
/// RelayConfirmPayment (network/link.rs). Setup (RegisterCustomer hashes, PairDevice and
/// TopUpWallet verify) is not measured.
const VERIFICATIONS_PER_PAYMENT: f64 = 1.0;

/// The targets.
const TARGET_FLOW_A_PER_S: f64 = 3_000.0;
const TARGET_RATIO_TO_TRANSPORT: f64 = 0.5;
const TARGET_RATIO_TO_CEILING: f64 = 0.9;
const TARGET_P99_MS: f64 = 25.0;
const TARGET_RSS_MB: f64 = 150.0;
/// "Flat" per-payment cost from 10 k to 1 M stored payments, read as: the rate at the larger
/// size is at least this fraction of the rate at 10 k (the bench's reading of the issue).
const TARGET_FLATNESS: f64 = 0.9;
/// The smaller growth size.
const GROWTH_SMALL: u64 = 10_000;

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
    /// Stored payments for the large growth measurement (the small one is 10 000, or this if
    /// smaller).
    #[arg(long, default_value_t = 1_000_000)]
    growth_payments: u64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Run only phases 1 and 2 (transport limit and flow A rate), print them and stop: for
    /// profiling the protocol path. Writes no JSON.
    #[arg(long)]
    flow_a_only: bool,
    /// Internal: serve an operation center with the configuration in this JSON file until
    /// stdin closes (the bench runs its servers this way, in a child process).
    #[arg(long, hide = true, value_name = "CONFIG_JSON")]
    serve: Option<PathBuf>,
}

type BenchResult<T> = Result<T, String>;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(config) = &args.serve {
        return server::serve(config);
    }
    if args.seconds == 0 || args.concurrency == 0 || args.growth_payments < 2 {
        eprintln!(
            "ompp-bench: --seconds and --concurrency must be at least 1, --growth-payments at least 2"
        );
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

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

/// A server process's memory as JSON, against the target.
fn memory_json(memory: &Memory) -> serde_json::Value {
    serde_json::json!({
        "vm_hwm_kib": memory.hwm_kib,
        "vm_hwm_mb": mb(memory.hwm_kib),
        "vm_rss_kib_at_the_end": memory.rss_kib,
        "vm_rss_mb_at_the_end": mb(memory.rss_kib),
        "target_mb_below": TARGET_RSS_MB,
        "pass": mb(memory.hwm_kib) < TARGET_RSS_MB,
    })
}

fn temp_dir(what: &str) -> BenchResult<tempfile::TempDir> {
    tempfile::tempdir().map_err(|e| format!("temporary directory for {what}: {e}"))
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> BenchResult<()> {
    let run_started = Instant::now();
    let seconds = args.seconds;
    let concurrency = args.concurrency;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let large = args.growth_payments;
    let mut sizes = vec![GROWTH_SMALL.min(large)];
    if large > sizes[0] {
        sizes.push(large);
    }
    println!(
        "ompp-bench: {seconds} s per phase, concurrency {concurrency}, {cores} cores, growth to \
         {large} payments; on loopback, clients in this process, operation centers in a child \
         process (phases 1-5, 8) or in this one (phase 9)"
    );

    let dir = temp_dir("the operation center")?;
    let center =
        Arc::new(Center::spawn(dir.path(), HashingProfile::FastInsecure, concurrency).await?);
    let server_pid = center.server_pid();
    println!(
        "operation center up (server process {}, data in {}): network {}, mobile {}, handsets {}",
        server_pid.map_or_else(|| "none".to_owned(), |pid| pid.to_string()),
        dir.path().display(),
        center.network,
        center.mobile,
        center.handsets
    );

    // 1. Transport limit.
    println!("\n[1/9] transport limit: unary echo over the reference TLS 1.3 mutual-TLS setup");
    let pki = center.pki.clone();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
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
    let echo = closed_loop(
        "echo",
        echo_clients,
        seconds,
        None,
        |mut client, _| async move {
            client
                .get_transfer(pb::GetTransferRequest::default())
                .await
                .map(|_| ())
                .map_err(|s| format!("echo: {s}"))
        },
    )
    .await?;
    let _ = echo_stop.send(());
    let _ = echo_server.await;
    println!("  echo: {:.0} calls/s", echo.rate());

    // 2. Flow A rate.
    println!(
        "\n[2/9] flow A rate, closed loop, password_hashing = fast-insecure (BENCH PROFILE, not production)"
    );
    let tills = center.tills(concurrency, "+49151").await?;
    println!("  {concurrency} customers registered, paired, topped up");
    let flow = closed_loop(
        "flow A",
        tills.clone(),
        seconds,
        server_pid,
        |till, n| async move {
            let key = format!("bench-rate-{}-{n}", till.worker);
            flow_a(till, key).await.map(|_| ())
        },
    )
    .await?;
    let flow_rate = flow.rate();
    let ratio = flow_rate / (echo.rate() / RPCS_PER_PAYMENT);
    let public_ratio = flow_rate / (echo.rate() / PUBLIC_RPCS_PER_PAYMENT);
    println!(
        "  flow A: {flow_rate:.1} settled payments/s, {:.2} CPU ms per payment (server process {:.2})",
        flow.cpu_ms_per_op(),
        flow.server_cpu_ms_per_op()
    );
    if args.flow_a_only {
        println!(
            "  ratio to the transport limit: {ratio:.3} (echo {:.0}/s / {RPCS_PER_PAYMENT} RPCs per payment)",
            echo.rate()
        );
        drop(tills);
        if let Ok(center) = Arc::try_unwrap(center) {
            center.stop().await?;
        }
        return Ok(());
    }

    // 3. Latency at half the rate, open loop.
    let target = flow_rate / 2.0;
    println!("\n[3/9] flow A latency, open loop at {target:.1} payments/s (half of phase 2)");
    let latency = open_loop(
        "latency",
        tills.clone(),
        target,
        seconds,
        |till, n| async move { flow_a(till, format!("bench-lat-{n}")).await.map(|_| ()) },
    )
    .await?;
    println!(
        "  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} settled, {:.1}/s achieved)",
        latency.p50_ms, latency.p99_ms, latency.max_ms, latency.ok, latency.achieved_rate
    );

    // 4. Flow B rate.
    println!("\n[4/9] flow B rate, closed loop (dynamic payee code), fast-insecure hashing");
    let flow_b_result = closed_loop(
        "flow B",
        tills.clone(),
        seconds,
        server_pid,
        |till, n| async move {
            let key = format!("bench-b-{}-{n}", till.worker);
            flow_b(till, key).await
        },
    )
    .await?;
    println!(
        "  flow B: {:.1} settled payments/s, {:.2} CPU ms per payment (server process {:.2})",
        flow_b_result.rate(),
        flow_b_result.cpu_ms_per_op(),
        flow_b_result.server_cpu_ms_per_op()
    );
    drop(tills);

    // 5. Flow C rate.
    println!(
        "\n[5/9] flow C rate, closed loop (checkout, SMS code via handset, bank transfer), fast-insecure hashing"
    );
    let shoppers = center.shoppers(concurrency).await?;
    println!("  {concurrency} bank customers registered, handsets listening");
    let flow_c_result = closed_loop(
        "flow C",
        shoppers.clone(),
        seconds,
        server_pid,
        |s, n| async move {
            flow_c(
                s,
                format!("bench-c-{n}-{}", ompp_server::clock::random_id("")),
            )
            .await
        },
    )
    .await?;
    println!(
        "  flow C: {:.1} settled checkouts/s, {:.2} CPU ms per checkout (server process {:.2})",
        flow_c_result.rate(),
        flow_c_result.cpu_ms_per_op(),
        flow_c_result.server_cpu_ms_per_op()
    );
    drop(shoppers);

    // 6. Memory and storage.
    println!("\n[6/9] peak memory and storage (first operation center)");
    let hwm_kib = vm_hwm_kib()?;
    let mut center = Arc::try_unwrap(center).map_err(|_| "the operation center is still in use")?;
    // Read before the server process stops.
    let server_memory = center
        .server_memory()
        .await?
        .ok_or("the first operation center does not run in a child process")?;
    center.stop().await?;
    let settled = flow.ok + latency.ok + flow_b_result.ok + flow_c_result.ok;
    let files = sqlite_files(dir.path())?;
    let storage_bytes: u64 = files.iter().map(|(_, len)| len).sum();
    for (path, len) in &files {
        let name = path.strip_prefix(dir.path()).unwrap_or(path);
        println!("  {:>12} bytes  {}", len, name.display());
    }
    let bytes_per_payment = storage_bytes as f64 / settled as f64;
    println!(
        "  server process (pid {}): VmHWM {:.1} MB, VmRSS {:.1} MB at the end; bench process \
         (clients, echo): VmHWM {:.1} MB",
        server_pid.unwrap_or_default(),
        mb(server_memory.hwm_kib),
        mb(server_memory.rss_kib),
        mb(hwm_kib)
    );
    println!(
        "  {storage_bytes} bytes of SQLite (all databases) / {settled} settled payments (flows \
         A, B, C) = {bytes_per_payment:.0} bytes per payment"
    );
    drop(dir);

    // 7. Password hashing.
    println!("\n[7/9] argon2id verification at Production parameters (m=19456 KiB, t=2, p=1)");
    let rounds = 21;
    let verify = tokio::task::spawn_blocking(move || production_verify_time(rounds))
        .await
        .map_err(|e| format!("hashing task failed: {e}"))??;
    let verify_ms = verify.as_secs_f64() * 1000.0;
    let ceiling = cores as f64 / verify.as_secs_f64();
    let parallel = tokio::task::spawn_blocking(move || {
        production_parallel_rate(cores, Duration::from_secs(2))
    })
    .await
    .map_err(|e| format!("hashing task failed: {e}"))??;
    println!(
        "  {cores} threads verifying at once: {parallel:.1} verifications/s ({:.0} % of the ceiling: argon2id is memory-bound)",
        100.0 * parallel / ceiling
    );
    let payment_ceiling = ceiling / VERIFICATIONS_PER_PAYMENT;
    println!(
        "  median of {rounds}: {verify_ms:.1} ms; ceiling {cores} cores / {verify_ms:.1} ms = {ceiling:.0} verifications/s"
    );

    // 8. Flow A at production hashing.
    println!(
        "\n[8/9] flow A rate, closed loop, password_hashing = production (second operation center)"
    );
    let prod_dir = temp_dir("the production operation center")?;
    let prod = Arc::new(Center::spawn(prod_dir.path(), HashingProfile::Production, 0).await?);
    let prod_pid = prod.server_pid();
    let setup = Instant::now();
    let prod_tills = prod.tills(concurrency, "+49154").await?;
    println!(
        "  {concurrency} customers set up in {:.1} s (3 argon2 operations each, not measured)",
        setup.elapsed().as_secs_f64()
    );
    let prod_flow = closed_loop(
        "flow A prod",
        prod_tills,
        seconds,
        prod_pid,
        |till, n| async move {
            let key = format!("bench-prod-{}-{n}", till.worker);
            flow_a(till, key).await.map(|_| ())
        },
    )
    .await?;
    let prod_rate = prod_flow.rate();
    let prod_ratio = prod_rate / payment_ceiling;
    println!(
        "  flow A (production hashing): {prod_rate:.1} settled payments/s; ceiling {payment_ceiling:.1}/s; ratio {prod_ratio:.3}"
    );
    let prod_hwm_kib = vm_hwm_kib()?;
    let mut prod =
        Arc::try_unwrap(prod).map_err(|_| "the production operation center is still in use")?;
    let prod_server_memory = prod
        .server_memory()
        .await?
        .ok_or("the production operation center does not run in a child process")?;
    prod.stop().await?;
    println!(
        "  server process (pid {}): VmHWM {:.1} MB (argon2id holds 19 MiB per verification in \
         flight); bench process VmHWM now {:.1} MB",
        prod_pid.unwrap_or_default(),
        mb(prod_server_memory.hwm_kib),
        mb(prod_hwm_kib)
    );
    drop(prod_dir);

    // 9. Growth.
    println!(
        "\n[9/9] growth: flow A with {} stored payments (third operation center, in this process, fast-insecure)",
        sizes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let growth_dir = temp_dir("the growth operation center")?;
    let growth = growth::run(growth_dir.path(), &sizes, seconds, concurrency).await?;
    drop(growth_dir);
    let first = growth.steps.first().ok_or("growth: nothing measured")?;
    let last = growth.steps.last().ok_or("growth: nothing measured")?;
    let flatness = last.rate.rate() / first.rate.rate();
    let growth_bytes = growth.sqlite_bytes_at_end as f64 / growth.stored_at_end as f64;
    let final_hwm_kib = vm_hwm_kib()?;
    let wall = run_started.elapsed();

    // Summary.
    println!("\n================ OMPP reference server benchmark ================");
    println!(
        "loopback, TLS 1.3 mutual TLS, SQLite WAL synchronous=FULL; operation center in a child \
         process (phases 1-5, 8) or in the bench process (phase 9), clients in the bench process"
    );
    println!(
        "seconds/phase {seconds}, concurrency {concurrency}, cores {cores}, wall time {:.0} s",
        wall.as_secs_f64()
    );
    let dash = || "-".to_owned();
    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut row = |metric: String, value: String, target: Option<(String, bool)>| {
        let (target, verdict) = match target {
            Some((t, pass)) => (t, verdict(pass).to_owned()),
            None => (dash(), String::new()),
        };
        rows.push((metric, value, target, verdict));
    };
    row(
        "echo (transport limit), calls/s".into(),
        format!("{:.0}", echo.rate()),
        None,
    );
    row(
        "flow A [fast-insecure], settled payments/s".into(),
        format!("{flow_rate:.1}"),
        Some((
            format!(">= {TARGET_FLOW_A_PER_S:.0}"),
            flow_rate >= TARGET_FLOW_A_PER_S,
        )),
    );
    row(
        "  public RPCs / link RPCs per payment".into(),
        format!("{PUBLIC_RPCS_PER_PAYMENT:.0} / {LINK_RPCS_PER_PAYMENT:.0}"),
        None,
    );
    row(
        "  flow A / (echo / RPCs per payment)".into(),
        format!("{ratio:.3}"),
        Some((
            format!(">= {TARGET_RATIO_TO_TRANSPORT}"),
            ratio >= TARGET_RATIO_TO_TRANSPORT,
        )),
    );
    row(
        "  flow A / (echo / public RPCs only), stricter".into(),
        format!("{public_ratio:.3}"),
        None,
    );
    row(
        "  errors (closed loop)".into(),
        flow.errors.to_string(),
        None,
    );
    row(
        format!("latency @ {target:.1}/s open loop, p50 ms"),
        format!("{:.2}", latency.p50_ms),
        None,
    );
    row(
        "  p99 ms".into(),
        format!("{:.2}", latency.p99_ms),
        Some((
            format!("< {TARGET_P99_MS:.0}"),
            latency.p99_ms < TARGET_P99_MS,
        )),
    );
    row("  max ms".into(), format!("{:.2}", latency.max_ms), None);
    row("  errors".into(), latency.errors.to_string(), None);
    row(
        "flow B [fast-insecure], settled payments/s".into(),
        format!("{:.1}", flow_b_result.rate()),
        None,
    );
    row(
        "  errors (closed loop)".into(),
        flow_b_result.errors.to_string(),
        None,
    );
    row(
        "flow C [fast-insecure], settled checkouts/s".into(),
        format!("{:.1}", flow_c_result.rate()),
        None,
    );
    row(
        "  errors (closed loop)".into(),
        flow_c_result.errors.to_string(),
        None,
    );
    row(
        "server process peak RSS, phases 1-5, MB (VmHWM)".into(),
        format!("{:.1}", mb(server_memory.hwm_kib)),
        Some((
            format!("< {TARGET_RSS_MB:.0}"),
            mb(server_memory.hwm_kib) < TARGET_RSS_MB,
        )),
    );
    row(
        "  server process RSS at the end of phase 5, MB".into(),
        format!("{:.1}", mb(server_memory.rss_kib)),
        None,
    );
    row(
        "bench process peak RSS after phases 1-5, MB (clients)".into(),
        format!("{:.1}", mb(hwm_kib)),
        None,
    );
    row(
        "SQLite bytes per settled payment (A+B+C)".into(),
        format!("{bytes_per_payment:.0}"),
        None,
    );
    row(
        "argon2id verify @ production, ms (median)".into(),
        format!("{verify_ms:.1}"),
        None,
    );
    row(
        "  ceiling, verifications/s (cores / verify)".into(),
        format!("{ceiling:.1}"),
        None,
    );
    row(
        "  measured, {cores} verifying at once, verifications/s"
            .replace("{cores}", &cores.to_string()),
        format!("{parallel:.1}"),
        None,
    );
    row(
        "flow A [production hashing], payments/s".into(),
        format!("{prod_rate:.1}"),
        None,
    );
    row(
        "  argon2 verifications per payment".into(),
        format!("{VERIFICATIONS_PER_PAYMENT:.0}"),
        None,
    );
    row(
        "  ratio to ceiling".into(),
        format!("{prod_ratio:.3}"),
        Some((
            format!(">= {TARGET_RATIO_TO_CEILING}"),
            prod_ratio >= TARGET_RATIO_TO_CEILING,
        )),
    );
    row(
        "  errors (closed loop)".into(),
        prod_flow.errors.to_string(),
        None,
    );
    for step in &growth.steps {
        row(
            format!("growth: {} stored, seeding s", step.stored),
            format!("{:.1}", step.seed_time.as_secs_f64()),
            None,
        );
        row(
            "  flow A, settled payments/s".into(),
            format!("{:.1}", step.rate.rate()),
            None,
        );
        row(
            format!("  p99 ms @ {:.1}/s open loop", step.latency.target_rate),
            format!("{:.2}", step.latency.p99_ms),
            Some((
                format!("< {TARGET_P99_MS:.0}"),
                step.latency.p99_ms < TARGET_P99_MS,
            )),
        );
        row(
            "  errors (closed / open loop)".into(),
            format!("{} / {}", step.rate.errors, step.latency.errors),
            None,
        );
        row(
            "  bench process peak RSS after seeding / measuring, MB".into(),
            format!(
                "{:.0} / {:.0}",
                mb(step.hwm_after_seed_kib),
                mb(step.hwm_after_kib)
            ),
            None,
        );
    }
    row(
        format!("growth: rate @{} / rate @{}", last.stored, first.stored),
        format!("{flatness:.3}"),
        Some((format!(">= {TARGET_FLATNESS}"), flatness >= TARGET_FLATNESS)),
    );
    row(
        "  SQLite bytes per stored payment at the end".into(),
        format!("{growth_bytes:.0}"),
        None,
    );
    row(
        "server process peak RSS, phase 8 (production), MB".into(),
        format!("{:.1}", mb(prod_server_memory.hwm_kib)),
        Some((
            format!("< {TARGET_RSS_MB:.0}"),
            mb(prod_server_memory.hwm_kib) < TARGET_RSS_MB,
        )),
    );
    row(
        "bench process peak RSS after phase 8, MB".into(),
        format!("{:.1}", mb(prod_hwm_kib)),
        None,
    );
    row(
        "bench process peak RSS whole run, MB (VmHWM)".into(),
        format!("{:.1}", mb(final_hwm_kib)),
        None,
    );
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(46);
    println!(
        "{:<width$} {:>12} {:>9} {:>5}",
        "metric", "value", "target", ""
    );
    for (metric, value, target, verdict) in &rows {
        println!("{metric:<width$} {value:>12} {target:>9} {verdict:>5}");
    }
    println!(
        "fast-insecure is the bench hashing profile, not production; server process = the \
         operation center alone (child process); bench process = clients, echo, phase 7 hashing \
         and, from phase 9, the in-process growth center; MB = 10^6 bytes"
    );

    if let Some(path) = &args.json {
        let growth_json: Vec<_> = growth
            .steps
            .iter()
            .map(|step| {
                serde_json::json!({
                    "stored_at_start": step.stored,
                    "seeded": step.seeded,
                    "seed_s": step.seed_time.as_secs_f64(),
                    "bench_process_vm_hwm_kib_after_seeding": step.hwm_after_seed_kib,
                    "bench_process_vm_hwm_kib_after_measurement": step.hwm_after_kib,
                    "settled_per_s": step.rate.rate(),
                    "settled": step.rate.ok,
                    "errors": step.rate.errors,
                    "latency": {
                        "target_per_s": step.latency.target_rate,
                        "achieved_per_s": step.latency.achieved_rate,
                        "settled": step.latency.ok,
                        "errors": step.latency.errors,
                        "p50_ms": step.latency.p50_ms,
                        "p99_ms": step.latency.p99_ms,
                        "max_ms": step.latency.max_ms,
                        "target_p99_ms_below": TARGET_P99_MS,
                        "pass": step.latency.p99_ms < TARGET_P99_MS,
                    },
                })
            })
            .collect();
        let json = serde_json::json!({
            "environment": {
                "seconds_per_phase": seconds,
                "concurrency": concurrency,
                "cores": cores,
                "growth_payments": large,
                "transport": "loopback, TLS 1.3 mutual TLS (development PKI)",
                "storage": "SQLite WAL synchronous=FULL",
                "operation_center_process": "phases 1-5 and 8: a child process (ompp-bench --serve); phase 9: the bench process",
                "cpu": "bench process plus server process (user + system)",
                "wall_time_s": wall.as_secs_f64(),
            },
            "echo": {
                "calls_per_s": echo.rate(),
                "calls": echo.ok,
                "errors": echo.errors,
            },
            "flow_a": {
                "password_hashing": "fast-insecure",
                "per_iteration": "CreatePayment + WatchPayment (merchant) + push on the device's Subscribe stream + ConfirmPayment (amount shown, password) + SETTLED seen on the merchant's watch",
                "settled_per_s": flow_rate,
                "settled": flow.ok,
                "errors": flow.errors,
                "cpu_ms_per_payment": flow.cpu_ms_per_op(),
                "server_process_cpu_ms_per_payment": flow.server_cpu_ms_per_op(),
                "target_per_s_at_least": TARGET_FLOW_A_PER_S,
                "pass": flow_rate >= TARGET_FLOW_A_PER_S,
                "public_rpcs_per_payment": PUBLIC_RPCS_PER_PAYMENT,
                "link_rpcs_per_payment": LINK_RPCS_PER_PAYMENT,
                "rpcs_per_payment": RPCS_PER_PAYMENT,
                "ratio_to_echo_bound": ratio,
                "ratio_to_echo_bound_public_rpcs_only": public_ratio,
                "target_ratio_at_least": TARGET_RATIO_TO_TRANSPORT,
                "ratio_pass": ratio >= TARGET_RATIO_TO_TRANSPORT,
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
                "target_p99_ms_below": TARGET_P99_MS,
                "pass": latency.p99_ms < TARGET_P99_MS,
            },
            "flow_b": {
                "password_hashing": "fast-insecure",
                "per_iteration": "IssuePayeeCode (dynamic, with amount) + SubmitPayeeCode, settled",
                "settled_per_s": flow_b_result.rate(),
                "settled": flow_b_result.ok,
                "cpu_ms_per_payment": flow_b_result.cpu_ms_per_op(),
                "server_process_cpu_ms_per_payment": flow_b_result.server_cpu_ms_per_op(),
                "errors": flow_b_result.errors,
                "first_error": flow_b_result.first_error,
            },
            "flow_c": {
                "password_hashing": "fast-insecure",
                "per_iteration": "OpenCheckout + SubmitPassword + SMS to handset (read, acknowledged) + SubmitAuthorizationCode + bank transfer, settled",
                "settled_per_s": flow_c_result.rate(),
                "settled": flow_c_result.ok,
                "cpu_ms_per_checkout": flow_c_result.cpu_ms_per_op(),
                "server_process_cpu_ms_per_checkout": flow_c_result.server_cpu_ms_per_op(),
                "errors": flow_c_result.errors,
                "first_error": flow_c_result.first_error,
            },
            "memory": {
                "server_peak_rss_mb": mb(server_memory.hwm_kib),
                "target_mb_below": TARGET_RSS_MB,
                "pass": mb(server_memory.hwm_kib) < TARGET_RSS_MB,
                "server_process": {
                    "phases_1_to_5": memory_json(&server_memory),
                    "phase_8_production_hashing": memory_json(&prod_server_memory),
                    "note": "the operation center alone (network and mobile server, reference bank processor, SMS center) in a child process (ompp-bench --serve); VmHWM and VmRSS read from /proc/<pid>/status just before it stops",
                },
                "bench_process": {
                    "vm_hwm_kib_after_phases_1_to_5": hwm_kib,
                    "vm_hwm_mb_after_phases_1_to_5": mb(hwm_kib),
                    "vm_hwm_kib_after_phase_8_production_hashing": prod_hwm_kib,
                    "vm_hwm_kib_whole_run": final_hwm_kib,
                    "vm_hwm_mb_whole_run": mb(final_hwm_kib),
                    "note": "the bench process: clients, the echo server (phase 1), phase 7's hashing and the in-process growth center with its seeding (phase 9); VmHWM is its peak so far",
                },
                "note": "MB = 10^6 bytes",
            },
            "storage": {
                "sqlite_bytes": storage_bytes,
                "settled_payments": settled,
                "bytes_per_settled_payment": bytes_per_payment,
                "note": "all databases (operation center, bank processor, SMS center); flows A, B and C",
            },
            "password_hashing": {
                "profile": "production (argon2id m=19456 KiB, t=2, p=1)",
                "verify_ms_median": verify_ms,
                "rounds": rounds,
                "ceiling_verifications_per_s": ceiling,
                "parallel_verifications_per_s": parallel,
                "parallel_threads": cores,
            },
            "flow_a_production": {
                "password_hashing": "production",
                "settled_per_s": prod_rate,
                "settled": prod_flow.ok,
                "cpu_ms_per_payment": prod_flow.cpu_ms_per_op(),
                "server_process_cpu_ms_per_payment": prod_flow.server_cpu_ms_per_op(),
                "errors": prod_flow.errors,
                "verifications_per_payment": VERIFICATIONS_PER_PAYMENT,
                "ceiling_per_s": payment_ceiling,
                "ratio_to_ceiling": prod_ratio,
                "ratio_to_parallel_measured": prod_rate / (parallel / VERIFICATIONS_PER_PAYMENT),
                "target_ratio_at_least": TARGET_RATIO_TO_CEILING,
                "pass": prod_ratio >= TARGET_RATIO_TO_CEILING,
            },
            "growth": {
                "password_hashing": "fast-insecure",
                "operation_center_process": "the bench process (seeded through its store)",
                "steps": growth_json,
                "rate_ratio_largest_to_smallest": flatness,
                "target_ratio_at_least": TARGET_FLATNESS,
                "pass": flatness >= TARGET_FLATNESS,
                "stored_at_end": growth.stored_at_end,
                "sqlite_bytes_at_end": growth.sqlite_bytes_at_end,
                "sqlite_bytes_per_stored_payment": growth_bytes,
            },
        });
        let text = serde_json::to_string_pretty(&json).map_err(|e| format!("JSON: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
