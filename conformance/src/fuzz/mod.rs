//! Live-target fuzz mode: `ompp-conformance fuzz`.
//!
//! Layout: `codec` sends any bytes to any method, `mutate` makes the inputs, `seeds`
//! provisions fixtures and the valid requests mutated from them, `oracle` judges answers,
//! `conservation` checks money and health; this module runs the loop and writes the report.
//!
//! The fuzzer sends mutated protobuf encodings (and some purely random byte strings) to every
//! unary public method of an operation center, over the suite's real mutual-TLS channels: the
//! merchant certificate for `MerchantPaymentService`, a paired device's certificate for
//! `DeviceService`, no client certificate for `RegistrationService` and `GatewayService`. The
//! bytes go out through a raw codec ([`RawCodec`]), so anything can be sent to any method path.
//!
//! # Inputs
//!
//! For every method the fuzzer builds a few valid requests from fixtures it provisions through
//! the system's own RPCs (customers with topped-up wallets, pending payments, an issued payee
//! code, an open checkout), encodes them with prost and mutates them with a seeded RNG
//! ([`Mutator`]): bit flips, byte insertion and deletion, truncation, a duplicated field,
//! splices of two seeds, random varint fields, over-long lengths, unknown field numbers,
//! mutations inside nested messages, and repeated fields grown to 70-100 KiB (beyond the
//! 64 KiB limit of OMPP-MSG-010). Methods are visited round-robin. The fixtures and seeds are
//! rebuilt at every periodic check, so that fresh pending payments keep being reachable.
//!
//! # Oracle
//!
//! Every call has a 10 s deadline. An OK answer passes. An error passes only when it is a
//! well-formed OMPP status ([`ProtocolError::from_status`]: the `ompp.v1` domain, a catalogued
//! reason, the catalogue's gRPC code). Anything else is a failure: a status without `ErrorInfo`
//! (including whatever the gRPC library answers by itself), a wrong code, a transport error, a
//! timeout. A request larger than 64 KiB on the wire must be rejected with `MESSAGE_TOO_LARGE`
//! (OMPP-MSG-010), whatever else is wrong with it. Each failure is classed by method, kind and
//! whether the bytes sent were a valid encoding of the request message (decided by the suite
//! from the bytes, never from the status message); the first [`EXAMPLES`] inputs of each class
//! are saved. After a transport error or a timeout the channel is rebuilt. Calls go out in
//! batches of `concurrency`; the inputs depend only on the seed and the fixtures' ids.
//!
//! Every `check_every` executions and at the end the fuzzer checks that the health service
//! reports every service `SERVING`, and that money is conserved:
//!
//! ```text
//! sum(suite wallets) + suite merchant balance
//!     == starting sum
//!      + top-ups answered OK (counted once per transfer id, amount from the answer)
//!      + flow C checkouts the gateway answered SUCCEEDED (money from a bank account)
//!      - flow B payments answered OK to a merchant other than the suite's
//! ```
//!
//! per currency. Payments between the suite's customers and the suite's merchant keep the
//! sum. Customers the fuzzer creates through `RegisterCustomer` are not in the sum: they start
//! empty and have no device the fuzzer can use, so they can neither pay nor be paid. Only the
//! suite's merchant creates payments addressed to the suite's customers (their ids are not
//! known elsewhere), so a `ConfirmPayment` can only pay the suite's merchant. Against a vendor
//! system the suite's merchant must therefore not be used by anyone else during the run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ompp::error::catalogue::wire_name;
use ompp::error::{NotAnOmppStatus, ProtocolError};
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::case::Checks;
use crate::target::{CURRENCY, Credential, Customer, InProcess, PASSWORD, Target, money};

/// The deadline of every fuzzed call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of executions between two health and conservation checks.
pub const CHECK_EVERY: u64 = 200;

/// Largest input the mutator produces.
const MAX_INPUT: usize = 110 * 1024;

/// How many customers the fuzzer owns, and what each is topped up with.
const CUSTOMERS: usize = 3;
const START_TOP_UP: i64 = 100_000;

