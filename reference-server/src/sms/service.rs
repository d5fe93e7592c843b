//! The SMS center's state shared by its two services, and `SmsCenterService` (the network
//! server's side).
//!
//! Open handset streams live in a hub keyed by phone number. The hub's lock is held across the
//! store call and the hand-off to the streams, both when a message is submitted and when a
//! stream opens: a stream therefore gets every message exactly once and oldest first, whether it
//! was queued before the stream opened or arrived after.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ompp::error::ProtocolError;
use ompp::limits::MAX_REQUEST_BYTES;
use ompp::proto::v1 as pb;
use ompp::proto::v1::sms_center_service_server::SmsCenterService;
use ompp::requests::Request as _;
use ompp::requests::sms::{GetDeliveryReport, SubmitMessage};
use ompp::types::{HandsetId, HandsetToken, PartyIdentity, PhoneNumber, SmsMessageId};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::SmsFaults;
use super::store::{
    Acknowledged, Ended, Opened, Outgoing, Report, SmsStore, Submitted, token_digest,
};
use crate::clock::Clock;
use crate::errors::blocking;

/// Room on a handset stream beyond its backlog; a handset that falls this far behind is
/// dropped and gets everything again when it reconnects (OMPP-SMS-004).
const STREAM_SLACK: usize = 64;

pub(crate) type StreamItem = Result<pb::ReceiveMessagesResponse, Status>;

#[derive(Debug)]
struct HandsetStream {
    handset_id: String,
    tx: mpsc::Sender<StreamItem>,
}

#[derive(Debug, Default)]
struct Hub {
    /// Set at shutdown: no new streams.
    closed: bool,
    /// Open streams per phone number.
    streams: HashMap<String, Vec<HandsetStream>>,
}

/// State shared by `SmsCenterService`, `HandsetService` and the expiry sweeper.
#[derive(Debug, Clone)]
pub(crate) struct Sms {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: SmsStore,
    clock: Arc<dyn Clock>,
    faults: SmsFaults,
    allowed_clients: Vec<PartyIdentity>,
    hub: Mutex<Hub>,
}

/// A phone number as it may appear in logs.
fn masked(number: &str) -> String {
    PhoneNumber::parse(number)
        .map(|n| n.masked())
        .unwrap_or_else(|_| "<malformed>".to_owned())
}

fn log_ended(ended: &[Ended]) {
    for message in ended {
        tracing::info!(
            message_id = %message.message_id,
            recipient = %masked(&message.recipient),
            status = %message.status,
            "message validity ended before delivery"
        );
    }
}

fn unknown_handset() -> ProtocolError {
    ProtocolError::new(
        pb::ErrorReason::UnknownHandset,
        "unknown handset or wrong handset token",
    )
}

