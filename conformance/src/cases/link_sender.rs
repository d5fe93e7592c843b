//! The network server as a secure-link sender, judged at the suite's link proxy
//! ([`crate::parties::link`]), which the network server calls instead of the mobile server: the
//! envelope of every request it sends, retries included (OMPP-LINK-010), and whether it sends a
//! push the mobile server did not take again (OMPP-FLA-022).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ompp::conformance::Profile;
use ompp::proto::v1 as pb;

use super::flow_a::create;
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::parties::link::{LinkMessage, LinkProxy};
use crate::target::{Customer, PASSWORD, Target, money};

/// How far a request's `sent_at` may be from when the suite received it: the network server
/// and the suite run side by side (loopback or one data center), so this is generous.
const SEND_TIME_SLACK: Duration = Duration::from_secs(5);

/// How long the case waits for a push the suite refused to be sent again.
const RETRY_WAIT: Duration = Duration::from_secs(10);

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.link.sender-envelope",
            title: "every secure-link request the network server sends, a push sent again included, has a message_id it never used before and a sent_at from its clock at sending",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-LINK-010"],
            run: body!(sender_envelope),
        },
        Case {
            id: "oc.flow-a.push-retried",
            title: "a PushPaymentRequest the mobile server did not take is sent again until it is taken",
            role: OC,
            profile: Some(Profile::FlowA),
            requirements: &["OMPP-FLA-022"],
            run: body!(push_retried),
        },
    ]
}

fn proxy<'a>(target: &'a Target, checks: &Checks) -> Result<&'a LinkProxy, Abort> {
    checks.setup(
        "the suite between the network server and the mobile server (counterparties.link_listen, tls.link; OMPP-CONF-009)",
        target
            .link_proxy
            .as_ref()
            .ok_or("the manifest does not give them"),
    )
}

/// A customer whose next push the suite refuses, and the payment pushed to it; returns when a
/// push of that payment was taken (forwarded) or after [`RETRY_WAIT`].
async fn refused_once(
    target: &Target,
    checks: &Checks,
    proxy: &LinkProxy,
) -> Result<(Customer, String), Abort> {
    let ana = target.customer(checks, 1_000).await?;
    proxy.refuse_pushes(&ana.device_id, 1);
    let mut merchant = target.merchant(checks).await?;
    let created = checks.setup_call(
        "CreatePayment",
        merchant
            .create_payment(create(target, &ana.customer_id, 250, &target.key("link")))
            .await,
    )?;
    let payment_id = created.payment.unwrap_or_default().payment_id;
    let started = Instant::now();
    while started.elapsed() < RETRY_WAIT
        && !pushes(proxy, &ana.device_id, &payment_id)
            .iter()
            .any(|m| !m.refused)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((ana, payment_id))
}

fn pushes(proxy: &LinkProxy, device_id: &str, payment_id: &str) -> Vec<LinkMessage> {
    proxy
        .messages_for(device_id)
        .into_iter()
        .filter(|m| m.rpc == "PushPaymentRequest" && m.payment_id == payment_id)
        .collect()
}

fn millis(t: SystemTime) -> i128 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_millis()).unwrap_or(i128::MAX))
}

fn sent_millis(envelope: &pb::LinkEnvelope) -> Option<i128> {
    let at = envelope.sent_at.as_ref()?;
    Some(i128::from(at.seconds) * 1000 + i128::from(at.nanos / 1_000_000))
}

async fn sender_envelope(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let proxy = proxy(target, checks)?;
    let (mut ana, payment_id) = refused_once(target, checks, proxy).await?;
    // Settling the payment makes the network server send the customer a notice as well.
    checks.setup_call(
        "ConfirmPayment",
        ana.device
            .confirm_payment(pb::ConfirmPaymentRequest {
                payment_id: payment_id.clone(),
                amount: Some(money(250)),
                password: PASSWORD.into(),
            })
            .await,
    )?;
    let started = Instant::now();
    while started.elapsed() < RETRY_WAIT
        && !proxy
            .messages_for(&ana.device_id)
            .iter()
            .any(|m| m.rpc == "PushNotice")
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let messages = proxy.messages_for(&ana.device_id);
    let retried = pushes(proxy, &ana.device_id, &payment_id).len() > 1;
    checks.record(
        "OMPP-LINK-010",
        "the network server sent the customer's devices requests on the secure link",
        "the push (refused once), any push sent again, and the settlement notice",
        format!(
            "{:?}",
            messages
                .iter()
                .map(|m| (m.rpc, m.refused))
                .collect::<Vec<_>>()
        ),
        !messages.is_empty(),
    );
    let ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.envelope.as_ref())
        .map(|e| e.message_id.as_str())
        .collect();
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    checks.record(
        "OMPP-LINK-010",
        if retried {
            "every request has an envelope with a message_id of its own, the push sent again included"
        } else {
            "every request has an envelope with a message_id of its own"
        },
        format!("{} distinct message ids", messages.len()),
        format!("{} envelopes, {} distinct ids", ids.len(), distinct.len()),
        ids.len() == messages.len() && distinct.len() == ids.len(),
    );
    let slack = i128::try_from(SEND_TIME_SLACK.as_millis()).unwrap_or(i128::MAX);
    let offsets: Vec<Option<i128>> = messages
        .iter()
        .map(|m| {
            let sent = sent_millis(m.envelope.as_ref()?)?;
            Some(millis(m.received_at) - sent)
        })
        .collect();
    checks.record(
        "OMPP-LINK-010",
        "every sent_at is the sender's clock at sending: within 5 s of when the request arrived, a push sent again included",
        "each received_at - sent_at within ±5000 ms",
        format!("{offsets:?} ms"),
        offsets
            .iter()
            .all(|o| o.is_some_and(|o| (-slack..=slack).contains(&o))),
    );
    Ok(())
}

async fn push_retried(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let proxy = proxy(target, checks)?;
    let (ana, payment_id) = refused_once(target, checks, proxy).await?;
    let sent = pushes(proxy, &ana.device_id, &payment_id);
    checks.record(
        "OMPP-FLA-022",
        format!(
            "the push the mobile server refused is sent again and taken within {} s",
            RETRY_WAIT.as_secs()
        ),
        "a refused push, then one taken",
        format!(
            "{:?}",
            sent.iter()
                .map(|m| if m.refused { "refused" } else { "taken" })
                .collect::<Vec<_>>()
        ),
        sent.first().is_some_and(|m| m.refused) && sent.iter().any(|m| !m.refused),
    );
    Ok(())
}