/// The service a method belongs to, which decides the channel it is sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// `MerchantPaymentService`, with the merchant certificate.
    Merchant,
    /// `RegistrationService`, without a client certificate.
    Registration,
    /// `DeviceService` on the mobile endpoint, with a paired device's certificate.
    Device,
    /// `GatewayService`, without a client certificate.
    Gateway,
}

impl Service {
    /// The fully qualified gRPC service name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Merchant => "ompp.v1.MerchantPaymentService",
            Self::Registration => "ompp.v1.RegistrationService",
            Self::Device => "ompp.v1.DeviceService",
            Self::Gateway => "ompp.v1.GatewayService",
        }
    }
}

/// A unary method the fuzzer targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Method {
    /// Its service.
    pub service: Service,
    /// Its name, e.g. `CreatePayment`.
    pub name: &'static str,
}

impl Method {
    /// The gRPC path, e.g. `/ompp.v1.MerchantPaymentService/CreatePayment`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service.name(), self.name)
    }

    /// The method whose path is `path`.
    pub fn from_path(path: &str) -> Option<Self> {
        METHODS.iter().copied().find(|m| m.path() == path)
    }
}

const fn method(service: Service, name: &'static str) -> Method {
    Method { service, name }
}

/// Every unary public method of an operation center.
pub const METHODS: &[Method] = &[
    method(Service::Merchant, "CreatePayment"),
    method(Service::Merchant, "GetPayment"),
    method(Service::Merchant, "CancelPayment"),
    method(Service::Merchant, "GetReceipt"),
    method(Service::Merchant, "IssuePayeeCode"),
    method(Service::Merchant, "OpenCheckout"),
    method(Service::Merchant, "GetMerchantBalance"),
    method(Service::Registration, "RegisterMerchant"),
    method(Service::Registration, "RegisterCustomer"),
    method(Service::Registration, "PairDevice"),
    method(Service::Device, "ConfirmPayment"),
    method(Service::Device, "DeclinePayment"),
    method(Service::Device, "PreviewPayeeCode"),
    method(Service::Device, "SubmitPayeeCode"),
    method(Service::Device, "GetWalletBalance"),
    method(Service::Device, "ListWalletHistory"),
    method(Service::Device, "TopUpWallet"),
    method(Service::Gateway, "GetCheckoutStatus"),
    method(Service::Gateway, "SubmitPassword"),
    method(Service::Gateway, "SubmitAuthorizationCode"),
];

mod codec;
mod conservation;
mod mutate;
mod oracle;
mod seeds;

pub use codec::*;
use conservation::*;
pub use mutate::*;
pub use oracle::*;
use seeds::*;

/// How to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The vendor manifest; without it the in-process reference is fuzzed.
    pub manifest: Option<PathBuf>,
    /// How long to fuzz.
    pub duration: Duration,
    /// The RNG seed.
    pub seed: u64,
    /// Where failing inputs are written.
    pub out: PathBuf,
    /// Executions between two health and conservation checks (rounded up to whole batches).
    pub check_every: u64,
    /// How many calls are in flight at once (one batch; the inputs do not depend on it).
    pub concurrency: usize,
    /// Print progress to stderr every second.
    pub progress: bool,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        Self {
            manifest: None,
            duration: Duration::from_secs(60),
            seed: 0,
            out: PathBuf::from("fuzz-findings"),
            check_every: CHECK_EVERY,
            concurrency: 8,
            progress: false,
        }
    }
}

/// One failure worth showing: the first few of each kind per method, and every failed check.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The method path, or `health`/`conservation` for a periodic check.
    pub method: String,
    /// The kind of failure (the key of [`FuzzReport::failure_classes`]).
    pub class: String,
    /// Why it failed.
    pub why: String,
    /// The saved input, when there is one.
    pub input: Option<PathBuf>,
}

