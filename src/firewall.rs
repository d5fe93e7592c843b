//! The secure-link firewall (seed 000 claim 16 e.5) as a sans-IO decision engine: the caller
//! passes the TLS peer identity, the parsed envelope, the encoded size and `now`; the firewall
//! answers accept or a [`Rejection`], counting every decision.
//!
//! The checks run in the order of the specification's firewall diagram (OMPP-LINK-007), and
//! the first that fails decides:
//!
//! 1. the TLS peer identity is on the allow-list ([`Rejection::PeerNotAllowed`], OMPP-LINK-001);
//! 2. the encoded message is at most `max_message_bytes` ([`Rejection::TooLarge`],
//!    OMPP-LINK-006);
//! 3. the peer's token bucket has a token ([`Rejection::RateLimited`], OMPP-LINK-005);
//! 4. (the envelope is well formed: checked by the caller when parsing, OMPP-LINK-002);
//! 5. `envelope.sender` equals the TLS peer identity ([`Rejection::SenderMismatch`],
//!    OMPP-LINK-001);
//! 6. `sent_at` is within `clock_skew` of `now`, either way ([`Rejection::Stale`],
//!    OMPP-LINK-003);
//! 7. (sender, message id) was not accepted before within the replay window
//!    ([`Rejection::Replay`], OMPP-LINK-004).
//!
//! Steps 1 to 3 need no envelope, so a caller that must parse the envelope after them (to
//! answer a malformed envelope from an unknown peer with `PEER_NOT_ALLOWED`, as the order
//! demands) calls [`Firewall::admit`], then [`Firewall::check_envelope`] or
//! [`Firewall::reject_invalid_envelope`]; [`Firewall::check`] does all of it at once.
//!
//! Memory is bounded: token buckets exist only for allow-listed peers, and a message id is
//! remembered only once accepted and only until its replay could no longer pass the skew check,
//! so at most `burst + rate_per_sec x (replay_window + clock_skew)` ids per peer.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;

use crate::error::ProtocolError;
use crate::limits::{
    LINK_CLOCK_SKEW_SECS, LINK_MAX_MESSAGE_BYTES, LINK_RATE_BURST, LINK_RATE_PER_SEC,
    LINK_REPLAY_WINDOW_SECS,
};
use crate::proto::v1::ErrorReason;
use crate::requests::link::Envelope;
use crate::types::{LinkMessageId, PartyIdentity, UnixMillis};

/// The firewall's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// TLS peer identities allowed on this service (OMPP-LINK-001).
    pub allowed: BTreeSet<PartyIdentity>,
    /// Largest accepted difference between `sent_at` and the receiver's clock, either way
    /// (OMPP-LINK-003).
    pub clock_skew: Duration,
    /// How long an accepted message id is remembered, from `max(now, sent_at)` (OMPP-LINK-004).
    /// Values not above `clock_skew` are raised to `clock_skew` + 1 ms, so that a replay is
    /// always caught, as stale or as seen.
    pub replay_window: Duration,
    /// Largest accepted encoded message, in bytes (OMPP-LINK-006).
    pub max_message_bytes: usize,
    /// Tokens added to each peer's bucket per second (OMPP-LINK-005).
    pub rate_per_sec: u32,
    /// Capacity of each peer's bucket; a new bucket starts full (OMPP-LINK-005).
    pub burst: u32,
}

impl FirewallConfig {
    /// The protocol's defaults from [`crate::limits`] (`LINK_CLOCK_SKEW_SECS`,
    /// `LINK_REPLAY_WINDOW_SECS`, `LINK_MAX_MESSAGE_BYTES`, `LINK_RATE_PER_SEC`,
    /// `LINK_RATE_BURST`) with the given allow-list.
    pub fn new(allowed: impl IntoIterator<Item = PartyIdentity>) -> Self {
        Self {
            allowed: allowed.into_iter().collect(),
            clock_skew: Duration::from_secs(LINK_CLOCK_SKEW_SECS),
            replay_window: Duration::from_secs(LINK_REPLAY_WINDOW_SECS),
            max_message_bytes: LINK_MAX_MESSAGE_BYTES,
            rate_per_sec: LINK_RATE_PER_SEC,
            burst: LINK_RATE_BURST,
        }
    }
}

