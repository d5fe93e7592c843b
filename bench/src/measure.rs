//! Measuring helpers: closed and open loops, percentiles, process memory, SQLite file sizes,
//! argon2id verification time.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ompp_server::passwords::{HashingProfile, PasswordHasherService};

use crate::BenchResult;
use crate::flows::PASSWORD;

/// What a closed-loop phase measured.
#[derive(Debug)]
pub(crate) struct LoopResult {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) elapsed: Duration,
    /// CPU time during the loop of the servers and the clients: the bench process plus the
    /// server process when the operation center runs in one.
    pub(crate) cpu: Duration,
    /// The server process's share of `cpu` (zero when the servers run in the bench process).
    pub(crate) server_cpu: Duration,
}

impl LoopResult {
    /// CPU milliseconds (servers and clients) per successful operation.
    pub(crate) fn cpu_ms_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.ok.max(1) as f64
    }

    /// The server process's CPU milliseconds per successful operation.
    pub(crate) fn server_cpu_ms_per_op(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1000.0 / self.ok.max(1) as f64
    }

    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Prints a progress line every second until `done` is set.
fn progress(
    label: &'static str,
    ok: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
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

/// Runs `op` in `states.len()` concurrent workers, each in a closed loop, for `seconds`; CPU
/// time counts this process and `server` (the server process's id, if the servers run in one).
pub(crate) async fn closed_loop<S, F, Fut>(
    label: &'static str,
    states: Vec<S>,
    seconds: u64,
    server: Option<u32>,
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
    let done = Arc::new(AtomicBool::new(false));
    let ticker = progress(label, ok.clone(), done.clone());
    let server_cpu = || server.map_or(Duration::ZERO, process_cpu_of);
    let cpu_before = process_cpu();
    let server_cpu_before = server_cpu();
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
    let server_cpu = server_cpu().saturating_sub(server_cpu_before);
    let result = LoopResult {
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_error,
        elapsed,
        cpu: process_cpu().saturating_sub(cpu_before) + server_cpu,
        server_cpu,
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

/// What an open-loop phase measured.
#[derive(Debug)]
pub(crate) struct Latency {
    pub(crate) target_rate: f64,
    pub(crate) achieved_rate: f64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub(crate) max_ms: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// `op` on a fixed arrival schedule of `rate` per second for `seconds`, each arrival served by
/// the next free state of `states`; latency is measured from each arrival's scheduled time (so
/// queueing for a free state counts).
pub(crate) async fn open_loop<S, F, Fut>(
    label: &'static str,
    states: Vec<S>,
    rate: f64,
    seconds: u64,
    op: F,
) -> BenchResult<Latency>
where
    S: Clone + Send + 'static,
    F: Fn(S, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = BenchResult<()>> + Send + 'static,
{
    let total = (rate * seconds as f64).floor().max(1.0) as u64;
    let interval = 1.0 / rate;
    let (pool_tx, pool_rx) = tokio::sync::mpsc::channel(states.len().max(1));
    for state in states {
        pool_tx
            .send(state)
            .await
            .map_err(|_| format!("{label}: pool closed"))?;
    }
    let pool_rx = Arc::new(tokio::sync::Mutex::new(pool_rx));
    let ok = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let ticker = progress(label, ok.clone(), done.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let at = started + Duration::from_secs_f64(n as f64 * interval);
        tokio::time::sleep_until(at.into()).await;
        let (pool_tx, pool_rx, ok, op) = (pool_tx.clone(), pool_rx.clone(), ok.clone(), op.clone());
        tasks.spawn(async move {
            let state = pool_rx
                .lock()
                .await
                .recv()
                .await
                .ok_or_else(|| format!("{label}: pool closed"))?;
            let result = op(state.clone(), n).await;
            let latency = at.elapsed();
            let _ = pool_tx.send(state).await;
            result?;
            ok.fetch_add(1, Ordering::Relaxed);
            Ok::<Duration, String>(latency)
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut errors = 0u64;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| format!("{label}: task failed: {e}"))? {
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
        println!("  [{label}] {errors} errors; first: {error}");
    }
    if latencies.is_empty() {
        return Err(format!(
            "{label}: nothing succeeded ({})",
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

/// User + system CPU time of this process so far (zero if `/proc/self/stat` is unreadable).
pub(crate) fn process_cpu() -> Duration {
    cpu_from("/proc/self/stat")
}

/// User + system CPU time of process `pid` so far (zero if its `/proc/<pid>/stat` is
/// unreadable).
pub(crate) fn process_cpu_of(pid: u32) -> Duration {
    cpu_from(&format!("/proc/{pid}/stat"))
}

/// Linux reports CPU time in USER_HZ ticks, 100 per second on every architecture it runs on.
fn cpu_from(stat_path: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which ends with the last ')'): state is field 3, utime 14,
    // stime 15.
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// Peak resident set size so far (VmHWM), KiB.
    pub(crate) hwm_kib: u64,
    /// Resident set size now (VmRSS), KiB.
    pub(crate) rss_kib: u64,
}

/// VmHWM of this process, in KiB.
pub(crate) fn vm_hwm_kib() -> BenchResult<u64> {
    status_field("/proc/self/status", "VmHWM")
}

/// VmHWM and VmRSS of process `pid`.
pub(crate) fn process_memory(pid: u32) -> BenchResult<Memory> {
    let path = format!("/proc/{pid}/status");
    Ok(Memory {
        hwm_kib: status_field(&path, "VmHWM")?,
        rss_kib: status_field(&path, "VmRSS")?,
    })
}

/// The `field:` line of a `/proc/.../status` file, in kB (KiB).
fn status_field(path: &str, field: &str) -> BenchResult<u64> {
    let status = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} line in {path}"))
}

/// The SQLite files (databases, WAL, shared memory) under `dir`, with their sizes.
pub(crate) fn sqlite_files(dir: &Path) -> BenchResult<Vec<(PathBuf, u64)>> {
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

/// Verifications per second at Production parameters with `threads` verifying at once for
/// `duration`: what the machine really sustains when every core hashes (argon2id is
/// memory-bound, so this can be below `threads / one verification's time`).
pub(crate) fn production_parallel_rate(threads: usize, duration: Duration) -> BenchResult<f64> {
    let hasher = PasswordHasherService::new(HashingProfile::Production);
    let password = ompp::types::Password::parse(PASSWORD).map_err(|v| format!("password: {v}"))?;
    let phc = hasher.hash(&password).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let counts: Vec<usize> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    while started.elapsed() < duration {
                        if hasher.verify(&password, &phc) {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).collect()
    });
    Ok(counts.iter().sum::<usize>() as f64 / started.elapsed().as_secs_f64())
}

/// Median time of one argon2id verification at Production parameters, over `rounds`.
pub(crate) fn production_verify_time(rounds: usize) -> BenchResult<Duration> {
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