/// What a fuzz run found.
#[derive(Debug, Clone, Default)]
pub struct FuzzReport {
    /// Executions performed.
    pub executions: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Executions per method path.
    pub per_method: BTreeMap<String, u64>,
    /// Total time spent waiting for answers, per method path.
    pub latency: BTreeMap<String, Duration>,
    /// Answers seen: `OK`, `<code> <REASON>`, or `FAILURE <class>` for a status that is not a
    /// valid OMPP error, with counts (the size rule of OMPP-MSG-010 is only in the failures).
    pub statuses: BTreeMap<String, u64>,
    /// How many executions and checks failed.
    pub failures: u64,
    /// Failures by kind: `<method path>: <class>; <whether the input was a valid encoding of
    /// the request message>`.
    pub failure_classes: BTreeMap<String, u64>,
    /// Examples (at most [`EXAMPLES`] per class) and every failed check.
    pub findings: Vec<Finding>,
    /// Conservation checks performed.
    pub conservation_checks: u64,
    /// Health checks performed.
    pub health_checks: u64,
    /// Reconnections after a broken channel.
    pub reconnects: u64,
    /// The seed used.
    pub seed: u64,
}

/// How many failing inputs of one class are saved.
pub const EXAMPLES: usize = 3;

impl FuzzReport {
    /// The summary printed at the end of a run.
    pub fn summary(&self, out: &Path) -> String {
        let mut text = String::new();
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let _ = writeln!(
            text,
            "fuzz: {} executions in {:.1} s ({:.0} exec/s), seed {}, {} failures, {} health checks, {} conservation checks, {} reconnects",
            self.executions,
            secs,
            self.executions as f64 / secs,
            self.seed,
            self.failures,
            self.health_checks,
            self.conservation_checks,
            self.reconnects
        );
        let _ = writeln!(text, "per method:");
        for (method, count) in &self.per_method {
            let total = self.latency.get(method).copied().unwrap_or_default();
            let mean = total.as_secs_f64() * 1000.0 / (*count).max(1) as f64;
            let _ = writeln!(text, "  {count:>8}  {method}  (mean {mean:.1} ms)");
        }
        let _ = writeln!(text, "answers (gRPC code, OMPP reason):");
        for (status, count) in &self.statuses {
            let _ = writeln!(text, "  {count:>8}  {status}");
        }
        if self.failures > 0 {
            let _ = writeln!(text, "failures by kind:");
            for (class, count) in &self.failure_classes {
                let _ = writeln!(text, "  {count:>8}  {class}");
            }
            let _ = writeln!(text, "examples:");
            for finding in &self.findings {
                let _ = writeln!(
                    text,
                    "  {} {}\n      {}",
                    finding.method,
                    finding
                        .input
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    finding.why
                );
            }
            let _ = writeln!(
                text,
                "replay one with: ompp-conformance fuzz --replay {}/<file>.bin --method <path> [--manifest vendor.toml]",
                out.display()
            );
        }
        text
    }
}

async fn target_for(manifest: Option<&Path>) -> Result<(Option<InProcess>, Target), String> {
    match manifest {
        Some(path) => {
            let manifest = crate::runner::load_manifest(path).map_err(|e| e.to_string())?;
            let base = path.parent().unwrap_or(Path::new("."));
            Ok((None, Target::from_manifest(&manifest, base).await?))
        }
        None => {
            let (running, target) = InProcess::start().await?;
            Ok((Some(running), target))
        }
    }
}

/// Fuzzes the system the options describe (or the in-process reference) and reports.
pub async fn run(options: &FuzzOptions) -> Result<FuzzReport, String> {
    let (running, target) = target_for(options.manifest.as_deref()).await?;
    let result = fuzz(options, &target).await;
    if let Some(running) = running {
        running.stop().await;
    }
    result
}

