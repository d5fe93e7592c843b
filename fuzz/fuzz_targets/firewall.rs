//! The secure-link firewall under arbitrary traffic: envelopes from a small set of identities
//! (allow-listed or not, sender equal to the TLS peer or not), message ids from a small set,
//! `sent_at` near a clock that moves forward by bounded steps (or anywhere), arbitrary sizes,
//! and an arbitrary configuration (mostly small values, sometimes extreme ones). After every
//! call:
//! - nothing panicked, and the counters add up to the number of decisions, the one that moved
//!   being the decision's;
//! - a (sender, message id) pair accepted before is accepted again only once its replay window
//!   has passed (from `max(now, sent_at)` of the earlier acceptance, the window being at least
//!   `clock_skew` + 1 ms);
//! - the replay memory stays within `burst + rate x (window + skew)` ids per allow-listed peer.
#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ompp::firewall::{Firewall, FirewallConfig, FirewallCounters, Rejection};
use ompp::requests::link::Envelope;
use ompp::types::{LinkMessageId, PartyIdentity, Role, UnixMillis};

const IDENTITIES: usize = 4;
const MESSAGE_IDS: usize = 8;

#[derive(Debug, arbitrary::Arbitrary)]
enum Kind {
    /// `Firewall::check`.
    Check,
    /// `Firewall::admit`, then `reject_invalid_envelope` (an envelope that did not parse).
    InvalidEnvelope,
    /// `Firewall::admit` then `check_envelope`.
    AdmitThenCheck,
}

/// A configured duration: mostly small, sometimes anything `Duration` holds.
#[derive(Debug, arbitrary::Arbitrary)]
enum Span {
    Millis(u16),
    Any {
        secs: u64,
        nanos: u32,
    },
    /// `Duration::MAX`: no limit at all.
    Max,
}

impl Span {
    fn duration(&self) -> Duration {
        match *self {
            Span::Millis(ms) => Duration::from_millis(ms.into()),
            Span::Any { secs, nanos } => Duration::new(secs, nanos % 1_000_000_000),
            Span::Max => Duration::MAX,
        }
    }
}

/// A configured count: mostly small, sometimes anything.
#[derive(Debug, arbitrary::Arbitrary)]
enum Count {
    Small(u8),
    Any(u32),
}

impl Count {
    fn get(&self) -> u32 {
        match *self {
            Count::Small(n) => n.into(),
            Count::Any(n) => n,
        }
    }
}

/// Where `sent_at` lies.
#[derive(Debug, arbitrary::Arbitrary)]
enum SentAt {
    /// Offset from `now`, reduced to within the skew plus a second either way.
    Near(i32),
    /// Any instant.
    Any(i64),
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Call {
    advance_ms: u16,
    peer: u8,
    /// The envelope names another identity when odd.
    sender: u8,
    message_id: u8,
    sent_at: SentAt,
    encoded_len: u16,
    kind: Kind,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    start: i64,
    allowed_mask: u8,
    clock_skew: Span,
    replay_window: Span,
    max_message_bytes: u16,
    rate_per_sec: Count,
    burst: Count,
    calls: Vec<Call>,
}

fn identities() -> Vec<PartyIdentity> {
    [
        (Role::Mobile, "MS-1"),
        (Role::Mobile, "MS-2"),
        (Role::Network, "NS-1"),
        (Role::Bank, "BANK-1"),
    ]
    .into_iter()
    .map(|(role, id)| PartyIdentity::new(role, id).expect("valid identity"))
    .collect()
}

fn message_ids() -> Vec<LinkMessageId> {
    (0..MESSAGE_IDS)
        .map(|n| LinkMessageId::parse(&format!("msg-{n:016}")).expect("valid id"))
        .collect()
}

fn counter_name(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::TooLarge { .. } => "too_large",
        Rejection::PeerNotAllowed => "peer_not_allowed",
        Rejection::SenderMismatch => "sender_mismatch",
        Rejection::RateLimited => "rate_limited",
        Rejection::Stale { .. } => "stale",
        Rejection::Replay => "replay",
        _ => panic!("a rejection this harness does not know: {rejection:?}"),
    }
}

fn counter_of(counters: &FirewallCounters, rejection: &Rejection) -> u64 {
    match rejection {
        Rejection::TooLarge { .. } => counters.too_large,
        Rejection::PeerNotAllowed => counters.peer_not_allowed,
        Rejection::SenderMismatch => counters.sender_mismatch,
        Rejection::RateLimited => counters.rate_limited,
        Rejection::Stale { .. } => counters.stale,
        Rejection::Replay => counters.replay,
        _ => panic!("a rejection this harness does not know: {rejection:?}"),
    }
}

