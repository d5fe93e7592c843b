//! Growth: flow A rate and latency with many payments already stored. A fresh operation center
//! gets one real flow A payment, which then serves as the template for
//! `SqliteStore::seed_settled_payments` (settled copies, each with its own ledger transfer).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ompp::money::Amount;
use ompp::types::PaymentId;
use ompp_server::clock::{Clock, SystemClock};
use ompp_server::passwords::HashingProfile;
use ompp_server::store::sqlite::SqliteStore;
use ompp_server::store::{PaymentRecord, Store};

use crate::BenchResult;
use crate::flows::{Center, flow_a};
use crate::measure::{Latency, LoopResult, closed_loop, open_loop, sqlite_files, vm_hwm_kib};

/// Copies seeded per call of `seed_settled_payments` (one progress line each).
const BATCH: u64 = 50_000;

/// One measured size.
#[derive(Debug)]
pub(crate) struct Step {
    /// Payments stored when the measurement started.
    pub(crate) stored: u64,
    /// Payments seeded before it, and how long that took.
    pub(crate) seeded: u64,
    pub(crate) seed_time: Duration,
    pub(crate) rate: LoopResult,
    pub(crate) latency: Latency,
    /// The bench process's VmHWM (KiB; the center runs in it) after seeding, and after the
    /// measurement.
    pub(crate) hwm_after_seed_kib: u64,
    pub(crate) hwm_after_kib: u64,
}

/// All sizes, and the store's size at the end.
#[derive(Debug)]
pub(crate) struct Growth {
    pub(crate) steps: Vec<Step>,
    pub(crate) stored_at_end: u64,
    pub(crate) sqlite_bytes_at_end: u64,
}

/// Seeds `count` settled copies of `template`, topping the payer up by what they move first.
async fn seed(
    store: &Arc<SqliteStore>,
    template: &PaymentRecord,
    count: u64,
    tag: &str,
) -> BenchResult<Duration> {
    let started = Instant::now();
    if count == 0 {
        return Ok(started.elapsed());
    }
    let payer = template
        .customer_id
        .clone()
        .ok_or("template payment without a payer")?;
    let units = i64::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(template.amount.minor_units()))
        .ok_or("seeding: amount overflows")?;
    let top_up = Amount::from_minor_units(template.amount.currency(), units)
        .map_err(|v| format!("seeding top-up amount: {v}"))?;
    store
        .top_up(
            &payer,
            top_up,
            &format!("bench-seed-topup-{tag}"),
            SystemClock.now(),
        )
        .map_err(|e| format!("seeding top-up: {e}"))?;
    let mut done = 0;
    let mut batch = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut copy = template.clone();
        copy.payment_id = PaymentId::parse(&format!("{}-{tag}{batch}", template.payment_id))
            .map_err(|v| format!("seed template id: {v}"))?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.seed_settled_payments(&copy, n))
            .await
            .map_err(|e| format!("seeding task: {e}"))?
            .map_err(|e| format!("seeding: {e}"))?;
        done += n;
        batch += 1;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  [seed] {done:>8} / {count}  {secs:>6.1}s  {:>7.0} payments/s",
            done as f64 / secs
        );
    }
    Ok(started.elapsed())
}

/// Measures flow A at `sizes` stored payments (ascending), in one fresh operation center that
/// runs in this process (the seeding goes through its store), so the VmHWM figures here are
/// the bench process's: servers, clients and seeding.
pub(crate) async fn run(
    dir: &Path,
    sizes: &[u64],
    seconds: u64,
    concurrency: usize,
) -> BenchResult<Growth> {
    let center = Arc::new(Center::start(dir, HashingProfile::FastInsecure, 0).await?);
    let tills = center.tills(concurrency, "+49153").await?;
    let template_id = flow_a(tills[0].clone(), "bench-growth-template".into()).await?;
    let id = PaymentId::parse(&template_id).map_err(|v| format!("template id: {v}"))?;
    let template = center
        .store()?
        .payment(&id)
        .map_err(|e| format!("template: {e}"))?
        .ok_or("template payment not found")?;
    let mut stored = 1u64;
    let mut steps = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        let seeded = size.saturating_sub(stored);
        println!("  seeding {seeded} settled payments (to {size} stored)");
        let seed_time = seed(center.store()?, &template, seeded, &format!("g{k}b")).await?;
        stored += seeded;
        let hwm_after_seed_kib = vm_hwm_kib()?;
        println!(
            "  seeded in {:.1} s (bench process VmHWM now {:.1} MB); measuring flow A with {stored} payments stored",
            seed_time.as_secs_f64(),
            hwm_after_seed_kib as f64 * 1024.0 / 1e6
        );
        let rate = closed_loop(
            "growth A",
            tills.clone(),
            seconds,
            None,
            move |till, n| async move {
                let key = format!("bench-growth-{k}-{}-{n}", till.worker);
                flow_a(till, key).await.map(|_| ())
            },
        )
        .await?;
        let target = rate.rate() / 2.0;
        println!(
            "  flow A {:.1}/s; latency at {target:.1}/s, open loop",
            rate.rate()
        );
        let latency = open_loop(
            "growth latency",
            tills.clone(),
            target,
            seconds,
            move |till, n| async move {
                flow_a(till, format!("bench-growth-lat-{k}-{n}"))
                    .await
                    .map(|_| ())
            },
        )
        .await?;
        println!(
            "  p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            latency.p50_ms, latency.p99_ms, latency.max_ms
        );
        let hwm_after_kib = vm_hwm_kib()?;
        println!(
            "  bench process VmHWM now {:.1} MB",
            hwm_after_kib as f64 * 1024.0 / 1e6
        );
        let step = Step {
            stored,
            seeded,
            seed_time,
            rate,
            latency,
            hwm_after_seed_kib,
            hwm_after_kib,
        };
        stored += step.rate.ok + step.latency.ok;
        steps.push(step);
    }
    drop(tills);
    match Arc::try_unwrap(center) {
        Ok(center) => center.stop().await?,
        Err(_) => return Err("growth: operation center still in use".into()),
    }
    let sqlite_bytes_at_end = sqlite_files(dir)?.iter().map(|(_, len)| len).sum();
    Ok(Growth {
        steps,
        stored_at_end: stored,
        sqlite_bytes_at_end,
    })
}
