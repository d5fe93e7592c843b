//! The suite's SMS center: `SmsCenterService` that queues every message it is given (report
//! `QUEUED`), idempotent by `message_id` (OMPP-SMS-002), records every submission for the cases,
//! lets a case await the next message to a phone number, and injects per-recipient faults
//! (OMPP-FLC-014).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::sms_center_service_server::SmsCenterService;
use ompp::requests::Request as _;
use ompp::requests::sms::{GetDeliveryReport, SubmitMessage};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

/// What the next `SubmitMessage` to a recipient gets instead of a `QUEUED` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `UNAVAILABLE` with `SERVICE_UNAVAILABLE`; the message is not stored.
    Unavailable,
    /// The message is stored and reported `FAILED` with `UNKNOWN_HANDSET` (OMPP-SMS-006).
    Undeliverable,
    /// No answer: the call is recorded and held open until the hold is released (at most
    /// [`SILENCE_LIMIT`]), then refused; a caller with a shorter deadline sees a timeout.
    Silent,
}

/// The longest a [`Fault::Silent`] call is held open.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30);

/// One `SubmitMessage` call, as the SMS center answered it.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The request.
    pub request: pb::SubmitMessageRequest,
    /// The report answered; `None` when the call got an RPC error.
    pub answered: Option<pb::DeliveryReport>,
    /// When the answer left.
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Faults {
    queue: VecDeque<Fault>,
    /// Every submission gets this fault while set.
    held: Option<Fault>,
}

#[derive(Debug, Default)]
struct State {
    submissions: Vec<Submission>,
    /// Stored messages with their report, by `message_id`.
    stored: HashMap<String, (pb::SubmitMessageRequest, pb::DeliveryReport)>,
    faults: HashMap<String, Faults>,
}

/// The suite's SMS center; clones share the state.
#[derive(Debug, Clone)]
pub struct Sms {
    state: Arc<Mutex<State>>,
    /// Counts submissions, so that waiters wake up.
    received: Arc<watch::Sender<u64>>,
}

impl Default for Sms {
    fn default() -> Self {
        Self {
            state: Arc::default(),
            received: Arc::new(watch::channel(0).0),
        }
    }
}

/// The messages to one phone number, read one after the other.
#[derive(Debug)]
pub struct Inbox {
    sms: Sms,
    phone: String,
    /// How many distinct messages were read.
    read: usize,
}

impl Inbox {
    /// The next message with a `message_id` not read before (whatever its answer), if one is
    /// submitted within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<pb::SubmitMessageRequest, String> {
        let mut changed = self.sms.received.subscribe();
        let wait = async {
            loop {
                if let Some(message) = self.sms.distinct_to(&self.phone).get(self.read) {
                    return Ok(message.clone());
                }
                if changed.changed().await.is_err() {
                    return Err("the suite's SMS center stopped".to_owned());
                }
            }
        };
        let message = tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| format!("no SMS to the number within {} s", timeout.as_secs()))??;
        self.read += 1;
        Ok(message)
    }
}

fn now_proto() -> prost_types::Timestamp {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or(0),
    }
}

impl Sms {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the messages to `phone` from now on (earlier ones are skipped).
    pub fn inbox(&self, phone: &str) -> Inbox {
        Inbox {
            read: self.distinct_to(phone).len(),
            sms: self.clone(),
            phone: phone.to_owned(),
        }
    }

    /// The first submission of each `message_id` to `phone`, oldest first.
    fn distinct_to(&self, phone: &str) -> Vec<pb::SubmitMessageRequest> {
        let state = self.lock();
        let mut seen = std::collections::HashSet::new();
        state
            .submissions
            .iter()
            .filter(|s| s.request.recipient == phone && seen.insert(s.request.message_id.clone()))
            .map(|s| s.request.clone())
            .collect()
    }

    /// Every `SubmitMessage` call to `phone`, oldest first.
    pub fn submissions_to(&self, phone: &str) -> Vec<Submission> {
        self.lock()
            .submissions
            .iter()
            .filter(|s| s.request.recipient == phone)
            .cloned()
            .collect()
    }

    /// Queues `faults` for the next submissions to `phone`.
    pub fn inject(&self, phone: &str, faults: impl IntoIterator<Item = Fault>) {
        self.lock()
            .faults
            .entry(phone.to_owned())
            .or_default()
            .queue
            .extend(faults);
    }

