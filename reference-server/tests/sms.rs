//! The reference SMS center over real TLS on loopback: submission, handset streams,
//! acknowledgements, idempotency, expiry, SIM swap, faults, allow-list and restarts
//! (OMPP-SMS-001..012).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use ompp::error::ProtocolError;
use ompp::proto::v1 as pb;
use ompp::proto::v1::handset_service_client::HandsetServiceClient;
use ompp::proto::v1::sms_center_service_client::SmsCenterServiceClient;
use ompp_server::pki::{DevPki, Issued};
use ompp_server::sms::{RunningSms, SmsConfig, SmsError, start_sms};
use ompp_server::tls::client_tls;
use tempfile::TempDir;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

const PHONE: &str = "+4915112345678";
const OTHER_PHONE: &str = "+4915187654321";

/// A running SMS center and what a test needs to talk to it.
struct Center {
    running: Option<RunningSms>,
    dir: TempDir,
    pki: DevPki,
    config: SmsConfig,
    shutdown: watch::Sender<bool>,
}

fn loopback_config() -> SmsConfig {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    SmsConfig {
        listen: any,
        handset_listen: any,
        ..SmsConfig::default()
    }
}

impl Center {
    async fn start() -> Self {
        Self::start_with(loopback_config()).await
    }

    async fn start_with(config: SmsConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = DevPki::generate().unwrap();
        let (shutdown, rx) = watch::channel(false);
        let running = start_sms(&config, &pki, dir.path(), rx).await.unwrap();
        Self {
            running: Some(running),
            dir,
            pki,
            config,
            shutdown,
        }
    }

    /// Stops the SMS center and starts it again on the same data directory (new ports).
    async fn restart(&mut self) {
        self.running.take().unwrap().stop().await;
        let (shutdown, rx) = watch::channel(false);
        self.shutdown = shutdown;
        let running = start_sms(&self.config, &self.pki, self.dir.path(), rx)
            .await
            .unwrap();
        self.running = Some(running);
    }

    fn running(&self) -> &RunningSms {
        self.running.as_ref().unwrap()
    }

    async fn channel(
        &self,
        addr: SocketAddr,
        identity: Option<&Issued>,
    ) -> Result<Channel, tonic::transport::Error> {
        let ca = self.pki.operator_ca.cert_pem();
        Endpoint::from_shared(format!("https://localhost:{}", addr.port()))?
            .tls_config(client_tls(
                &ca,
                identity.map(|i| (i.cert_pem.as_str(), i.key_pem.as_str())),
                "localhost",
            ))?
            .timeout(Duration::from_secs(20))
            .connect()
            .await
    }

    /// `SmsCenterService` as the network server.
    async fn ns(&self) -> SmsCenterServiceClient<Channel> {
        self.center_as(&self.pki.network).await
    }

    async fn center_as(&self, identity: &Issued) -> SmsCenterServiceClient<Channel> {
        let channel = self
            .channel(self.running().addr, Some(identity))
            .await
            .unwrap();
        SmsCenterServiceClient::new(channel)
    }

    /// `HandsetService`, without a client certificate.
    async fn handsets(&self) -> HandsetServiceClient<Channel> {
        let channel = self
            .channel(self.running().handset_addr, None)
            .await
            .unwrap();
        HandsetServiceClient::new(channel)
    }

    /// Registers a handset for `phone`.
    async fn handset(&self, phone: &str) -> Handset {
        let mut client = self.handsets().await;
        let registered = client
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: phone.into(),
            })
            .await
            .unwrap()
            .into_inner();
        Handset {
            client,
            id: registered.handset_id,
            token: registered.handset_token,
        }
    }
}

struct Handset {
    client: HandsetServiceClient<Channel>,
    id: String,
    token: String,
}