/// Why the firewall rejected a message.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The encoded message is larger than the limit (OMPP-LINK-006).
    #[error("message of {bytes} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The message's encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The TLS peer identity is not on the allow-list (OMPP-LINK-001).
    #[error("the TLS peer is not allowed on this service")]
    PeerNotAllowed,
    /// The envelope's sender differs from the TLS peer identity (OMPP-LINK-001).
    #[error("the envelope sender differs from the TLS peer identity")]
    SenderMismatch,
    /// The peer's token bucket is empty (OMPP-LINK-005).
    #[error("the peer exceeded its message rate")]
    RateLimited,
    /// `sent_at` is too far from the receiver's clock (OMPP-LINK-003).
    #[error("sent_at is {skew_ms} ms away from the receiver's clock")]
    Stale {
        /// `sent_at` minus the receiver's `now`: positive when the message claims to come from
        /// the future.
        skew_ms: i64,
    },
    /// The (sender, message id) pair was already accepted within the replay window
    /// (OMPP-LINK-004).
    #[error("the message id was already seen")]
    Replay,
}

impl Rejection {
    /// The catalogue reason to answer with.
    pub fn reason(&self) -> ErrorReason {
        match self {
            Rejection::TooLarge { .. } => ErrorReason::MessageTooLarge,
            Rejection::PeerNotAllowed => ErrorReason::PeerNotAllowed,
            Rejection::SenderMismatch => ErrorReason::LinkSenderMismatch,
            Rejection::RateLimited => ErrorReason::LinkRateLimited,
            Rejection::Stale { .. } => ErrorReason::LinkStaleMessage,
            Rejection::Replay => ErrorReason::LinkReplay,
        }
    }

    /// A stable snake_case name for logs and metrics, equal to the [`FirewallCounters`] field
    /// that counts it.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::PeerNotAllowed => "peer_not_allowed",
            Rejection::SenderMismatch => "sender_mismatch",
            Rejection::RateLimited => "rate_limited",
            Rejection::Stale { .. } => "stale",
            Rejection::Replay => "replay",
        }
    }
}

impl From<Rejection> for ProtocolError {
    fn from(r: Rejection) -> Self {
        ProtocolError::new(r.reason(), r.to_string())
    }
}

/// How many decisions of each kind the firewall made (OMPP-LINK-009): every decision counts in
/// exactly one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FirewallCounters {
    /// Messages accepted.
    pub accepted: u64,
    /// Rejected as [`Rejection::TooLarge`].
    pub too_large: u64,
    /// Rejected as [`Rejection::PeerNotAllowed`].
    pub peer_not_allowed: u64,
    /// Rejected as [`Rejection::SenderMismatch`].
    pub sender_mismatch: u64,
    /// Rejected as [`Rejection::RateLimited`].
    pub rate_limited: u64,
    /// Rejected as [`Rejection::Stale`].
    pub stale: u64,
    /// Rejected as [`Rejection::Replay`].
    pub replay: u64,
    /// Rejected by the caller for a malformed envelope ([`Firewall::reject_invalid_envelope`]).
    pub invalid_envelope: u64,
}

impl FirewallCounters {
    /// All decisions: the sum of every field.
    pub fn total(&self) -> u64 {
        self.accepted
            + self.too_large
            + self.peer_not_allowed
            + self.sender_mismatch
            + self.rate_limited
            + self.stale
            + self.replay
            + self.invalid_envelope
    }

    fn count(&mut self, rejection: &Rejection) {
        let counter = match rejection {
            Rejection::TooLarge { .. } => &mut self.too_large,
            Rejection::PeerNotAllowed => &mut self.peer_not_allowed,
            Rejection::SenderMismatch => &mut self.sender_mismatch,
            Rejection::RateLimited => &mut self.rate_limited,
            Rejection::Stale { .. } => &mut self.stale,
            Rejection::Replay => &mut self.replay,
        };
        *counter += 1;
    }
}

/// A message that passed the checks that need no envelope (allow-list, size, rate), from
/// [`Firewall::admit`]. Hand it to [`Firewall::check_envelope`] or
/// [`Firewall::reject_invalid_envelope`] so that the decision is counted.
#[must_use = "finish the decision with check_envelope or reject_invalid_envelope"]
#[derive(Debug)]
pub struct Admitted {
    peer: PartyIdentity,
}

impl Admitted {
    /// The allow-listed TLS peer identity.
    pub fn peer(&self) -> &PartyIdentity {
        &self.peer
    }
}

