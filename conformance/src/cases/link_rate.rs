//! The secure link's rate limit (OMPP-LINK-005), under a bounded load (OMPP-CONF-010).
//!
//! The suite relays `GetWalletBalance` for its own customer to `NetworkLinkService` with
//! `tls.link.second_mobile`, an allow-listed identity no real mobile server uses, as fast as it
//! can within [`load::RATE_LIMIT_LOAD`], and judges the counts with [`load::judge_link`]. While
//! that identity's bucket is empty it also relays as `tls.link.as_mobile`: another peer's bucket
//! is its own, so those relays succeed. The case runs alone ([`EXCLUSIVE`]), so that its load
//! slows no other case and no other case slows its load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ompp::error::ProtocolError;
use ompp::error::catalogue::wire_name;
use ompp::proto::v1 as pb;
use pb::ErrorReason as R;
use pb::network_link_service_client::NetworkLinkServiceClient;
use tonic::transport::Channel;

use super::OC;
use super::body;
use super::link::{channel, envelope, link};
use crate::case::{Abort, Case, Checks, describe_status};
use crate::load::{self, Answer, RATE_LIMIT_LOAD};
use crate::target::Target;

/// Cases that send load and so run alone (OMPP-CONF-010).
pub(super) const EXCLUSIVE: &[&str] = &["oc.link.rate-limit"];

/// Connections the load is spread over.
const CONNECTIONS: usize = 4;

/// Relays sent as the other peer while the load's bucket is empty.
const PROBES: u64 = 20;

/// Refusals for rate seen before the probes start: the load's bucket is then empty.
const PROBES_AFTER_LIMITED: u64 = 200;

pub(super) fn cases() -> Vec<Case> {
    vec![Case {
        id: "oc.link.rate-limit",
        title: "a link peer's bucket holds 10,000 requests and refills at 5,000 per second: a relay that finds it empty fails with LINK_RATE_LIMITED, none that finds a token does, and another peer is not slowed",
        role: OC,
        profile: None,
        requirements: &["OMPP-LINK-005", "OMPP-CONF-010"],
        run: body!(rate_limit),
    }]
}

fn balance_relay(
    sender: &str,
    message_id: &str,
    device_id: &str,
) -> pb::RelayGetWalletBalanceRequest {
    pb::RelayGetWalletBalanceRequest {
        envelope: Some(envelope(sender, message_id, 0)),
        device_id: device_id.to_owned(),
        request: Some(pb::GetWalletBalanceRequest {}),
    }
}

/// The load's view of one answer.
fn answer<T>(result: &Result<tonic::Response<T>, tonic::Status>) -> Answer {
    match result {
        Ok(_) => Answer::Served,
        Err(status) => match ProtocolError::from_status(status) {
            Ok(error) if error.reason == R::LinkRateLimited => Answer::RateLimited,
            Ok(error) => Answer::Other(wire_name(error.reason).to_owned()),
            Err(_) => Answer::Other(describe_status(status)),
        },
    }
}

/// What the load keeps for the transcript and the probes' verdicts.
#[derive(Default)]
struct Seen {
    /// The first answer OK and the first LINK_RATE_LIMITED, for the transcript.
    first_ok: Option<Result<tonic::Response<pb::RelayGetWalletBalanceResponse>, tonic::Status>>,
    first_limited:
        Option<Result<tonic::Response<pb::RelayGetWalletBalanceResponse>, tonic::Status>>,
    /// The probes' answers.
    probes: Vec<Answer>,
}