fuzz_target!(|input: Input| {
    let identities = identities();
    let message_ids = message_ids();
    let allowed: BTreeSet<PartyIdentity> = identities
        .iter()
        .enumerate()
        .filter(|(i, _)| input.allowed_mask & (1 << i) != 0)
        .map(|(_, id)| id.clone())
        .collect();
    let config = FirewallConfig {
        clock_skew: input.clock_skew.duration(),
        replay_window: input.replay_window.duration(),
        max_message_bytes: input.max_message_bytes.into(),
        rate_per_sec: input.rate_per_sec.get(),
        burst: input.burst.get(),
        ..FirewallConfig::new(allowed.clone())
    };
    // In i128: whole milliseconds of the configured durations (a `Duration` holds up to
    // 2^64 s), so that the harness's own arithmetic cannot overflow.
    let skew_ms = config.clock_skew.as_millis() as i128;
    let window_ms = (config.replay_window.as_millis() as i128).max(skew_ms + 1);
    // Ids accepted within `window + skew` of the last prune, per peer, at most.
    let memory_bound = allowed.len() as i128
        * (i128::from(config.burst)
            + i128::from(config.rate_per_sec) * (window_ms + skew_ms) / 1000
            + 1);
    let mut fw = Firewall::new(config.clone());
    assert_eq!(fw.config(), &config);

    // Keep the clock away from the ends of i64 (the firewall saturates; the harness needs room).
    let mut now = UnixMillis(input.start.clamp(-(1 << 60), 1 << 60));
    let mut decisions = 0u64;
    // (peer index, message id index) -> (now, sent_at) of the last acceptance.
    let mut accepted_at: HashMap<(usize, usize), (i128, i128)> = HashMap::new();

    for call in input.calls.iter().take(256) {
        now = UnixMillis(now.0 + i64::from(call.advance_ms));
        let peer_index = usize::from(call.peer) % IDENTITIES;
        let sender_index = if call.sender % 2 == 1 {
            usize::from(call.sender / 2) % IDENTITIES
        } else {
            peer_index
        };
        let id_index = usize::from(call.message_id) % MESSAGE_IDS;
        let sent_at = match call.sent_at {
            SentAt::Near(offset) => {
                let near = skew_ms.min(1 << 40) + 1000;
                let offset = i128::from(offset).rem_euclid(2 * near + 1) - near;
                UnixMillis((i128::from(now.0) + offset) as i64)
            }
            SentAt::Any(at) => UnixMillis(at),
        };
        let envelope = Envelope {
            sender: identities[sender_index].clone(),
            message_id: message_ids[id_index].clone(),
            sent_at,
        };
        let peer = &identities[peer_index];
        let len = usize::from(call.encoded_len);
        let before = fw.counters().clone();

        let result = match call.kind {
            Kind::Check => Some(fw.check(peer, &envelope, len, now)),
            Kind::AdmitThenCheck => Some(fw.admit(peer, len, now).and_then(|admitted| {
                assert_eq!(admitted.peer(), peer);
                fw.check_envelope(admitted, &envelope, now)
            })),
            Kind::InvalidEnvelope => match fw.admit(peer, len, now) {
                Ok(admitted) => {
                    fw.reject_invalid_envelope(admitted);
                    None
                }
                Err(rejection) => Some(Err(rejection)),
            },
        };
        decisions += 1;
        let counters = fw.counters();
        assert_eq!(counters.total(), decisions, "counters do not add up");
        match &result {
            None => assert_eq!(counters.invalid_envelope, before.invalid_envelope + 1),
            Some(Ok(())) => assert_eq!(counters.accepted, before.accepted + 1),
            Some(Err(rejection)) => {
                assert_eq!(
                    counter_of(counters, rejection),
                    counter_of(&before, rejection) + 1
                );
                // The label is the name of the counter that moved.
                assert_eq!(rejection.label(), counter_name(rejection));
                assert_ne!(
                    rejection.reason(),
                    ompp::proto::v1::ErrorReason::Unspecified
                );
            }
        }

        // What the checks say, in order.
        if let Some(result) = &result {
            if !allowed.contains(peer) {
                assert_eq!(result, &Err(Rejection::PeerNotAllowed));
            } else if len > config.max_message_bytes {
                assert!(matches!(result, Err(Rejection::TooLarge { .. })));
            }
            if result.is_ok() {
                assert!(allowed.contains(peer));
                assert_eq!(sender_index, peer_index);
                assert!((i128::from(envelope.sent_at.0) - i128::from(now.0)).abs() <= skew_ms);
            }
        }

        if let Some(Ok(())) = result {
            let key = (peer_index, id_index);
            if let Some(&(then, sent_then)) = accepted_at.get(&key) {
                assert!(
                    i128::from(now.0) >= then.max(sent_then) + window_ms,
                    "{key:?} accepted at {then} (sent {sent_then}) and again at {}",
                    now.0
                );
            }
            accepted_at.insert(key, (now.0.into(), envelope.sent_at.0.into()));
        }

        let remembered = fw.remembered_ids() as i128;
        assert!(
            remembered <= memory_bound,
            "{remembered} ids remembered, bound {memory_bound}"
        );
        assert!(remembered <= (IDENTITIES * MESSAGE_IDS) as i128);
        assert!(remembered <= i128::from(counters.accepted));
    }
});