impl Handset {
    async fn receive(
        &mut self,
    ) -> Result<tonic::Streaming<pb::ReceiveMessagesResponse>, tonic::Status> {
        self.client
            .receive_messages(pb::ReceiveMessagesRequest {
                handset_id: self.id.clone(),
                handset_token: self.token.clone(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn stream(&mut self) -> tonic::Streaming<pb::ReceiveMessagesResponse> {
        self.receive().await.unwrap()
    }

    async fn ack(&mut self, message_id: &str) -> Result<pb::DeliveryReport, tonic::Status> {
        self.client
            .acknowledge_message(pb::AcknowledgeMessageRequest {
                handset_id: self.id.clone(),
                handset_token: self.token.clone(),
                message_id: message_id.into(),
            })
            .await
            .map(|r| r.into_inner().report.unwrap())
    }

    /// Reconnects the client after a restart (same id and token).
    async fn reconnect(&mut self, center: &Center) {
        self.client = center.handsets().await;
    }
}

fn message(id: &str, recipient: &str, text: &str) -> pb::SubmitMessageRequest {
    pb::SubmitMessageRequest {
        message_id: id.into(),
        recipient: recipient.into(),
        sender: "OMPP".into(),
        text: text.into(),
        validity: None,
    }
}

fn seconds(secs: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: secs,
        nanos: 0,
    })
}

async fn submit(
    ns: &mut SmsCenterServiceClient<Channel>,
    request: pb::SubmitMessageRequest,
) -> Result<pb::DeliveryReport, tonic::Status> {
    ns.submit_message(request)
        .await
        .map(|r| r.into_inner().report.unwrap())
}

async fn report(
    ns: &mut SmsCenterServiceClient<Channel>,
    message_id: &str,
) -> Result<pb::DeliveryReport, tonic::Status> {
    ns.get_delivery_report(pb::GetDeliveryReportRequest {
        message_id: message_id.into(),
    })
    .await
    .map(|r| r.into_inner().report.unwrap())
}

fn status(report: &pb::DeliveryReport) -> pb::DeliveryStatus {
    report.status()
}

fn error<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> ProtocolError {
    let status = result.expect_err("the call must fail");
    ProtocolError::from_status(&status)
        .unwrap_or_else(|e| panic!("not an OMPP status ({e}): {status:?}"))
}

fn reason<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> pb::ErrorReason {
    error(result).reason
}

/// The next message on a handset stream.
async fn next(
    stream: &mut tonic::Streaming<pb::ReceiveMessagesResponse>,
) -> pb::ReceiveMessagesResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no message within 10 s")
        .expect("stream failed")
        .expect("stream ended")
}

fn millis(ts: Option<prost_types::Timestamp>) -> i64 {
    let ts = ts.unwrap();
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

#[tokio::test]
async fn a_message_is_queued_received_and_acknowledged() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let mut handset = center.handset(PHONE).await;
    let mut stream = handset.stream().await;

    let queued = submit(
        &mut ns,
        message("sms-1", PHONE, "Code 123456 for 12.50 EUR"),
    )
    .await
    .unwrap();
    assert_eq!(queued.message_id, "sms-1");
    assert_eq!(status(&queued), pb::DeliveryStatus::Queued);
    assert_eq!(queued.failure_reason(), pb::ErrorReason::Unspecified);

    let received = next(&mut stream).await;
    assert_eq!(received.message_id, "sms-1");
    assert_eq!(received.sender, "OMPP");
    assert_eq!(received.text, "Code 123456 for 12.50 EUR");
    assert!(received.submitted_at.is_some());

    let delivered = handset.ack("sms-1").await.unwrap();
    assert_eq!(status(&delivered), pb::DeliveryStatus::Delivered);
    assert!(millis(delivered.updated_at) > millis(queued.updated_at));

    // OMPP-SMS-007: the report as the network server sees it.
    let seen = report(&mut ns, "sms-1").await.unwrap();
    assert_eq!(seen, delivered);
    // OMPP-SMS-011: acknowledging again gives the same report.
    assert_eq!(handset.ack("sms-1").await.unwrap(), delivered);
    // OMPP-SMS-002: a retry is answered with the current report, not queued again.
    let retried = submit(
        &mut ns,
        message("sms-1", PHONE, "Code 123456 for 12.50 EUR"),
    )
    .await
    .unwrap();
    assert_eq!(retried, delivered);
}

#[tokio::test]
async fn queued_messages_reach_a_handset_that_registers_later_and_no_other() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    submit(&mut ns, message("early-1", PHONE, "first"))
        .await
        .unwrap();
    submit(&mut ns, message("other-1", OTHER_PHONE, "not yours"))
        .await
        .unwrap();
    submit(&mut ns, message("early-2", PHONE, "second"))
        .await
        .unwrap();