async fn rate_limit(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let link = link(target, checks)?;
    let (second, second_id) = checks.setup(
        "a second link identity the network server allow-lists as a mobile server (tls.link.second_mobile)",
        link.second_mobile
            .clone()
            .ok_or("the manifest does not give it"),
    )?;
    let ana = target.customer(checks, 0).await?;
    let mut load_clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let channel = channel(
            target,
            checks,
            &link.network_link_url,
            &link.anchors_pem,
            &second,
        )
        .await?;
        load_clients.push(NetworkLinkServiceClient::new(channel));
    }
    let probe: NetworkLinkServiceClient<Channel> = NetworkLinkServiceClient::new(
        channel(
            target,
            checks,
            &link.network_link_url,
            &link.anchors_pem,
            &link.as_mobile,
        )
        .await?,
    );

    let prefix = target.key("link-rate");
    let limited_seen = Arc::new(AtomicU64::new(0));
    let probes_started = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (device_id, as_mobile_id) = (ana.device_id.clone(), link.as_mobile_id.clone());
    let send = {
        let seen = seen.clone();
        move |n: u64| {
            let mut client = load_clients[usize::try_from(n).unwrap_or(0) % CONNECTIONS].clone();
            let mut probe = probe.clone();
            let request = balance_relay(&second_id, &format!("{prefix}-{n}"), &device_id);
            let probe_id = format!("{prefix}-probe-{n}");
            let (as_mobile_id, device_id) = (as_mobile_id.clone(), device_id.clone());
            let (limited_seen, probes_started, seen) =
                (limited_seen.clone(), probes_started.clone(), seen.clone());
            async move {
                let result = client.relay_get_wallet_balance(request).await;
                let answer = answer(&result);
                {
                    let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    match answer {
                        Answer::Served if seen.first_ok.is_none() => seen.first_ok = Some(result),
                        Answer::RateLimited if seen.first_limited.is_none() => {
                            seen.first_limited = Some(result);
                        }
                        _ => {}
                    }
                }
                // While the load's bucket is empty, the other peer's relays must pass.
                if answer == Answer::RateLimited
                    && limited_seen.fetch_add(1, Ordering::Relaxed) + 1 >= PROBES_AFTER_LIMITED
                    && probes_started.fetch_add(1, Ordering::Relaxed) < PROBES
                {
                    let probed = probe
                        .relay_get_wallet_balance(balance_relay(
                            &as_mobile_id,
                            &probe_id,
                            &device_id,
                        ))
                        .await;
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .probes
                        .push(self::answer(&probed));
                }
                answer
            }
        }
    };
    let tally = load::drive(RATE_LIMIT_LOAD, send).await;
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    if let Some(first) = &seen.first_ok {
        checks.log(
            "a relay from the second mobile identity while its bucket has tokens",
            first,
        );
    }
    if let Some(first) = &seen.first_limited {
        checks.log(
            "a relay from the second mobile identity once its bucket is empty",
            first,
        );
    }

    let bounds = RATE_LIMIT_LOAD;
    checks.record(
        "OMPP-CONF-010",
        "the load stays within its bounds, sent to endpoints.network_link only",
        format!(
            "at most {} requests, none after {} s",
            bounds.max_requests,
            bounds.max_duration.as_secs()
        ),
        format!(
            "{} requests over {:.2} s, the last sent at {:.2} s",
            tally.sent,
            tally
                .last_answer
                .saturating_sub(tally.first_send)
                .as_secs_f64(),
            tally.last_send.as_secs_f64()
        ),
        tally.sent <= bounds.max_requests && tally.last_send <= bounds.max_duration,
    );
    let judgement = load::judge_link(&tally);
    let counts = format!(
        "{} sent at {:.0} per s: {} answered OK, {} LINK_RATE_LIMITED, {} otherwise{}",
        tally.sent,
        tally.rate(),
        tally.served,
        tally.limited,
        tally.other,
        tally
            .first_other
            .as_ref()
            .map(|first| format!(" (first: {first})"))
            .unwrap_or_default()
    );
    if !judgement.conclusive {
        // The suite did not send fast enough to empty the bucket: nothing can be decided.
        checks.setup(
            "send faster than the bucket refills, long enough to empty it (the suite sends about 10,000 relays per second to the in-process reference on two cores)",
            Err(format!("the bucket never emptied: {counts}")),
        )?;
    }
    checks.record(
        "OMPP-LINK-005",
        "no more relays are served than the bucket can hold plus its refill over the load",
        format!("at most {} OK", judgement.most_served),
        counts.clone(),
        judgement.limits,
    );
    checks.record(
        "OMPP-LINK-005",
        "no relay is refused for rate while the bucket has a token: a full bucket and its refill are served",
        format!("at least {} OK", judgement.least_served),
        counts.clone(),
        judgement.none_refused_early,
    );
    checks.equal(
        "OMPP-LINK-005",
        "every relay is answered OK or LINK_RATE_LIMITED",
        0,
        tally.other,
    );
    if tally.limited < PROBES_AFTER_LIMITED {
        // The bucket never stayed empty long enough for the other peer's relays to be sent.
        return Ok(());
    }
    let probes_ok = seen.probes.iter().filter(|a| **a == Answer::Served).count();
    checks.record(
        "OMPP-LINK-005",
        "while the second identity's bucket is empty, relays from the mobile server's own identity are served: each peer has its own bucket",
        format!("{PROBES} of {PROBES} OK"),
        format!(
            "{probes_ok} of {} OK{}",
            seen.probes.len(),
            seen.probes
                .iter()
                .find_map(|a| match a {
                    Answer::RateLimited => Some(" (others LINK_RATE_LIMITED)".to_owned()),
                    Answer::Other(why) => Some(format!(" (others {why})")),
                    Answer::Served => None,
                })
                .unwrap_or_default()
        ),
        u64::try_from(probes_ok).unwrap_or(0) == PROBES,
    );
    Ok(())
}