/// A token bucket in thousandths of a token, so that integer refills per millisecond are exact.
#[derive(Debug, Clone)]
struct Bucket {
    milli_tokens: u64,
    refilled_at: UnixMillis,
}

const MILLI: u64 = 1_000;

impl Bucket {
    fn full(burst: u32, now: UnixMillis) -> Self {
        Self {
            milli_tokens: u64::from(burst) * MILLI,
            refilled_at: now,
        }
    }

    /// Refills for the time since the last refill, then takes one token if there is one. A
    /// clock that goes backwards adds nothing and does not move the refill time back.
    fn take(&mut self, now: UnixMillis, rate_per_sec: u32, burst: u32) -> bool {
        if now > self.refilled_at {
            let elapsed_ms = u64::try_from(now.0.saturating_sub(self.refilled_at.0)).unwrap_or(0);
            // `rate_per_sec` tokens per second = `rate_per_sec` thousandths per millisecond.
            let added = elapsed_ms.saturating_mul(u64::from(rate_per_sec));
            self.milli_tokens = self
                .milli_tokens
                .saturating_add(added)
                .min(u64::from(burst) * MILLI);
            self.refilled_at = now;
        }
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }
}

type SeenKey = (PartyIdentity, LinkMessageId);

/// The secure-link firewall of one service: allow-list, size and rate limits, skew window and
/// replay memory, with counters.
#[derive(Debug)]
pub struct Firewall {
    config: FirewallConfig,
    /// Token buckets of allow-listed peers that sent something.
    buckets: HashMap<PartyIdentity, Bucket>,
    /// Accepted (sender, message id) pairs still remembered.
    seen: HashSet<SeenKey>,
    /// The same pairs by the instant they may be forgotten, soonest first.
    expiries: BinaryHeap<Reverse<(UnixMillis, SeenKey)>>,
    counters: FirewallCounters,
}