    let mut handset = center.handset(PHONE).await;
    let mut stream = handset.stream().await;
    // Oldest first, then a message submitted while the stream is open (OMPP-SMS-004).
    assert_eq!(next(&mut stream).await.message_id, "early-1");
    assert_eq!(next(&mut stream).await.message_id, "early-2");
    submit(&mut ns, message("other-2", OTHER_PHONE, "not yours either"))
        .await
        .unwrap();
    submit(&mut ns, message("late-1", PHONE, "third"))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message_id, "late-1");

    // A message for another number is neither delivered nor acknowledgeable here.
    assert_eq!(
        reason(handset.ack("other-1").await),
        pb::ErrorReason::NotFound
    );
    assert_eq!(
        reason(handset.ack("no-such").await),
        pb::ErrorReason::NotFound
    );
    assert_eq!(
        status(&report(&mut ns, "other-1").await.unwrap()),
        pb::DeliveryStatus::Queued
    );
}

#[tokio::test]
async fn an_unacknowledged_message_is_sent_again_on_the_next_stream() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let mut handset = center.handset(PHONE).await;
    submit(&mut ns, message("again-1", PHONE, "one"))
        .await
        .unwrap();
    submit(&mut ns, message("again-2", PHONE, "two"))
        .await
        .unwrap();

    let mut stream = handset.stream().await;
    assert_eq!(next(&mut stream).await.message_id, "again-1");
    assert_eq!(next(&mut stream).await.message_id, "again-2");
    handset.ack("again-1").await.unwrap();
    drop(stream);

    let mut stream = handset.stream().await;
    assert_eq!(next(&mut stream).await.message_id, "again-2");
    submit(&mut ns, message("again-3", PHONE, "three"))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message_id, "again-3");
}

#[tokio::test]
async fn submission_is_idempotent_by_message_id() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let first = submit(&mut ns, message("idem-1", PHONE, "hello"))
        .await
        .unwrap();
    let again = submit(&mut ns, message("idem-1", PHONE, "hello"))
        .await
        .unwrap();
    assert_eq!(again, first);
    // An absent validity means 300 s: the same content as an explicit 300 s.
    let mut explicit = message("idem-1", PHONE, "hello");
    explicit.validity = seconds(300);
    assert_eq!(submit(&mut ns, explicit).await.unwrap(), first);

    for other in [
        message("idem-1", PHONE, "hello!"),
        message("idem-1", OTHER_PHONE, "hello"),
        pb::SubmitMessageRequest {
            sender: "BANK".into(),
            ..message("idem-1", PHONE, "hello")
        },
        pb::SubmitMessageRequest {
            validity: seconds(60),
            ..message("idem-1", PHONE, "hello")
        },
    ] {
        assert_eq!(
            reason(submit(&mut ns, other).await),
            pb::ErrorReason::IdempotencyConflict
        );
    }
    // Queued once: a handset sees it once.
    let mut handset = center.handset(PHONE).await;
    let mut stream = handset.stream().await;
    assert_eq!(next(&mut stream).await.message_id, "idem-1");
    submit(&mut ns, message("idem-2", PHONE, "next"))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message_id, "idem-2");
}