/// Whether `bytes` is a valid encoding of `method`'s request message.
pub fn decodes(method: &Method, bytes: &[u8]) -> bool {
    fn ok<M: Message + Default>(bytes: &[u8]) -> bool {
        M::decode(bytes).is_ok()
    }
    match method.name {
        "CreatePayment" => ok::<pb::CreatePaymentRequest>(bytes),
        "GetPayment" => ok::<pb::GetPaymentRequest>(bytes),
        "CancelPayment" => ok::<pb::CancelPaymentRequest>(bytes),
        "GetReceipt" => ok::<pb::GetReceiptRequest>(bytes),
        "IssuePayeeCode" => ok::<pb::IssuePayeeCodeRequest>(bytes),
        "OpenCheckout" => ok::<pb::OpenCheckoutRequest>(bytes),
        "GetMerchantBalance" => ok::<pb::GetMerchantBalanceRequest>(bytes),
        "RegisterMerchant" => ok::<pb::RegisterMerchantRequest>(bytes),
        "RegisterCustomer" => ok::<pb::RegisterCustomerRequest>(bytes),
        "PairDevice" => ok::<pb::PairDeviceRequest>(bytes),
        "ConfirmPayment" => ok::<pb::ConfirmPaymentRequest>(bytes),
        "DeclinePayment" => ok::<pb::DeclinePaymentRequest>(bytes),
        "PreviewPayeeCode" => ok::<pb::PreviewPayeeCodeRequest>(bytes),
        "SubmitPayeeCode" => ok::<pb::SubmitPayeeCodeRequest>(bytes),
        "GetWalletBalance" => ok::<pb::GetWalletBalanceRequest>(bytes),
        "ListWalletHistory" => ok::<pb::ListWalletHistoryRequest>(bytes),
        "TopUpWallet" => ok::<pb::TopUpWalletRequest>(bytes),
        "GetCheckoutStatus" => ok::<pb::GetCheckoutStatusRequest>(bytes),
        "SubmitPassword" => ok::<pb::SubmitPasswordRequest>(bytes),
        "SubmitAuthorizationCode" => ok::<pb::SubmitAuthorizationCodeRequest>(bytes),
        _ => false,
    }
}

/// The suffix of a failure class that says whether the input was a valid request encoding.
pub const UNDECODABLE: &str = "input is not a valid encoding of the request message";
/// See [`UNDECODABLE`].
pub const DECODABLE: &str = "input is a valid encoding of the request message";

/// The state of one run.
struct Run<'a> {
    options: &'a FuzzOptions,
    report: FuzzReport,
    ledger: Ledger,
    examples: BTreeMap<String, usize>,
}

impl Run<'_> {
    fn fail(&mut self, method: &str, class: &str, why: String, input: Option<&[u8]>) {
        let key = format!("{method}: {class}");
        self.report.failures += 1;
        *self.report.failure_classes.entry(key.clone()).or_insert(0) += 1;
        let shown = self.examples.entry(key).or_insert(0);
        if input.is_some() && *shown >= EXAMPLES {
            return;
        }
        *shown += 1;
        let mut path = None;
        if let Some(input) = input {
            let name = method.rsplit('/').next().unwrap_or("input").to_owned();
            let n = self.report.failures;
            let bin = self.options.out.join(format!("{name}-{n}.bin"));
            let txt = self.options.out.join(format!("{name}-{n}.txt"));
            let note = format!(
                "method: {method}\nclass: {class}\nverdict: {why}\nseed: {}\nreplay: ompp-conformance fuzz --replay {} --method {method}\n",
                self.options.seed,
                bin.display()
            );
            let written = std::fs::create_dir_all(&self.options.out)
                .and_then(|()| std::fs::write(&bin, input))
                .and_then(|()| std::fs::write(&txt, note));
            if written.is_ok() {
                path = Some(bin);
            }
        }
        self.report.findings.push(Finding {
            method: method.to_owned(),
            class: class.to_owned(),
            why,
            input: path,
        });
    }

    async fn check(&mut self, target: &Target, fixtures: &mut Fixtures) {
        self.report.health_checks += 1;
        if let Err(why) = health(target, fixtures.customers.first().map(|c| &c.credential)).await {
            self.fail("health", "not SERVING", why, None);
        }
        self.report.conservation_checks += 1;
        match balances(target, fixtures).await {
            Err(why) => self.fail("conservation", "balances unreadable", why, None),
            Ok(actual) => {
                let expected = self.ledger.expected();
                if actual != expected {
                    self.fail(
                        "conservation",
                        "money not conserved",
                        format!(
                            "suite balances {actual:?}, expected {expected:?} (start {:?} + observed {:?}) after {} executions",
                            self.ledger.start, self.ledger.delta, self.report.executions
                        ),
                        None,
                    );
                    // Report a leak once, then follow the system's books.
                    self.ledger.start = actual;
                    self.ledger.delta.clear();
                }
            }
        }
    }
}