impl Firewall {
    /// A firewall with `config`, no history and zero counters.
    pub fn new(config: FirewallConfig) -> Self {
        Self {
            config,
            buckets: HashMap::new(),
            seen: HashSet::new(),
            expiries: BinaryHeap::new(),
            counters: FirewallCounters::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &FirewallConfig {
        &self.config
    }

    /// Decides one message: `tls_peer` is the identity of the TLS client certificate,
    /// `encoded_len` the message's encoded size. Runs every check in order (see the module doc)
    /// and counts the decision. On `Ok` the message id is remembered and the caller handles the
    /// message; on `Err` it must not act on it (OMPP-LINK-007).
    pub fn check(
        &mut self,
        tls_peer: &PartyIdentity,
        envelope: &Envelope,
        encoded_len: usize,
        now: UnixMillis,
    ) -> Result<(), Rejection> {
        let admitted = self.admit(tls_peer, encoded_len, now)?;
        self.check_envelope(admitted, envelope, now)
    }

    /// The checks that need no envelope: allow-list, size, rate (steps 1 to 3). A rejection is
    /// counted; an admission is counted by the call that finishes it. Takes a rate token.
    pub fn admit(
        &mut self,
        tls_peer: &PartyIdentity,
        encoded_len: usize,
        now: UnixMillis,
    ) -> Result<Admitted, Rejection> {
        self.admit_uncounted(tls_peer, encoded_len, now)
            .inspect_err(|rejection| self.counters.count(rejection))
    }

    /// The checks on the envelope of an admitted message: sender, skew, replay (steps 5 to 7).
    /// Counts the decision; on `Ok` remembers the message id.
    pub fn check_envelope(
        &mut self,
        admitted: Admitted,
        envelope: &Envelope,
        now: UnixMillis,
    ) -> Result<(), Rejection> {
        let result = self.check_envelope_uncounted(&admitted.peer, envelope, now);
        match &result {
            Ok(()) => self.counters.accepted += 1,
            Err(rejection) => self.counters.count(rejection),
        }
        result
    }

    /// Counts an admitted message whose envelope the caller could not parse (it answers
    /// `INVALID_FIELD`, OMPP-LINK-002). Nothing is remembered.
    pub fn reject_invalid_envelope(&mut self, admitted: Admitted) {
        let Admitted { .. } = admitted;
        self.counters.invalid_envelope += 1;
    }

    /// The decisions so far.
    pub fn counters(&self) -> &FirewallCounters {
        &self.counters
    }

    /// How many message ids are remembered for replay detection.
    pub fn remembered_ids(&self) -> usize {
        self.seen.len()
    }

    fn admit_uncounted(
        &mut self,
        tls_peer: &PartyIdentity,
        encoded_len: usize,
        now: UnixMillis,
    ) -> Result<Admitted, Rejection> {
        // OMPP-LINK-001: only allow-listed peers (and so a bounded number of buckets).
        if !self.config.allowed.contains(tls_peer) {
            return Err(Rejection::PeerNotAllowed);
        }
        // OMPP-LINK-006: size limit.
        if encoded_len > self.config.max_message_bytes {
            return Err(Rejection::TooLarge {
                bytes: encoded_len,
                max: self.config.max_message_bytes,
            });
        }
        // OMPP-LINK-005: one token per message from the peer's bucket, which starts full.
        let (rate, burst) = (self.config.rate_per_sec, self.config.burst);
        let bucket = self
            .buckets
            .entry(tls_peer.clone())
            .or_insert_with(|| Bucket::full(burst, now));
        if !bucket.take(now, rate, burst) {
            return Err(Rejection::RateLimited);
        }
        Ok(Admitted {
            peer: tls_peer.clone(),
        })
    }

    fn check_envelope_uncounted(
        &mut self,
        tls_peer: &PartyIdentity,
        envelope: &Envelope,
        now: UnixMillis,
    ) -> Result<(), Rejection> {
        // OMPP-LINK-001: the envelope names the TLS identity.
        if envelope.sender != *tls_peer {
            return Err(Rejection::SenderMismatch);
        }
        // OMPP-LINK-003: skew window, inclusive, both directions.
        let skew_ms = envelope.sent_at.0.saturating_sub(now.0);
        if u128::from(skew_ms.unsigned_abs()) > self.config.clock_skew.as_millis() {
            return Err(Rejection::Stale { skew_ms });
        }
        // OMPP-LINK-004: replay memory.
        self.prune(now);
        let key = (envelope.sender.clone(), envelope.message_id.clone());
        if self.seen.contains(&key) {
            return Err(Rejection::Replay);
        }
        let forget_at = self.forget_at(envelope.sent_at, now);
        self.expiries.push(Reverse((forget_at, key.clone())));
        self.seen.insert(key);
        Ok(())
    }

    /// When an id accepted at `now` with `sent_at` may be forgotten: `max(now, sent_at)` plus
    /// the replay window (raised above the skew if configured lower).
    ///
    /// Why this is enough: a replay arriving at `t` passes the skew check only if
    /// `t <= sent_at + clock_skew`, which is before `sent_at + window` because
    /// `window > clock_skew`; so until then it is caught as seen, and after it as stale.
    /// Why `max(now, ...)`: OMPP-LINK-004 says to remember an id for the whole window after it
    /// was received, and `sent_at` may lie up to `clock_skew` in the past. Taking the later of
    /// the two satisfies both, and keeps memory bounded by rate x (window + skew).
    fn forget_at(&self, sent_at: UnixMillis, now: UnixMillis) -> UnixMillis {
        let window = self.config.replay_window.max(
            self.config
                .clock_skew
                .saturating_add(Duration::from_millis(1)),
        );
        now.max(sent_at).saturating_add(window)
    }

    /// Forgets every id whose time is up at `now`. Each id is pushed and popped once, so the
    /// cost is amortized O(log n) per accepted message.
    fn prune(&mut self, now: UnixMillis) {
        while let Some(Reverse((forget_at, _))) = self.expiries.peek() {
            if *forget_at > now {
                break;
            }
            if let Some(Reverse((_, key))) = self.expiries.pop() {
                self.seen.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;

    const T0: UnixMillis = UnixMillis(1_700_000_000_000);

    fn at(offset_ms: i64) -> UnixMillis {
        UnixMillis(T0.0 + offset_ms)
    }

    fn peer(id: &str) -> PartyIdentity {
        PartyIdentity::new(Role::Mobile, id).unwrap()
    }

    fn ms1() -> PartyIdentity {
        peer("MS-1")
    }

    fn ms2() -> PartyIdentity {
        peer("MS-2")
    }

    fn mid(n: u64) -> LinkMessageId {
        LinkMessageId::parse(&format!("msg-{n:016}")).unwrap()
    }

    fn envelope(sender: &PartyIdentity, n: u64, sent_at: UnixMillis) -> Envelope {
        Envelope {
            sender: sender.clone(),
            message_id: mid(n),
            sent_at,
        }
    }

    fn firewall() -> Firewall {
        Firewall::new(FirewallConfig::new([ms1(), ms2()]))
    }

    fn small_rate_firewall(rate_per_sec: u32, burst: u32) -> Firewall {
        Firewall::new(FirewallConfig {
            rate_per_sec,
            burst,
            ..FirewallConfig::new([ms1(), ms2()])
        })
    }

    #[test]
    fn defaults_come_from_limits() {
        let config = FirewallConfig::new([ms1()]);
        assert_eq!(config.clock_skew, Duration::from_secs(30));
        assert_eq!(config.replay_window, Duration::from_secs(60));
        assert_eq!(config.max_message_bytes, 65_536);
        assert_eq!(config.rate_per_sec, 5_000);
        assert_eq!(config.burst, 10_000);
        assert_eq!(config.allowed.len(), 1);
    }

    #[test]
    fn accepts_a_good_message() {
        let mut fw = firewall();
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), 100, T0).unwrap();
        assert_eq!(
            fw.counters(),
            &FirewallCounters {
                accepted: 1,
                ..FirewallCounters::default()
            }
        );
        assert_eq!(fw.remembered_ids(), 1);
    }

    #[test]
    fn each_rejection_kind_and_the_counters_add_up() {
        let mut fw = small_rate_firewall(1, 1);
        let stranger = peer("MS-9");
        let max = LINK_MAX_MESSAGE_BYTES;
        let cases: Vec<(Result<(), Rejection>, Rejection)> = vec![
            (
                fw.check(&ms1(), &envelope(&ms1(), 1, T0), max + 1, T0),
                Rejection::TooLarge {
                    bytes: max + 1,
                    max,
                },
            ),
            (
                fw.check(&stranger, &envelope(&stranger, 2, T0), 10, T0),
                Rejection::PeerNotAllowed,
            ),
            (
                fw.check(&ms1(), &envelope(&ms2(), 3, T0), 10, T0),
                Rejection::SenderMismatch,
            ),
            // MS-1's only token went to the mismatched message.
            (
                fw.check(&ms1(), &envelope(&ms1(), 4, T0), 10, T0),
                Rejection::RateLimited,
            ),
            (
                fw.check(&ms2(), &envelope(&ms2(), 5, at(-30_001)), 10, T0),
                Rejection::Stale { skew_ms: -30_001 },
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want));
        }
        fw.check(&ms2(), &envelope(&ms2(), 6, at(1_000)), 10, at(1_000))
            .unwrap();
        assert_eq!(
            fw.check(&ms2(), &envelope(&ms2(), 6, at(2_000)), 10, at(2_000)),
            Err(Rejection::Replay)
        );
        assert_eq!(
            fw.counters(),
            &FirewallCounters {
                accepted: 1,
                too_large: 1,
                peer_not_allowed: 1,
                sender_mismatch: 1,
                rate_limited: 1,
                stale: 1,
                replay: 1,
                invalid_envelope: 0,
            }
        );
        assert_eq!(fw.counters().total(), 7);
    }

    #[test]
    fn reasons_labels_and_protocol_errors() {
        let all = [
            (
                Rejection::TooLarge { bytes: 2, max: 1 },
                ErrorReason::MessageTooLarge,
                "too_large",
            ),
            (
                Rejection::PeerNotAllowed,
                ErrorReason::PeerNotAllowed,
                "peer_not_allowed",
            ),
            (
                Rejection::SenderMismatch,
                ErrorReason::LinkSenderMismatch,
                "sender_mismatch",
            ),
            (
                Rejection::RateLimited,
                ErrorReason::LinkRateLimited,
                "rate_limited",
            ),
            (
                Rejection::Stale { skew_ms: 5 },
                ErrorReason::LinkStaleMessage,
                "stale",
            ),
            (Rejection::Replay, ErrorReason::LinkReplay, "replay"),
        ];
        let counter_names: Vec<String> = match serde_json::to_value(FirewallCounters::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            other => panic!("counters serialize to an object, got {other:?}"),
        };
        for (rejection, reason, label) in all {
            assert_eq!(rejection.reason(), reason);
            assert_eq!(rejection.label(), label);
            assert!(counter_names.iter().any(|n| n == label), "{label}");
            let error = ProtocolError::from(rejection);
            assert_eq!(error.reason, reason);
            assert!(!error.message.is_empty());
        }
        assert_eq!(
            ProtocolError::from(Rejection::TooLarge { bytes: 2, max: 1 }).code(),
            tonic::Code::ResourceExhausted
        );
    }

    #[test]
    fn order_allow_list_before_size_before_rate() {
        let mut fw = small_rate_firewall(0, 0);
        let stranger = peer("MS-9");
        // An unknown peer's oversized message: PEER_NOT_ALLOWED.
        assert_eq!(
            fw.check(&stranger, &envelope(&stranger, 1, T0), usize::MAX, T0),
            Err(Rejection::PeerNotAllowed)
        );
        // An allowed peer with an empty bucket and an oversized message: TOO_LARGE.
        assert!(matches!(
            fw.check(&ms1(), &envelope(&ms1(), 2, T0), usize::MAX, T0),
            Err(Rejection::TooLarge { .. })
        ));
        // An empty bucket beats a mismatched sender and a stale time.
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms2(), 3, UnixMillis(0)), 1, T0),
            Err(Rejection::RateLimited)
        );
    }

    #[test]
    fn order_sender_before_skew_before_replay() {
        let mut fw = firewall();
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, T0).unwrap();
        // A stale replay from another sender: SENDER_MISMATCH.
        assert_eq!(
            fw.check(&ms2(), &envelope(&ms1(), 1, at(-40_000)), 1, T0),
            Err(Rejection::SenderMismatch)
        );
        // A stale replay: STALE.
        assert!(matches!(
            fw.check(&ms1(), &envelope(&ms1(), 1, at(-40_000)), 1, T0),
            Err(Rejection::Stale { .. })
        ));
    }

    #[test]
    fn size_exactly_at_the_limit_is_accepted() {
        let mut fw = firewall();
        let max = fw.config().max_message_bytes;
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), max, T0).unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 2, T0), max + 1, T0),
            Err(Rejection::TooLarge {
                bytes: max + 1,
                max
            })
        );
    }

    #[test]
    fn replay_rejected_but_same_id_from_another_peer_accepted() {
        let mut fw = firewall();
        fw.check(&ms1(), &envelope(&ms1(), 7, T0), 1, T0).unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 7, T0), 1, at(10)),
            Err(Rejection::Replay)
        );
        fw.check(&ms2(), &envelope(&ms2(), 7, T0), 1, at(20))
            .unwrap();
        assert_eq!(
            fw.check(&ms2(), &envelope(&ms2(), 7, T0), 1, at(30)),
            Err(Rejection::Replay)
        );
        assert_eq!(fw.counters().accepted, 2);
        assert_eq!(fw.counters().replay, 2);
    }

    #[test]
    fn replay_is_never_accepted_whatever_sent_at_and_arrival() {
        // The message claims any time within the skew; the replay arrives at any later time:
        // it is caught as seen or as stale, never accepted.
        let skew = 30_000;
        for sent_offset in [-skew, -skew / 2, 0, skew / 2, skew] {
            let mut fw = firewall();
            let sent_at = at(sent_offset);
            fw.check(&ms1(), &envelope(&ms1(), 1, sent_at), 1, T0)
                .unwrap();
            for later in (0..=200_000).step_by(500).chain([
                sent_offset + skew,
                sent_offset + skew + 1,
                sent_offset + 60_000,
                sent_offset + 60_000 + 1,
            ]) {
                if later < 0 {
                    continue;
                }
                let got = fw.check(&ms1(), &envelope(&ms1(), 1, sent_at), 1, at(later));
                assert!(
                    matches!(got, Err(Rejection::Replay | Rejection::Stale { .. })),
                    "sent {sent_offset}, replayed at {later}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn replay_after_the_window_is_stale() {
        let mut fw = firewall();
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, T0).unwrap();
        // Within the window: REPLAY.
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, at(30_000)),
            Err(Rejection::Replay)
        );
        // After the window the id is forgotten, but the message is stale.
        let now = at(60_001);
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, now),
            Err(Rejection::Stale { skew_ms: -60_001 })
        );
        // A fresh message from the same peer prunes the old id.
        fw.check(&ms1(), &envelope(&ms1(), 2, now), 1, now).unwrap();
        assert_eq!(fw.remembered_ids(), 1);
    }

    #[test]
    fn id_is_remembered_for_the_whole_window_after_receipt() {
        // sent_at 30 s in the past: still remembered 60 s after receipt (OMPP-LINK-004), not
        // only 60 s after sent_at.
        let mut fw = firewall();
        fw.check(&ms1(), &envelope(&ms1(), 1, at(-30_000)), 1, T0)
            .unwrap();
        fw.check(&ms1(), &envelope(&ms1(), 2, at(59_999)), 1, at(59_999))
            .unwrap();
        assert_eq!(fw.remembered_ids(), 2);
        fw.check(&ms1(), &envelope(&ms1(), 3, at(60_000)), 1, at(60_000))
            .unwrap();
        // Id 1 is forgotten at exactly receipt + 60 s.
        assert_eq!(fw.remembered_ids(), 2);
    }

    #[test]
    fn replay_window_is_raised_above_the_skew() {
        // A window not above the skew would let a late replay through; it is raised.
        let mut fw = Firewall::new(FirewallConfig {
            replay_window: Duration::from_secs(1),
            ..FirewallConfig::new([ms1()])
        });
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, T0).unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, at(30_000)),
            Err(Rejection::Replay)
        );
    }

    #[test]
    fn skew_bounds_inclusive_both_directions() {
        let mut fw = firewall();
        let skew = 30_000;
        // From the future.
        fw.check(&ms1(), &envelope(&ms1(), 1, at(skew)), 1, T0)
            .unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 2, at(skew + 1)), 1, T0),
            Err(Rejection::Stale { skew_ms: skew + 1 })
        );
        // From the past.
        fw.check(&ms1(), &envelope(&ms1(), 3, at(-skew)), 1, T0)
            .unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 4, at(-skew - 1)), 1, T0),
            Err(Rejection::Stale { skew_ms: -skew - 1 })
        );
        assert_eq!(fw.counters().accepted, 2);
        assert_eq!(fw.counters().stale, 2);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let mut fw = firewall();
        assert!(matches!(
            fw.check(
                &ms1(),
                &envelope(&ms1(), 1, UnixMillis(i64::MIN)),
                1,
                UnixMillis(i64::MAX)
            ),
            Err(Rejection::Stale { .. })
        ));
        // The forget time saturates at the end of time.
        let end = UnixMillis(i64::MAX - 1);
        fw.check(&ms1(), &envelope(&ms1(), 2, end), 1, end).unwrap();
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 2, end), 1, end),
            Err(Rejection::Replay)
        );
    }

    #[test]
    fn rejected_message_id_is_not_remembered() {
        let mut fw = firewall();
        // Stale: rejected, id not remembered.
        assert!(matches!(
            fw.check(&ms1(), &envelope(&ms1(), 1, at(-31_000)), 1, T0),
            Err(Rejection::Stale { .. })
        ));
        // Sender mismatch: rejected, id not remembered for either identity.
        assert_eq!(
            fw.check(&ms2(), &envelope(&ms1(), 2, T0), 1, T0),
            Err(Rejection::SenderMismatch)
        );
        assert_eq!(fw.remembered_ids(), 0);
        // The same ids, now well-formed, are accepted.
        fw.check(&ms1(), &envelope(&ms1(), 1, T0), 1, T0).unwrap();
        fw.check(&ms1(), &envelope(&ms1(), 2, T0), 1, T0).unwrap();
        assert_eq!(fw.remembered_ids(), 2);
    }

    #[test]
    fn rate_limit_burst_then_refill() {
        let mut fw = small_rate_firewall(10, 5);
        let mut n = 0;
        let mut send = |fw: &mut Firewall, now: UnixMillis| {
            n += 1;
            fw.check(&ms1(), &envelope(&ms1(), n, now), 1, now)
        };
        for _ in 0..5 {
            send(&mut fw, T0).unwrap();
        }
        assert_eq!(send(&mut fw, T0), Err(Rejection::RateLimited));
        // 10 per second: one token every 100 ms.
        assert_eq!(send(&mut fw, at(99)), Err(Rejection::RateLimited));
        send(&mut fw, at(100)).unwrap();
        assert_eq!(send(&mut fw, at(150)), Err(Rejection::RateLimited));
        // A long pause refills up to the burst, not more.
        for _ in 0..5 {
            send(&mut fw, at(100_000)).unwrap();
        }
        assert_eq!(send(&mut fw, at(100_000)), Err(Rejection::RateLimited));
        // Another peer has its own bucket.
        fw.check(&ms2(), &envelope(&ms2(), 1, at(100_000)), 1, at(100_000))
            .unwrap();
        assert_eq!(fw.counters().accepted, 12);
        assert_eq!(fw.counters().rate_limited, 4);
    }

    #[test]
    fn rate_limit_clock_going_backwards_adds_nothing() {
        let mut fw = small_rate_firewall(10, 1);
        let send = |fw: &mut Firewall, n: u64, now: UnixMillis| {
            fw.check(&ms1(), &envelope(&ms1(), n, now), 1, now)
        };
        send(&mut fw, 1, at(1_000)).unwrap();
        // The clock jumps back: no tokens, no panic.
        assert_eq!(send(&mut fw, 2, at(0)), Err(Rejection::RateLimited));
        assert_eq!(send(&mut fw, 3, at(-500)), Err(Rejection::RateLimited));
        // Refill resumes from the latest time seen, not from the earlier one.
        assert_eq!(send(&mut fw, 4, at(1_099)), Err(Rejection::RateLimited));
        send(&mut fw, 5, at(1_100)).unwrap();
    }

    #[test]
    fn two_stage_api() {
        let mut fw = firewall();
        let stranger = peer("MS-9");
        assert_eq!(
            fw.admit(&stranger, 1, T0).map(|a| a.peer().clone()),
            Err(Rejection::PeerNotAllowed)
        );
        let admitted = fw.admit(&ms1(), 1, T0).unwrap();
        assert_eq!(admitted.peer(), &ms1());
        fw.reject_invalid_envelope(admitted);
        let admitted = fw.admit(&ms1(), 1, T0).unwrap();
        fw.check_envelope(admitted, &envelope(&ms1(), 1, T0), T0)
            .unwrap();
        assert_eq!(
            fw.counters(),
            &FirewallCounters {
                accepted: 1,
                peer_not_allowed: 1,
                invalid_envelope: 1,
                ..FirewallCounters::default()
            }
        );
    }

    #[test]
    fn pruning_keeps_memory_bounded() {
        let mut fw = firewall();
        // 100 messages per second for an hour of virtual time, alternating peers, with
        // sent_at spread over the skew window.
        let mut largest = 0;
        for i in 0..360_000_u64 {
            let now = at(i64::try_from(i).unwrap() * 10);
            let sender = if i % 2 == 0 { ms1() } else { ms2() };
            let jitter = i64::try_from(i % 61).unwrap() * 1_000 - 30_000;
            let sent_at = UnixMillis(now.0 + jitter);
            fw.check(&sender, &envelope(&sender, i, sent_at), 1, now)
                .unwrap();
            largest = largest.max(fw.remembered_ids());
        }
        // At most rate x (window + skew) = 100/s x 90 s; far below the 360,000 accepted.
        assert!(largest <= 9_000, "{largest}");
        assert_eq!(fw.remembered_ids(), fw.expiries.len());
        // Long after, one message prunes everything else.
        let later = at(10_000_000);
        fw.check(&ms1(), &envelope(&ms1(), 1, later), 1, later)
            .unwrap();
        assert_eq!(fw.remembered_ids(), 1);
        assert_eq!(fw.counters().accepted, 360_001);
    }

    /// Found by the `firewall` fuzz target: a clock skew within 1 ms of `Duration::MAX` (no
    /// limit) made the first accepted message panic ("overflow when adding durations") where
    /// the replay window is raised to `clock_skew` + 1 ms.
    #[test]
    fn unlimited_clock_skew_does_not_overflow() {
        let mut fw = Firewall::new(FirewallConfig {
            clock_skew: Duration::MAX,
            replay_window: Duration::MAX,
            ..FirewallConfig::new([ms1()])
        });
        let far = UnixMillis(4_983_232_509_464_537_932);
        fw.check(&ms1(), &envelope(&ms1(), 1, far), 1, T0).unwrap();
        // Remembered for ever (the window saturates): a replay, however late, is caught.
        assert_eq!(
            fw.check(&ms1(), &envelope(&ms1(), 1, far), 1, at(86_400_000)),
            Err(Rejection::Replay)
        );
        assert_eq!(fw.remembered_ids(), 1);
    }
}