#[tokio::test]
async fn messages_past_their_validity_expire_and_are_never_delivered() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let mut handset = center.handset(PHONE).await;
    let short = |id: &str, phone: &str| pb::SubmitMessageRequest {
        validity: seconds(1),
        ..message(id, phone, "short-lived")
    };
    let queued = submit(&mut ns, short("exp-1", PHONE)).await.unwrap();
    assert_eq!(status(&queued), pb::DeliveryStatus::Queued);
    // No handset for this number: FAILED with UNKNOWN_HANDSET at the end of validity.
    submit(&mut ns, short("exp-2", OTHER_PHONE)).await.unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;

    // OMPP-SMS-005.
    let expired = report(&mut ns, "exp-1").await.unwrap();
    assert_eq!(status(&expired), pb::DeliveryStatus::Expired);
    assert_eq!(expired.failure_reason(), pb::ErrorReason::SmsUndeliverable);
    assert!(millis(expired.updated_at) > millis(queued.updated_at));
    // OMPP-SMS-006.
    let failed = report(&mut ns, "exp-2").await.unwrap();
    assert_eq!(status(&failed), pb::DeliveryStatus::Failed);
    assert_eq!(failed.failure_reason(), pb::ErrorReason::UnknownHandset);

    // Not delivered: the stream's first message is one submitted afterwards.
    let mut stream = handset.stream().await;
    submit(&mut ns, message("exp-3", PHONE, "fresh"))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message_id, "exp-3");
    // A late acknowledgement does not deliver it.
    assert_eq!(
        reason(handset.ack("exp-1").await),
        pb::ErrorReason::SmsUndeliverable
    );
    assert_eq!(report(&mut ns, "exp-1").await.unwrap(), expired);
    // A retry of an expired message gets its report and is not queued again.
    assert_eq!(
        submit(&mut ns, short("exp-1", PHONE)).await.unwrap(),
        expired
    );
}

#[tokio::test]
async fn handsets_authenticate_with_their_token() {
    let center = Center::start().await;
    let mut handset = center.handset(PHONE).await;
    assert_eq!(handset.token.len(), 43);
    assert!(
        handset
            .token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let mut ns = center.ns().await;
    submit(&mut ns, message("auth-1", PHONE, "secret"))
        .await
        .unwrap();

    let good_token = handset.token.clone();
    let good_id = handset.id.clone();
    handset.token = "A".repeat(43);
    assert_eq!(
        reason(handset.receive().await),
        pb::ErrorReason::UnknownHandset
    );
    assert_eq!(
        reason(handset.ack("auth-1").await),
        pb::ErrorReason::UnknownHandset
    );
    handset.token = good_token;
    handset.id = "hs-unknown".into();
    assert_eq!(
        reason(handset.receive().await),
        pb::ErrorReason::UnknownHandset
    );
    assert_eq!(
        reason(handset.ack("auth-1").await),
        pb::ErrorReason::UnknownHandset
    );
    handset.id = good_id;
    // The failed acknowledgements had no effect.
    assert_eq!(
        status(&report(&mut ns, "auth-1").await.unwrap()),
        pb::DeliveryStatus::Queued
    );
    let mut stream = handset.stream().await;
    assert_eq!(next(&mut stream).await.message_id, "auth-1");
}

#[tokio::test]
async fn re_registration_replaces_the_earlier_handset() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let mut old = center.handset(PHONE).await;
    let mut old_stream = old.stream().await;
    submit(&mut ns, message("swap-1", PHONE, "before"))
        .await
        .unwrap();
    assert_eq!(next(&mut old_stream).await.message_id, "swap-1");

    // OMPP-SMS-009: a SIM swap.
    let mut new = center.handset(PHONE).await;
    assert_ne!(new.id, old.id);
    assert_ne!(new.token, old.token);
    let ended = tokio::time::timeout(Duration::from_secs(10), old_stream.message())
        .await
        .expect("the old stream must end");
    assert_eq!(reason(ended), pb::ErrorReason::UnknownHandset);
    assert_eq!(reason(old.receive().await), pb::ErrorReason::UnknownHandset);
    assert_eq!(
        reason(old.ack("swap-1").await),
        pb::ErrorReason::UnknownHandset
    );

    // What is still queued for the number goes to the new handset.
    let mut stream = new.stream().await;
    assert_eq!(next(&mut stream).await.message_id, "swap-1");
    submit(&mut ns, message("swap-2", PHONE, "after"))
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message_id, "swap-2");
    assert_eq!(
        status(&new.ack("swap-1").await.unwrap()),
        pb::DeliveryStatus::Delivered
    );
}

