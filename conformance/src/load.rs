//! Load for the secure-link rate limit (OMPP-LINK-005), bounded as OMPP-CONF-010 demands, and
//! the judgement of what came back.
//!
//! [`drive`] sends requests from many tasks at once until one of its [`LoadBounds`] is reached:
//! a number of requests, a time, or enough `LINK_RATE_LIMITED` answers to have seen the bucket
//! empty. It tallies the answers and the instants of the first and last sends and answers.
//! [`judge`] then decides from the tally alone, with the bucket of OMPP-LINK-005
//! (`LINK_RATE_BURST` tokens, refilled at `LINK_RATE_PER_SEC`, starting full):
//!
//! - every request reaches the receiver between the first send and the last answer, so it
//!   cannot have found more than `burst + rate x (last answer - first send)` tokens: more
//!   requests served than that means the bucket does not limit;
//! - the first answer left after the first request was decided, and the last request was sent
//!   before its own decision, so the bucket refilled for at least `last send - first answer`
//!   while the load kept it below capacity: fewer requests served than
//!   `burst + rate x (last send - first answer)` means some request was refused while a token
//!   remained;
//! - when no request was refused and the first bound was not exceeded, the suite did not send
//!   fast enough to empty the bucket, and the case cannot decide (verdict `error`).
//!
//! Both bounds allow [`TOLERANCE`] for clock and refill granularity.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ompp::limits::{LINK_RATE_BURST, LINK_RATE_PER_SEC};
use tokio::sync::Mutex;
use tokio::task::JoinSet;

/// The bounds of one load (OMPP-CONF-010).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBounds {
    /// Requests sent at most.
    pub max_requests: u64,
    /// No request is sent after this long from the start.
    pub max_duration: Duration,
    /// Sending stops once this many requests were refused for rate.
    pub stop_after_limited: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
}

/// The rate-limit case's bounds: at most 100,000 requests in at most 20 s, stopping after 2,000
/// refusals. Emptying a full bucket takes `LINK_RATE_BURST / (r - LINK_RATE_PER_SEC)` seconds
/// at `r` requests per second: 2 s at 10,000 per second, 20 s at 5,500.
pub const RATE_LIMIT_LOAD: LoadBounds = LoadBounds {
    max_requests: 100_000,
    max_duration: Duration::from_secs(20),
    stop_after_limited: 2_000,
    concurrency: 256,
};

/// Slack on both bounds of [`judge`]: 1 % of the expected count plus 100 requests (20 ms of
/// refill), for clocks that run slightly apart and buckets refilled in steps.
pub const TOLERANCE: (f64, f64) = (0.01, 100.0);

/// How the system answered one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The answer a request that found a token gets.
    Served,
    /// `RESOURCE_EXHAUSTED` with `LINK_RATE_LIMITED`.
    RateLimited,
    /// Anything else (another error, no OMPP answer at all), described.
    Other(String),
}

/// What one load sent and got back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// Answered [`Answer::Served`].
    pub served: u64,
    /// Answered [`Answer::RateLimited`].
    pub limited: u64,
    /// [`Answer::Other`].
    pub other: u64,
    /// The first [`Answer::Other`] description.
    pub first_other: Option<String>,
    /// From the start of the load to the first send, the last send, the first answer and the
    /// last answer.
    pub first_send: Duration,
    /// See `first_send`.
    pub last_send: Duration,
    /// See `first_send`.
    pub first_answer: Duration,
    /// See `first_send`.
    pub last_answer: Duration,
}

impl Tally {
    /// Requests per second over the whole load (first send to last answer).
    pub fn rate(&self) -> f64 {
        let span = self
            .last_answer
            .saturating_sub(self.first_send)
            .as_secs_f64();
        if span > 0.0 {
            self.sent as f64 / span
        } else {
            0.0
        }
    }
}

