//! Both ends of the secure link: building envelopes, and the firewall in front of every
//! received link message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ompp::error::ProtocolError;
use ompp::firewall::{Firewall, FirewallCounters};
use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::link::Envelope;
use ompp::types::PartyIdentity;
use prost::Message as _;

use crate::clock::{Clock, random_id};

/// Stamps outgoing link messages with this end's identity, a fresh message id and the time.
#[derive(Debug, Clone)]
pub struct EnvelopeStamp {
    /// This end's link identity.
    pub identity: PartyIdentity,
    /// The clock for `sent_at`.
    pub clock: Arc<dyn Clock>,
}

impl EnvelopeStamp {
    /// A new envelope.
    pub fn envelope(&self) -> pb::LinkEnvelope {
        pb::LinkEnvelope {
            sender_id: self.identity.to_string(),
            message_id: random_id("msg-"),
            sent_at: Some(self.clock.now().to_proto()),
        }
    }
}

/// A link request that carries an envelope.
pub trait Enveloped {
    /// The request's envelope.
    fn envelope(&self) -> &Envelope;
}

impl<T> Enveloped for ompp::requests::link::Relayed<T> {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }
}

macro_rules! enveloped {
    ($($t:ident),*) => {$(
        impl Enveloped for ompp::requests::link::$t {
            fn envelope(&self) -> &Envelope {
                &self.envelope
            }
        }
    )*};
}
enveloped!(PushPaymentRequest, PushNotice, ListPendingRequests);

/// The firewall guarding one link listener, shared by its handlers.
#[derive(Debug, Clone)]
pub struct LinkGuard {
    firewall: Arc<Mutex<Firewall>>,
    clock: Arc<dyn Clock>,
    /// Decisions per peer and outcome (OMPP-LINK-009).
    per_peer: Arc<Mutex<BTreeMap<(String, &'static str), u64>>>,
}

impl LinkGuard {
    /// A guard around `firewall`.
    pub fn new(firewall: Firewall, clock: Arc<dyn Clock>) -> Self {
        Self {
            firewall: Arc::new(Mutex::new(firewall)),
            clock,
            per_peer: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Counts one decision for `peer` (OMPP-LINK-009).
    fn count(&self, peer: &PartyIdentity, outcome: &'static str) {
        let mut counts = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry((peer.to_string(), outcome)).or_default() += 1;
    }

    /// The decisions so far per peer identity and outcome (`accepted` or a rejection label).
    pub fn peer_counts(&self) -> BTreeMap<(String, &'static str), u64> {
        self.per_peer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn firewall(&self) -> std::sync::MutexGuard<'_, Firewall> {
        self.firewall.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scrutinizes and parses one received link message, in the order of OMPP-LINK-007: the
    /// caller's TLS identity on the allow-list, the message size, the peer's rate; then the
    /// message must parse; then its envelope (sender = TLS identity, skew, replay). Every
    /// decision is counted; rejections are logged with identities and ids, never payload.
    pub fn admit<R>(
        &self,
        request: &tonic::Request<R::Proto>,
        rpc: &'static str,
    ) -> Result<R, ProtocolError>
    where
        R: Request + Enveloped,
    {
        let peer = crate::tls::peer_identity(request).ok_or_else(|| {
            ProtocolError::new(
                pb::ErrorReason::UnauthenticatedPeer,
                "the secure link requires a client certificate",
            )
        })?;
        let size = request.get_ref().encoded_len();
        let now = self.clock.now();
        let admitted = self.firewall().admit(&peer, size, now).map_err(|rejection| {
            tracing::warn!(rpc, %peer, size, rejection = rejection.label(), "firewall rejected a link message");
            self.count(&peer, rejection.label());
            ProtocolError::from(rejection)
        })?;
        let parsed = match R::parse(request.get_ref()) {
            Ok(parsed) => parsed,
            Err(invalid) => {
                self.firewall().reject_invalid_envelope(admitted);
                tracing::warn!(rpc, %peer, "firewall rejected a malformed link message");
                self.count(&peer, "invalid_envelope");
                return Err(invalid.into());
            }
        };
        let envelope = parsed.envelope();
        self.firewall()
            .check_envelope(admitted, envelope, now)
            .map_err(|rejection| {
                tracing::warn!(
                    rpc,
                    %peer,
                    sender = %envelope.sender,
                    message_id = %envelope.message_id,
                    rejection = rejection.label(),
                    "firewall rejected a link message"
                );
                self.count(&peer, rejection.label());
                ProtocolError::from(rejection)
            })?;
        // OMPP-LINK-009: every decision is counted per peer and logged (never the payload).
        tracing::debug!(rpc, %peer, message_id = %envelope.message_id, "link message accepted");
        self.count(&peer, "accepted");
        Ok(parsed)
    }

    /// The firewall's decision counts so far.
    pub fn counters(&self) -> FirewallCounters {
        self.firewall().counters().clone()
    }
}