#[tokio::test]
async fn an_unavailable_sms_center_stores_nothing() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let faults = center.running().faults.clone();
    faults.set_unavailable(true);
    let refused = error(submit(&mut ns, message("down-1", PHONE, "hello")).await);
    assert_eq!(refused.reason, pb::ErrorReason::ServiceUnavailable);
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        reason(report(&mut ns, "down-1").await),
        pb::ErrorReason::NotFound
    );

    faults.set_unavailable(false);
    let queued = submit(&mut ns, message("down-1", PHONE, "other text now"))
        .await
        .unwrap();
    assert_eq!(status(&queued), pb::DeliveryStatus::Queued);

    // Latency delays the answer; the message is stored all the same.
    faults.set_latency(Duration::from_millis(300));
    let started = std::time::Instant::now();
    submit(&mut ns, message("slow-1", PHONE, "slow"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    faults.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn the_unavailable_fault_can_come_from_the_configuration() {
    let center = Center::start_with(SmsConfig {
        unavailable: true,
        ..loopback_config()
    })
    .await;
    let mut ns = center.ns().await;
    assert_eq!(
        reason(submit(&mut ns, message("cfg-1", PHONE, "hello")).await),
        pb::ErrorReason::ServiceUnavailable
    );
    center.running().faults.set_unavailable(false);
    submit(&mut ns, message("cfg-1", PHONE, "hello"))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_allow_listed_identities_may_submit() {
    let center = Center::start().await;
    // OMPP-TLS-010: the bank processor's certificate is valid but not allowed here.
    let mut bank = center.center_as(&center.pki.mobile).await;
    assert_eq!(
        reason(submit(&mut bank, message("bank-1", PHONE, "hello")).await),
        pb::ErrorReason::PeerNotAllowed
    );
    assert_eq!(
        reason(report(&mut bank, "bank-1").await),
        pb::ErrorReason::PeerNotAllowed
    );
    // OMPP-TLS-009: no client certificate, no service.
    let anonymous = match center.channel(center.running().addr, None).await {
        Ok(channel) => {
            let mut client = SmsCenterServiceClient::new(channel);
            submit(&mut client, message("anon-1", PHONE, "hello"))
                .await
                .is_err()
        }
        Err(_) => true,
    };
    assert!(anonymous, "a call without a client certificate must fail");

    let mut ns = center.ns().await;
    assert_eq!(
        reason(report(&mut ns, "bank-1").await),
        pb::ErrorReason::NotFound
    );
    assert_eq!(
        reason(report(&mut ns, "anon-1").await),
        pb::ErrorReason::NotFound
    );
}

#[tokio::test]
async fn a_restart_keeps_queued_messages_reports_and_handsets() {
    let mut center = Center::start().await;
    let mut ns = center.ns().await;
    let mut handset = center.handset(PHONE).await;
    submit(&mut ns, message("keep-1", PHONE, "delivered"))
        .await
        .unwrap();
    let delivered = handset.ack("keep-1").await.unwrap();
    let queued = submit(&mut ns, message("keep-2", PHONE, "still queued"))
        .await
        .unwrap();

    center.restart().await;
    let mut ns = center.ns().await;
    assert_eq!(report(&mut ns, "keep-1").await.unwrap(), delivered);
    assert_eq!(report(&mut ns, "keep-2").await.unwrap(), queued);
    // Idempotency survives too.
    assert_eq!(
        reason(submit(&mut ns, message("keep-2", PHONE, "changed")).await),
        pb::ErrorReason::IdempotencyConflict
    );
    handset.reconnect(&center).await;
    let mut stream = handset.stream().await;
    let received = next(&mut stream).await;
    assert_eq!(received.message_id, "keep-2");
    assert_eq!(received.text, "still queued");
    assert_eq!(
        status(&handset.ack("keep-2").await.unwrap()),
        pb::DeliveryStatus::Delivered
    );
}

#[tokio::test]
async fn unknown_message_ids_are_not_found() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    assert_eq!(
        reason(report(&mut ns, "never-sent").await),
        pb::ErrorReason::NotFound
    );
}

#[tokio::test]
async fn invalid_fields_are_named() {
    let center = Center::start().await;
    let mut ns = center.ns().await;
    let cases = [
        (message("", PHONE, "hello"), "message_id"),
        (message("bad-1", "12345", "hello"), "recipient"),
        (message("bad-1", PHONE, ""), "text"),
        (message("bad-1", PHONE, &"x".repeat(460)), "text"),
        (
            pb::SubmitMessageRequest {
                sender: "TWELVECHARSX".into(),
                ..message("bad-1", PHONE, "hello")
            },
            "sender",
        ),
        (
            pb::SubmitMessageRequest {
                validity: seconds(0),
                ..message("bad-1", PHONE, "hello")
            },
            "validity",
        ),
        (
            pb::SubmitMessageRequest {
                validity: seconds(259_201),
                ..message("bad-1", PHONE, "hello")
            },
            "validity",
        ),
    ];
    for (request, field) in cases {
        let failed = error(submit(&mut ns, request).await);
        assert_eq!(failed.reason, pb::ErrorReason::InvalidField, "{field}");
        assert!(
            failed
                .field_violations
                .iter()
                .any(|v| v.field == field || v.field.starts_with(&format!("{field}."))),
            "{field} not named: {failed:?}"
        );
    }
    assert_eq!(
        reason(report(&mut ns, "bad-1").await),
        pb::ErrorReason::NotFound
    );
    assert_eq!(
        error(report(&mut ns, "").await).field_violations[0].field,
        "message_id"
    );

    // The longest text and the longest validity are fine (OMPP-SMS-001).
    let longest = pb::SubmitMessageRequest {
        validity: seconds(259_200),
        ..message("ok-1", PHONE, &"x".repeat(459))
    };
    submit(&mut ns, longest).await.unwrap();

    let mut handsets = center.handsets().await;
    let failed = error(
        handsets
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: "0151 1234".into(),
            })
            .await,
    );
    assert_eq!(failed.reason, pb::ErrorReason::InvalidField);
    assert_eq!(failed.field_violations[0].field, "phone_number");
    let failed = error(
        handsets
            .receive_messages(pb::ReceiveMessagesRequest {
                handset_id: "hs-1".into(),
                handset_token: "short".into(),
            })
            .await,
    );
    assert_eq!(failed.reason, pb::ErrorReason::InvalidField);
    assert_eq!(failed.field_violations[0].field, "handset_token");
}