/// Sends `send(n)` for n = 0, 1, ... from `bounds.concurrency` tasks until a bound is reached,
/// waits for every answer, and tallies them. `send` is only called `bounds.max_requests` times
/// at most, and never after `bounds.max_duration` (OMPP-CONF-010).
pub async fn drive<F, Fut>(bounds: LoadBounds, send: F) -> Tally
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let start = Instant::now();
    let shared = Arc::new(Shared {
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        limited: AtomicU64::new(0),
        first_send: AtomicU64::new(u64::MAX),
        last_send: AtomicU64::new(0),
        first_answer: AtomicU64::new(u64::MAX),
        last_answer: AtomicU64::new(0),
        tally: Mutex::new(Tally::default()),
    });
    let send = Arc::new(send);
    let mut workers = JoinSet::new();
    for _ in 0..bounds.concurrency.max(1) {
        let (shared, send) = (shared.clone(), send.clone());
        workers.spawn(async move {
            let mut local = Tally::default();
            loop {
                if shared.stop.load(Ordering::Relaxed) || start.elapsed() >= bounds.max_duration {
                    break;
                }
                let n = shared.next.fetch_add(1, Ordering::Relaxed);
                if n >= bounds.max_requests {
                    break;
                }
                let sent_at = nanos(start);
                shared.first_send.fetch_min(sent_at, Ordering::Relaxed);
                shared.last_send.fetch_max(sent_at, Ordering::Relaxed);
                local.sent += 1;
                let answer = send(n).await;
                let answered_at = nanos(start);
                shared
                    .first_answer
                    .fetch_min(answered_at, Ordering::Relaxed);
                shared.last_answer.fetch_max(answered_at, Ordering::Relaxed);
                match answer {
                    Answer::Served => local.served += 1,
                    Answer::RateLimited => {
                        local.limited += 1;
                        let limited = shared.limited.fetch_add(1, Ordering::Relaxed) + 1;
                        if limited >= bounds.stop_after_limited {
                            shared.stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Answer::Other(why) => {
                        local.other += 1;
                        local.first_other.get_or_insert(why);
                    }
                }
            }
            let mut tally = shared.tally.lock().await;
            tally.sent += local.sent;
            tally.served += local.served;
            tally.limited += local.limited;
            tally.other += local.other;
            if tally.first_other.is_none() {
                tally.first_other = local.first_other;
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let mut tally = shared.tally.lock().await.clone();
    let at = |a: &AtomicU64| match a.load(Ordering::Relaxed) {
        u64::MAX => Duration::ZERO,
        n => Duration::from_nanos(n),
    };
    tally.first_send = at(&shared.first_send);
    tally.last_send = at(&shared.last_send);
    tally.first_answer = at(&shared.first_answer);
    tally.last_answer = at(&shared.last_answer);
    tally
}

struct Shared {
    next: AtomicU64,
    stop: AtomicBool,
    limited: AtomicU64,
    first_send: AtomicU64,
    last_send: AtomicU64,
    first_answer: AtomicU64,
    last_answer: AtomicU64,
    tally: Mutex<Tally>,
}

fn nanos(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// What [`judge`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// At most this many requests can have found a token.
    pub most_served: u64,
    /// At least this many requests must have found a token (or all sent, when fewer).
    pub least_served: u64,
    /// No request refused while a token remained: `served >= least_served`.
    pub none_refused_early: bool,
    /// The bucket limits: `served <= most_served`.
    pub limits: bool,
    /// The load emptied the bucket, so both halves were exercised: some request was refused,
    /// or more were served than the bucket could hold.
    pub conclusive: bool,
}

/// Decides a tally against a bucket of `burst` tokens refilled at `rate_per_sec` (see the
/// module doc).
pub fn judge(tally: &Tally, burst: u32, rate_per_sec: u32) -> Judgement {
    let (relative, absolute) = TOLERANCE;
    let tokens = |span: Duration| f64::from(burst) + f64::from(rate_per_sec) * span.as_secs_f64();
    let upper = tokens(tally.last_answer.saturating_sub(tally.first_send));
    let lower = tokens(tally.last_send.saturating_sub(tally.first_answer));
    // Truncation is intended: these are counts of requests.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let most_served = (upper * (1.0 + relative) + absolute).ceil() as u64;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let least_served = ((lower * (1.0 - relative) - absolute).max(0.0).floor() as u64)
        .min(tally.sent.saturating_sub(tally.other));
    let limits = tally.served <= most_served;
    Judgement {
        most_served,
        least_served,
        none_refused_early: tally.served >= least_served,
        limits,
        conclusive: tally.limited > 0 || !limits,
    }
}

/// [`judge`] with the protocol's bucket (`LINK_RATE_BURST`, `LINK_RATE_PER_SEC`).
pub fn judge_link(tally: &Tally) -> Judgement {
    judge(tally, LINK_RATE_BURST, LINK_RATE_PER_SEC)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;
    use std::sync::Mutex as StdMutex;
    use std::time::SystemTime;

    use ompp::firewall::{Firewall, FirewallConfig};
    use ompp::types::{PartyIdentity, UnixMillis};

    use super::*;

    const SMALL: LoadBounds = LoadBounds {
        max_requests: 5_000,
        max_duration: Duration::from_secs(5),
        stop_after_limited: 200,
        concurrency: 16,
    };

    fn peer() -> PartyIdentity {
        PartyIdentity::parse("ompp://mobile/MS-LOAD").unwrap()
    }

    /// A receiver with the real firewall (`ompp::firewall`) on the wall clock, `burst` and
    /// `rate` as given: what the suite's load meets at a conformant system.
    fn receiver(burst: u32, rate: u32) -> impl Fn(u64) -> std::future::Ready<Answer> {
        let firewall = StdMutex::new(Firewall::new(FirewallConfig {
            burst,
            rate_per_sec: rate,
            ..FirewallConfig::new(BTreeSet::from([peer()]))
        }));
        move |_| {
            let millis = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let now = UnixMillis(i64::try_from(millis).unwrap());
            let mut firewall = firewall.lock().unwrap();
            let answer = match firewall.admit(&peer(), 100, now) {
                Ok(admitted) => {
                    firewall.reject_invalid_envelope(admitted);
                    Answer::Served
                }
                Err(_) => Answer::RateLimited,
            };
            std::future::ready(answer)
        }
    }

    #[tokio::test]
    async fn the_load_stops_at_its_request_bound_when_nothing_is_refused() {
        let tally = drive(SMALL, |_| async { Answer::Served }).await;
        assert_eq!(tally.sent, SMALL.max_requests);
        assert_eq!(tally.served, SMALL.max_requests);
        assert_eq!(tally.limited, 0);
    }

    #[tokio::test]
    async fn the_load_sends_nothing_after_its_time_bound() {
        let bounds = LoadBounds {
            max_requests: u64::MAX,
            max_duration: Duration::from_millis(200),
            ..SMALL
        };
        let tally = drive(bounds, |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Answer::Served
        })
        .await;
        assert!(tally.sent > 0);
        assert!(tally.last_send < bounds.max_duration, "{tally:?}");
        // 16 tasks, one request per 5 ms each: far fewer than the request bound.
        assert!(tally.sent < 16 * 200 / 5 + 16, "{tally:?}");
    }

    #[tokio::test]
    async fn the_load_stops_after_enough_refusals() {
        let tally = drive(SMALL, |n| async move {
            if n < 1_000 {
                Answer::Served
            } else {
                Answer::RateLimited
            }
        })
        .await;
        // Each task may have one more request in flight when the stop is seen.
        assert!(tally.limited >= SMALL.stop_after_limited, "{tally:?}");
        assert!(
            tally.sent <= 1_000 + SMALL.stop_after_limited + SMALL.concurrency as u64,
            "{tally:?}"
        );
        assert_eq!(tally.sent, tally.served + tally.limited);
    }

    #[tokio::test]
    async fn other_answers_are_counted_with_the_first() {
        let tally = drive(
            LoadBounds {
                max_requests: 10,
                ..SMALL
            },
            |_| async { Answer::Other("connection reset".to_owned()) },
        )
        .await;
        assert_eq!((tally.sent, tally.other), (10, 10));
        assert_eq!(tally.first_other.as_deref(), Some("connection reset"));
    }

    #[tokio::test]
    async fn a_conformant_bucket_passes() {
        let tally = drive(SMALL, receiver(1_000, 500)).await;
        let judgement = judge(&tally, 1_000, 500);
        assert!(judgement.conclusive, "{tally:?} {judgement:?}");
        assert!(judgement.limits, "{tally:?} {judgement:?}");
        assert!(judgement.none_refused_early, "{tally:?} {judgement:?}");
    }

    #[tokio::test]
    async fn a_bucket_twice_too_large_is_caught() {
        let tally = drive(SMALL, receiver(2_000, 500)).await;
        let judgement = judge(&tally, 1_000, 500);
        assert!(
            judgement.conclusive && !judgement.limits,
            "{tally:?} {judgement:?}"
        );
    }

    #[tokio::test]
    async fn a_bucket_half_too_small_is_caught() {
        let tally = drive(SMALL, receiver(500, 500)).await;
        let judgement = judge(&tally, 1_000, 500);
        assert!(!judgement.none_refused_early, "{tally:?} {judgement:?}");
    }

    #[tokio::test]
    async fn no_limit_at_all_is_caught_within_the_bounds() {
        let tally = drive(SMALL, receiver(u32::MAX, u32::MAX)).await;
        let judgement = judge(&tally, 1_000, 500);
        assert_eq!(tally.sent, SMALL.max_requests);
        assert!(
            judgement.conclusive && !judgement.limits,
            "{tally:?} {judgement:?}"
        );
    }

    #[test]
    fn a_load_too_slow_to_empty_the_bucket_is_inconclusive() {
        // 8,000 requests in 1 s: the bucket (10,000 + 5,000 per second) never empties.
        let tally = Tally {
            sent: 8_000,
            served: 8_000,
            first_send: Duration::ZERO,
            last_send: Duration::from_millis(990),
            first_answer: Duration::from_millis(10),
            last_answer: Duration::from_secs(1),
            ..Tally::default()
        };
        let judgement = judge_link(&tally);
        assert!(!judgement.conclusive, "{judgement:?}");
        assert!(
            judgement.limits && judgement.none_refused_early,
            "{judgement:?}"
        );
        assert_eq!(judgement.least_served, 8_000);
    }

    #[test]
    fn the_bounds_follow_the_spans() {
        // 1 s from first send to last answer, 0.8 s from first answer to last send.
        let tally = Tally {
            sent: 30_000,
            served: 14_000,
            limited: 16_000,
            first_send: Duration::ZERO,
            last_send: Duration::from_millis(900),
            first_answer: Duration::from_millis(100),
            last_answer: Duration::from_secs(1),
            ..Tally::default()
        };
        let judgement = judge_link(&tally);
        // 15,000 x 1.01 + 100 and 14,000 x 0.99 - 100.
        assert_eq!(judgement.most_served, 15_250);
        assert_eq!(judgement.least_served, 13_760);
        assert!(judgement.conclusive && judgement.limits && judgement.none_refused_early);
    }
}