    /// Gives every submission to `phone` the `fault` until [`Sms::release`].
    pub fn hold(&self, phone: &str, fault: Fault) {
        self.lock().faults.entry(phone.to_owned()).or_default().held = Some(fault);
    }

    fn silenced(&self, phone: &str) -> bool {
        self.lock()
            .faults
            .get(phone)
            .is_some_and(|f| f.held == Some(Fault::Silent))
    }

    /// Ends [`Sms::hold`] and drops queued faults for `phone`.
    pub fn release(&self, phone: &str) {
        self.lock().faults.remove(phone);
    }

    fn record(&self, request: pb::SubmitMessageRequest, answered: Option<pb::DeliveryReport>) {
        self.lock().submissions.push(Submission {
            request,
            answered,
            at: Instant::now(),
        });
        self.received.send_modify(|n| *n += 1);
    }
}

#[tonic::async_trait]
impl SmsCenterService for Sms {
    async fn submit_message(
        &self,
        request: Request<pb::SubmitMessageRequest>,
    ) -> Result<Response<pb::SubmitMessageResponse>, Status> {
        super::admit(&request)?;
        let proto = request.into_inner();
        if let Err(error) = SubmitMessage::parse(&proto) {
            self.record(proto, None);
            return Err(error.into());
        }
        let answer = {
            let mut state = self.lock();
            let fault = state
                .faults
                .get_mut(&proto.recipient)
                .and_then(|f| f.held.or_else(|| f.queue.pop_front()));
            match (state.stored.get(&proto.message_id), fault) {
                (_, Some(Fault::Silent)) => Err(None),
                (_, Some(Fault::Unavailable)) => Err(Some(ProtocolError::new(
                    pb::ErrorReason::ServiceUnavailable,
                    "the SMS center is temporarily unavailable",
                ))),
                // OMPP-SMS-002: a retry gets the current report, other content a conflict.
                (Some((first, report)), _) if *first == proto => Ok(report.clone()),
                (Some(_), _) => Err(Some(ProtocolError::new(
                    pb::ErrorReason::IdempotencyConflict,
                    "the message id was used before with another message",
                ))),
                (None, fault) => {
                    let report = pb::DeliveryReport {
                        message_id: proto.message_id.clone(),
                        status: if fault == Some(Fault::Undeliverable) {
                            pb::DeliveryStatus::Failed.into()
                        } else {
                            pb::DeliveryStatus::Queued.into()
                        },
                        updated_at: Some(now_proto()),
                        failure_reason: if fault == Some(Fault::Undeliverable) {
                            pb::ErrorReason::UnknownHandset.into()
                        } else {
                            0
                        },
                    };
                    state
                        .stored
                        .insert(proto.message_id.clone(), (proto.clone(), report.clone()));
                    Ok(report)
                }
            }
        };
        match answer {
            Ok(report) => {
                self.record(proto, Some(report.clone()));
                Ok(Response::new(pb::SubmitMessageResponse {
                    report: Some(report),
                }))
            }
            Err(Some(error)) => {
                self.record(proto, None);
                Err(error.into())
            }
            Err(None) => {
                // Fault::Silent: recorded now, answered (if the caller still waits) only once
                // the hold is released.
                let phone = proto.recipient.clone();
                self.record(proto, None);
                let until = tokio::time::Instant::now() + SILENCE_LIMIT;
                while self.silenced(&phone) && tokio::time::Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(ProtocolError::new(
                    pb::ErrorReason::ServiceUnavailable,
                    "the SMS center is temporarily unavailable",
                )
                .into())
            }
        }
    }

    async fn get_delivery_report(
        &self,
        request: Request<pb::GetDeliveryReportRequest>,
    ) -> Result<Response<pb::GetDeliveryReportResponse>, Status> {
        super::admit(&request)?;
        let GetDeliveryReport { message_id } = GetDeliveryReport::parse(request.get_ref())?;
        let report = self
            .lock()
            .stored
            .get(message_id.as_str())
            .map(|(_, report)| report.clone())
            .ok_or_else(|| ProtocolError::new(pb::ErrorReason::NotFound, "no such message"))?;
        Ok(Response::new(pb::GetDeliveryReportResponse {
            report: Some(report),
        }))
    }
}