/// One planned execution.
struct Planned {
    method: Method,
    customer: usize,
    input: Vec<u8>,
}

async fn fuzz(options: &FuzzOptions, target: &Target) -> Result<FuzzReport, String> {
    let mut fixtures = provision(target).await?;
    let mut channels = Channels::open(target, &fixtures.customers).await?;
    let mut run = Run {
        options,
        report: FuzzReport {
            seed: options.seed,
            ..FuzzReport::default()
        },
        ledger: Ledger::default(),
        examples: BTreeMap::new(),
    };
    run.ledger.start = balances(target, &mut fixtures).await?;
    let mut mutator = Mutator::new(options.seed);
    let build = |fixtures: &Fixtures, n: u64| -> Vec<Vec<Seed>> {
        METHODS
            .iter()
            .map(|m| seeds(target, fixtures, m, n))
            .collect()
    };
    let mut corpus = build(&fixtures, 0);
    let mut all: Vec<Vec<u8>> = corpus.iter().flatten().map(|s| s.bytes.clone()).collect();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let every = options.check_every.max(1);
    let batch = options.concurrency.max(1);
    let mut next = 0usize;
    let mut since_check = 0u64;
    while started.elapsed() < options.duration {
        let mut planned = Vec::with_capacity(batch);
        for _ in 0..batch {
            let index = next % METHODS.len();
            next += 1;
            let method = METHODS[index];
            let seeds = &corpus[index];
            let customer = if seeds.is_empty() {
                mutator.below(fixtures.customers.len())
            } else {
                seeds[mutator.below(seeds.len())].customer
            };
            let same_customer: Vec<Vec<u8>> = seeds
                .iter()
                .filter(|s| s.customer == customer || method.service != Service::Device)
                .map(|s| s.bytes.clone())
                .collect();
            let input = mutator.input(&same_customer, &all);
            planned.push(Planned {
                method,
                customer,
                input,
            });
        }
        let mut calls = tokio::task::JoinSet::new();
        for (i, p) in planned.iter().enumerate() {
            let Some(channel) = channels.for_method(p.method.service, p.customer) else {
                return Err(format!("no channel for {}", p.method.path()));
            };
            let path = p.method.path();
            let input = p.input.clone();
            calls.spawn(async move {
                let sent = Instant::now();
                let outcome = call(channel, &path, input).await;
                (i, outcome, sent.elapsed())
            });
        }
        let mut outcomes: Vec<Option<(Outcome, Duration)>> = planned.iter().map(|_| None).collect();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok((i, outcome, took)) => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some((outcome, took));
                    }
                }
                Err(error) => return Err(format!("a call task failed: {error}")),
            }
        }
        for (p, outcome) in planned.iter().zip(outcomes) {
            let (outcome, took) =
                outcome.unwrap_or((Outcome::Transport("no outcome".into()), Duration::ZERO));
            let path = p.method.path();
            *run.report.latency.entry(path.clone()).or_default() += took;
            let verdict = judge_input(&p.input, &outcome);
            run.report.executions += 1;
            *run.report.per_method.entry(path.clone()).or_insert(0) += 1;
            *run.report
                .statuses
                .entry(judge(&outcome).key())
                .or_insert(0) += 1;
            if let Outcome::Ok(response) = &outcome {
                run.ledger
                    .observe(&p.method, &p.input, response, &target.merchant_id);
            }
            if let Verdict::Failure { class, why } = verdict {
                let decodable = if decodes(&p.method, &p.input) {
                    DECODABLE
                } else {
                    UNDECODABLE
                };
                run.fail(&path, &format!("{class}; {decodable}"), why, Some(&p.input));
            }
            if broken(&outcome) {
                run.report.reconnects += 1;
                if let Err(why) = channels
                    .reconnect(target, &fixtures.customers, p.method.service, p.customer)
                    .await
                {
                    run.fail(p.method.service.name(), "reconnect failed", why, None);
                }
            }
        }
        since_check += planned.len() as u64;
        if since_check >= every {
            since_check = 0;
            run.check(target, &mut fixtures).await;
            refresh(target, &mut fixtures).await;
            corpus = build(&fixtures, run.report.executions);
            all = corpus.iter().flatten().map(|s| s.bytes.clone()).collect();
        }
        if options.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "fuzz: {:>8} executions  {:>6.0} exec/s  {} failures  {:>4.0} s",
                run.report.executions,
                run.report.executions as f64 / secs,
                run.report.failures,
                secs
            );
        }
    }
    run.check(target, &mut fixtures).await;
    run.report.elapsed = started.elapsed();
    Ok(run.report)
}