#[tokio::test]
async fn the_shutdown_signal_ends_streams_and_stops_promptly() {
    let mut center = Center::start().await;
    let mut handset = center.handset(PHONE).await;
    let mut stream = handset.stream().await;
    center.shutdown.send(true).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the stream must end on shutdown");
    assert!(
        !matches!(ended, Ok(Some(_))),
        "no message was sent: {ended:?}"
    );
    tokio::time::timeout(
        Duration::from_secs(10),
        center.running.take().unwrap().stop(),
    )
    .await
    .expect("stop must finish promptly");
}

#[test]
fn the_configuration_has_defaults_and_rejects_unknown_keys() {
    let config: SmsConfig = toml::from_str("").unwrap();
    assert_eq!(config, SmsConfig::default());
    assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 7400)));
    assert_eq!(
        config.handset_listen,
        SocketAddr::from(([127, 0, 0, 1], 7401))
    );
    assert_eq!(
        config.allowed_clients,
        vec!["ompp://network/NS-1".to_owned()]
    );
    assert!(!config.unavailable);
    let config: SmsConfig =
        toml::from_str("listen = \"127.0.0.1:9400\"\nunavailable = true\n").unwrap();
    assert_eq!(config.listen.port(), 9400);
    assert!(config.unavailable);
    assert!(toml::from_str::<SmsConfig>("listne = \"127.0.0.1:9400\"\n").is_err());
}

#[tokio::test]
async fn a_malformed_allow_list_entry_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = DevPki::generate().unwrap();
    let (_shutdown, rx) = watch::channel(false);
    let config = SmsConfig {
        allowed_clients: vec!["network/NS-1".into()],
        ..loopback_config()
    };
    let result = start_sms(&config, &pki, dir.path(), rx).await;
    assert!(matches!(result, Err(SmsError::Config(_))), "{result:?}");
}