/// Rejects a request whose encoded form exceeds `MAX_REQUEST_BYTES` (OMPP-MSG-010).
pub(crate) fn check_size<T: prost::Message>(request: &Request<T>) -> Result<(), ProtocolError> {
    if request.get_ref().encoded_len() > MAX_REQUEST_BYTES {
        return Err(ProtocolError::new(
            pb::ErrorReason::MessageTooLarge,
            format!("requests are limited to {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    Ok(())
}

impl Sms {
    pub(crate) fn new(
        store: SmsStore,
        clock: Arc<dyn Clock>,
        faults: SmsFaults,
        allowed_clients: Vec<PartyIdentity>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                faults,
                allowed_clients,
                hub: Mutex::new(Hub::default()),
            }),
        }
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.inner
            .hub
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every open handset stream and refuses new ones (shutdown).
    pub(crate) fn close_streams(&self) {
        let mut hub = self.hub();
        hub.closed = true;
        hub.streams.clear();
    }

    /// Stores a submission and hands a new message to the recipient's open streams.
    fn submit(&self, message: &SubmitMessage) -> Result<Report, ProtocolError> {
        let now = self.inner.clock.now();
        let mut hub = self.hub();
        let (outcome, ended) = self.inner.store.submit(message, now)?;
        log_ended(&ended);
        let id = message.message_id.as_str();
        let recipient = message.recipient.masked();
        match outcome {
            Submitted::Retry(report) => {
                tracing::info!(message_id = %id, status = ?report.status, "message submitted again");
                Ok(report)
            }
            Submitted::New(report) => {
                let outgoing = Outgoing {
                    message_id: id.to_owned(),
                    sender: message.sender.as_str().to_owned(),
                    text: message.text.as_str().to_owned(),
                    submitted_at: now,
                }
                .to_proto();
                let mut streams = 0;
                if let Some(open) = hub.streams.get_mut(message.recipient.as_str()) {
                    open.retain(|s| {
                        let sent = s.tx.try_send(Ok(outgoing.clone())).is_ok();
                        if !sent {
                            // Gone or too far behind: it gets the message on its next stream.
                            tracing::info!(handset_id = %s.handset_id, "handset stream dropped");
                        }
                        sent
                    });
                    streams = open.len();
                    if open.is_empty() {
                        hub.streams.remove(message.recipient.as_str());
                    }
                }
                tracing::info!(message_id = %id, %recipient, streams, "message queued");
                Ok(report)
            }
        }
    }

    fn report(&self, message_id: &SmsMessageId) -> Result<Report, ProtocolError> {
        let (report, ended) = self
            .inner
            .store
            .report(message_id, self.inner.clock.now())?;
        log_ended(&ended);
        report.ok_or_else(|| {
            ProtocolError::new(
                pb::ErrorReason::NotFound,
                "no message with that id was submitted",
            )
        })
    }

    /// Registers a handset for `phone` with a new id and token, ending the streams of the
    /// handset it replaces (OMPP-SMS-008, OMPP-SMS-009).
    pub(crate) fn register(
        &self,
        phone: &PhoneNumber,
    ) -> Result<(HandsetId, String), ProtocolError> {
        let handset_id =
            HandsetId::parse(&crate::clock::random_id("hs-")).map_err(crate::errors::internal)?;
        let token = new_token();
        let mut hub = self.hub();
        #[allow(unused_mut)]
        let mut replace = true;
        // Broken variant for the conformance suite's own tests (feature "defects").
        #[cfg(feature = "defects")]
        if self
            .inner
            .faults
            .defect(crate::defects::Defect::KeepReplacedHandset)
        {
            replace = false;
        }
        let replaced = self.inner.store.register(
            &handset_id,
            phone,
            &token_digest(&token),
            self.inner.clock.now(),
            replace,
        )?;
        if !replace {
            tracing::info!(%handset_id, "handset added (defect: the earlier one is kept)");
            return Ok((handset_id, token));
        }
        if let Some(open) = hub.streams.remove(phone.as_str()) {
            for stream in open {
                let _ = stream.tx.try_send(Err(unknown_handset().into()));
            }
        }
        tracing::info!(
            %handset_id,
            phone = %phone.masked(),
            replaced = ?replaced,
            "handset registered"
        );
        Ok((handset_id, token))
    }

    /// Opens a stream for an authenticated handset, loaded with its backlog (OMPP-SMS-004).
    pub(crate) fn open_stream(
        &self,
        handset_id: &HandsetId,
        token: &HandsetToken,
    ) -> Result<mpsc::Receiver<StreamItem>, ProtocolError> {
        let mut hub = self.hub();
        if hub.closed {
            return Err(ProtocolError::new(
                pb::ErrorReason::ServiceUnavailable,
                "the SMS center is shutting down",
            ));
        }
        let (opened, ended) = self.inner.store.open_stream(
            handset_id,
            &token_digest(token.expose()),
            self.inner.clock.now(),
        )?;
        log_ended(&ended);
        let Some(Opened { phone, backlog }) = opened else {
            tracing::info!(%handset_id, "stream refused: unknown handset or wrong token");
            return Err(unknown_handset());
        };
        let (tx, rx) = mpsc::channel(backlog.len() + STREAM_SLACK);
        for message in &backlog {
            // The channel has room for the whole backlog.
            if tx.try_send(Ok(message.to_proto())).is_err() {
                return Err(crate::errors::internal(
                    "handset stream closed while loading",
                ));
            }
        }
        tracing::info!(
            %handset_id,
            phone = %masked(&phone),
            backlog = backlog.len(),
            "handset stream opened"
        );
        hub.streams.entry(phone).or_default().push(HandsetStream {
            handset_id: handset_id.to_string(),
            tx,
        });
        Ok(rx)
    }

    /// Acknowledges a message for an authenticated handset (OMPP-SMS-010, OMPP-SMS-011).
    pub(crate) fn acknowledge(
        &self,
        handset_id: &HandsetId,
        token: &HandsetToken,
        message_id: &SmsMessageId,
    ) -> Result<Report, ProtocolError> {
        let (outcome, ended) = self.inner.store.acknowledge(
            handset_id,
            &token_digest(token.expose()),
            message_id,
            self.inner.clock.now(),
        )?;
        log_ended(&ended);
        match outcome {
            Acknowledged::UnknownHandset => Err(unknown_handset()),
            Acknowledged::NotFound => Err(ProtocolError::new(
                pb::ErrorReason::NotFound,
                "no message with that id is addressed to this handset",
            )),
            Acknowledged::Delivered { report, now } => {
                if now {
                    tracing::info!(%message_id, %handset_id, "message delivered");
                }
                Ok(report)
            }
            Acknowledged::Ended(report) => {
                tracing::info!(%message_id, %handset_id, status = ?report.status, "late acknowledgement");
                Err(ProtocolError::new(
                    pb::ErrorReason::SmsUndeliverable,
                    "the message's validity ended before it was acknowledged",
                ))
            }
        }
    }

    /// Ends messages whose validity is over, and drops streams whose handset went away.
    pub(crate) fn sweep(&self) -> Result<(), ProtocolError> {
        let ended = self.inner.store.expire_due(self.inner.clock.now())?;
        log_ended(&ended);
        let mut hub = self.hub();
        hub.streams.retain(|_, open| {
            open.retain(|s| !s.tx.is_closed());
            !open.is_empty()
        });
        Ok(())
    }

    /// The caller's identity, which must be on the allow-list (OMPP-TLS-009, OMPP-TLS-010).
    fn check_peer<T>(&self, request: &Request<T>) -> Result<PartyIdentity, ProtocolError> {
        let identity = crate::tls::peer_identity(request).ok_or_else(|| {
            ProtocolError::new(
                pb::ErrorReason::UnauthenticatedPeer,
                "this service requires a client certificate",
            )
        })?;
        if self.inner.allowed_clients.contains(&identity) {
            Ok(identity)
        } else {
            tracing::warn!(%identity, "SmsCenterService caller not allowed");
            Err(ProtocolError::new(
                pb::ErrorReason::PeerNotAllowed,
                "this identity may not call the SMS center",
            ))
        }
    }

    async fn delay(&self) {
        let latency = self.inner.faults.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

/// A fresh handset token: 32 bytes from a cryptographically secure generator, base64url without
/// padding (43 characters, within `HANDSET_TOKEN_LEN`, OMPP-SMS-008).
fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64url(&bytes)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let index = (word >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// `SmsCenterService`: the network server submits messages and reads delivery reports.
#[derive(Debug, Clone)]
pub(crate) struct SmsCenterHandler {
    sms: Sms,
}

impl SmsCenterHandler {
    pub(crate) fn new(sms: Sms) -> Self {
        Self { sms }
    }

    async fn submit(
        &self,
        request: &Request<pb::SubmitMessageRequest>,
    ) -> Result<pb::SubmitMessageResponse, ProtocolError> {
        self.sms.check_peer(request)?;
        check_size(request)?;
        if self.sms.inner.faults.unavailable() {
            tracing::info!("SubmitMessage refused: unavailable (fault injection)");
            return Err(ProtocolError::new(
                pb::ErrorReason::ServiceUnavailable,
                "the SMS center is unavailable",
            ));
        }
        let message = SubmitMessage::parse(request.get_ref())?;
        let sms = self.sms.clone();
        let report = blocking(move || sms.submit(&message)).await?;
        Ok(pb::SubmitMessageResponse {
            report: Some(report.to_proto()),
        })
    }

    async fn get_report(
        &self,
        request: &Request<pb::GetDeliveryReportRequest>,
    ) -> Result<pb::GetDeliveryReportResponse, ProtocolError> {
        self.sms.check_peer(request)?;
        check_size(request)?;
        let query = GetDeliveryReport::parse(request.get_ref())?;
        let sms = self.sms.clone();
        let report = blocking(move || sms.report(&query.message_id)).await?;
        Ok(pb::GetDeliveryReportResponse {
            report: Some(report.to_proto()),
        })
    }
}

#[tonic::async_trait]
impl SmsCenterService for SmsCenterHandler {
    async fn submit_message(
        &self,
        request: Request<pb::SubmitMessageRequest>,
    ) -> Result<Response<pb::SubmitMessageResponse>, Status> {
        let result = self.submit(&request).await;
        self.sms.delay().await;
        result.map(Response::new).map_err(Status::from)
    }

    async fn get_delivery_report(
        &self,
        request: Request<pb::GetDeliveryReportRequest>,
    ) -> Result<Response<pb::GetDeliveryReportResponse>, Status> {
        let result = self.get_report(&request).await;
        self.sms.delay().await;
        result.map(Response::new).map_err(Status::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64url(input.as_bytes()), expected);
        }
        assert_eq!(base64url(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn tokens_are_43_url_safe_characters_and_valid_handset_tokens() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(HandsetToken::parse(&a).is_ok());
    }
}