/// Sends `input` to `path` once on the right channel (provisioning a customer for
/// `DeviceService`) and judges the answer.
pub async fn replay(
    manifest: Option<&Path>,
    path: &str,
    input: Vec<u8>,
) -> Result<(Verdict, String), String> {
    let method = Method::from_path(path).ok_or_else(|| format!("unknown method path {path}"))?;
    let (running, target) = target_for(manifest).await?;
    let result = async {
        let channel = match method.service {
            Service::Merchant => {
                connect(&target, &target.network_url, Some(&target.merchant)).await?
            }
            Service::Registration | Service::Gateway => {
                connect(&target, &target.network_url, None).await?
            }
            Service::Device => {
                let checks = Checks::new("OMPP-CONF-001");
                let customer = target
                    .customer(&checks, START_TOP_UP)
                    .await
                    .map_err(|_| "provisioning a customer".to_owned())?;
                connect(&target, &target.mobile_url, Some(&customer.credential)).await?
            }
        };
        let input_len_probe = input.clone();
        let outcome = call(channel, path, input).await;
        let shown = match &outcome {
            Outcome::Ok(body) => format!("OK, {} bytes", body.len()),
            Outcome::Status(status) => format!("{status:?}"),
            Outcome::Transport(error) => format!("transport error: {error}"),
            Outcome::Timeout => "timeout".into(),
        };
        Ok((judge_input(&input_len_probe, &outcome), shown))
    }
    .await;
    if let Some(running) = running {
        running.stop().await;
    }
    result
}

/// Reads `60s`, `2m`, `500ms`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (try 60s, 2m, 500ms)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(number)),
        "ms" => Ok(Duration::from_millis(number)),
        "m" | "min" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        _ => Err(format!("not a duration: {text:?} (try 60s, 2m, 500ms)")),
    }
}

/// The `fuzz` subcommand: fuzzes (or, with `replay`, sends one saved input to the method
/// path) and prints the summary. Exit status: 0 no failure, 1 failures, 2 could not run.
pub fn command(options: &FuzzOptions, replay_input: Option<(&Path, &str)>) -> ExitCode {
    let runtime = match crate::runner::runtime() {
        Ok(runtime) => runtime,
        Err(status) => return status,
    };
    if let Some((file, path)) = replay_input {
        let input = match std::fs::read(file) {
            Ok(input) => input,
            Err(error) => {
                eprintln!("ompp-conformance: {}: {error}", file.display());
                return ExitCode::from(2);
            }
        };
        return match runtime.block_on(replay(options.manifest.as_deref(), path, input)) {
            Err(error) => {
                eprintln!("ompp-conformance: replay not performed: {error}");
                ExitCode::from(2)
            }
            Ok((verdict, shown)) => {
                println!("{path}: {shown}");
                match verdict {
                    Verdict::Failure { why, .. } => {
                        println!("FAILURE: {why}");
                        ExitCode::from(1)
                    }
                    other => {
                        println!("pass: {}", other.key());
                        ExitCode::SUCCESS
                    }
                }
            }
        };
    }
    match runtime.block_on(run(options)) {
        Err(error) => {
            eprintln!("ompp-conformance: fuzz run not performed: {error}");
            ExitCode::from(2)
        }
        Ok(report) => {
            print!("{}", report.summary(&options.out));
            if report.failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ompp::proto::v1::ErrorReason;

    #[test]
    fn a_status_without_error_info_is_a_failure() {
        let verdict = judge_status(&tonic::Status::internal("failed to decode"));
        assert!(verdict.is_failure(), "{verdict:?}");
        let verdict = judge(&Outcome::Status(tonic::Status::unknown("boom")));
        assert!(verdict.is_failure(), "{verdict:?}");
        assert!(judge(&Outcome::Timeout).is_failure());
        assert!(judge(&Outcome::Transport("reset".into())).is_failure());
    }

    #[test]
    fn a_well_formed_ompp_status_is_not_a_failure() {
        let reason = ErrorReason::NotFound;
        let status = ProtocolError::new(reason, "no such payment").to_status();
        let verdict = judge_status(&status);
        assert_eq!(
            verdict,
            Verdict::Rejected {
                code: status.code(),
                reason: wire_name(reason),
            }
        );
        assert_eq!(judge(&Outcome::Ok(vec![])), Verdict::Ok);
    }

    #[test]
    fn a_wrong_code_is_a_failure() {
        let good = ProtocolError::new(ErrorReason::NotFound, "x").to_status();
        let bad =
            tonic::Status::with_details(tonic::Code::Internal, "x", good.details().to_vec().into());
        assert!(judge_status(&bad).is_failure());
    }

    #[test]
    fn an_oversized_request_must_be_rejected_as_too_large() {
        let big = vec![0u8; ompp::limits::MAX_REQUEST_BYTES + 1];
        assert!(judge_input(&big, &Outcome::Ok(vec![])).is_failure());
        let other = ProtocolError::new(ErrorReason::InvalidField, "x").to_status();
        assert!(judge_input(&big, &Outcome::Status(other.clone())).is_failure());
        assert!(!judge_input(&[1], &Outcome::Status(other)).is_failure());
        let too_large = ProtocolError::new(ErrorReason::MessageTooLarge, "x").to_status();
        assert!(!judge_input(&big, &Outcome::Status(too_large)).is_failure());
    }

    #[test]
    fn the_mutator_is_deterministic_for_a_seed() {
        let seeds = vec![
            encode(&pb::CreatePaymentRequest {
                merchant_id: "m1".into(),
                customer_id: "c1".into(),
                amount: Some(money(5)),
                ..Default::default()
            }),
            encode(&pb::TopUpWalletRequest {
                amount: Some(money(500)),
                password: PASSWORD.into(),
                idempotency_key: "k".into(),
            }),
        ];
        let produce = |seed| {
            let mut mutator = Mutator::new(seed);
            (0..500)
                .map(|_| mutator.input(&seeds, &seeds))
                .collect::<Vec<_>>()
        };
        let a = produce(7);
        assert_eq!(a, produce(7));
        assert_ne!(a, produce(8));
        assert!(a.iter().any(|i| i.len() > 64 * 1024), "no oversized input");
        assert!(a.iter().all(|i| i.len() <= MAX_INPUT));
        assert!(a.iter().any(|i| !seeds.contains(i)));
    }

    #[test]
    fn field_parsing_round_trips_a_valid_encoding() {
        let bytes = encode(&pb::ConfirmPaymentRequest {
            payment_id: "p".into(),
            amount: Some(money(125)),
            password: "pw".into(),
        });
        let fields = parse_fields(&bytes).unwrap_or_default();
        assert_eq!(
            fields.iter().map(|f| f.number).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(fields.last().map(|f| f.end), Some(bytes.len()));
    }

    #[test]
    fn every_method_path_is_known() {
        for method in METHODS {
            assert_eq!(Method::from_path(&method.path()), Some(*method));
        }
        assert_eq!(METHODS.len(), 20);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
    }
}
