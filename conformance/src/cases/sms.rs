//! An SMS center under test (spec chapter 06, "The SMS center", and chapter 03, "Handset
//! registration"): the suite plays the network server on `SmsCenterService` (mutual TLS with a
//! network server identity) and handsets on `HandsetService`, each with a phone number unique
//! to the run.

use std::time::{Duration, Instant};

use ompp::limits::{HANDSET_TOKEN_LEN, SMS_SENDER_LEN, SMS_TEXT_LEN, SMS_VALIDITY};
use ompp::proto::v1 as pb;
use ompp::proto::v1::handset_service_client::HandsetServiceClient;
use ompp::proto::v1::sms_center_service_client::SmsCenterServiceClient;
use pb::ErrorReason as R;
use tonic::transport::Channel;

use super::body;
use crate::case::{Abort, Case, Checks};
use crate::target::Target;

const SC: ompp::conformance::RoleUnderTest = ompp::conformance::RoleUnderTest::SmsCenter;

/// The sender of every message the suite submits.
const SENDER: &str = "OMPP";

/// How long the suite waits for a message on a handset stream.
const RECEIVE_WAIT: Duration = Duration::from_secs(5);

/// How long after its submission a message of 1 s validity may take to be reported ended.
const END_WAIT: Duration = Duration::from_secs(4);

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "sc.fields.submit-message",
            title: "text, sender and validity outside their bounds fail with INVALID_FIELD, the bounds themselves are accepted, and an absent validity is the same submission as 300 s",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-001", "OMPP-SMS-002"],
            run: body!(submit_message_fields),
        },
        Case {
            id: "sc.submit.idempotent",
            title: "a submission is answered QUEUED and stored; the same submission again gets the same report and is not queued twice; other content under its id is IDEMPOTENCY_CONFLICT",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-002", "OMPP-SMS-003"],
            run: body!(submit_idempotent),
        },
        Case {
            id: "sc.receive.backlog-then-live",
            title: "a handset stream sends the queued messages oldest first, then new ones; unacknowledged messages come again on the next stream",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-004"],
            run: body!(backlog_then_live),
        },
        Case {
            id: "sc.expiry",
            title: "a message not acknowledged within its validity (1 s) becomes EXPIRED with SMS_UNDELIVERABLE and is not delivered afterwards",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-005", "OMPP-SMS-007"],
            run: body!(expiry),
        },
        Case {
            id: "sc.unknown-recipient",
            title: "a message to a number without a handset is reported FAILED with UNKNOWN_HANDSET, at the latest when its validity (1 s) ends",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-006", "OMPP-SMS-007"],
            run: body!(unknown_recipient),
        },
        Case {
            id: "sc.report-and-acknowledge",
            title: "GetDeliveryReport gives the current report, NOT_FOUND for an id never submitted; an acknowledgement makes a message DELIVERED, and a second one returns the same report",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-007", "OMPP-SMS-011"],
            run: body!(report_and_acknowledge),
        },
        Case {
            id: "sc.handset.register",
            title: "RegisterHandset returns a new handset id and a 32 to 128 character token, and messages to the number reach that handset",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-008"],
            run: body!(register_handset),
        },
        Case {
            id: "sc.handset.re-register",
            title: "a second RegisterHandset for a number replaces the first: the old handset gets UNKNOWN_HANDSET and the queued message goes to the new one",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-009"],
            run: body!(re_register),
        },
        Case {
            id: "sc.handset.unknown",
            title: "an unknown handset id or another handset's token gets UNKNOWN_HANDSET; acknowledging a message addressed to another handset, or never submitted, gets NOT_FOUND",
            role: SC,
            profile: None,
            requirements: &["OMPP-SMS-010"],
            run: body!(unknown_handset),
        },
    ]
}

/// A handset the suite registered.
#[derive(Debug, Clone)]
struct Phone {
    number: String,
    handset_id: String,
    token: String,
}

type Stream = tonic::Streaming<pb::ReceiveMessagesResponse>;

/// Both services of the SMS center, as the network server and as handsets.
struct Sms<'a> {
    center: SmsCenterServiceClient<Channel>,
    handsets: HandsetServiceClient<Channel>,
    target: &'a Target,
    checks: &'a Checks,
}

impl<'a> Sms<'a> {
    async fn open(target: &'a Target, checks: &'a Checks) -> Result<Self, Abort> {
        Ok(Self {
            center: target.sms_client(checks).await?,
            handsets: target.handset_client(checks).await?,
            target,
            checks,
        })
    }

    /// Registers a handset for `number`.
    async fn register(&mut self, number: &str) -> Result<Phone, Abort> {
        let answer = self
            .handsets
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: number.to_owned(),
            })
            .await;
        let registered = self.checks.setup_call("RegisterHandset", answer)?;
        Ok(Phone {
            number: number.to_owned(),
            handset_id: registered.handset_id,
            token: registered.handset_token,
        })
    }

    /// Registers a handset for a new number of the run.
    async fn new_phone(&mut self) -> Result<Phone, Abort> {
        let number = self.target.phone();
        self.register(&number).await
    }

    /// A submission to `recipient` with a new message id and the default validity.
    fn message(&self, recipient: &str, text: &str) -> pb::SubmitMessageRequest {
        pb::SubmitMessageRequest {
            message_id: self.target.key("sms"),
            recipient: recipient.to_owned(),
            sender: SENDER.to_owned(),
            text: text.to_owned(),
            validity: None,
        }
    }

    async fn submit(
        &mut self,
        message: pb::SubmitMessageRequest,
    ) -> Result<tonic::Response<pb::SubmitMessageResponse>, tonic::Status> {
        self.center.submit_message(message).await
    }

    /// Submits `message` as a step the case needs but does not judge.
    async fn submit_quietly(&mut self, message: &pb::SubmitMessageRequest) -> Result<(), Abort> {
        let answer = self.submit(message.clone()).await;
        self.checks.setup_call("SubmitMessage", answer).map(|_| ())
    }

    async fn report(
        &mut self,
        message_id: &str,
    ) -> Result<tonic::Response<pb::GetDeliveryReportResponse>, tonic::Status> {
        self.center
            .get_delivery_report(pb::GetDeliveryReportRequest {
                message_id: message_id.to_owned(),
            })
            .await
    }

    /// The report of `message_id` once it is no longer `QUEUED`, or the last one read when
    /// `wait` since `since` is over (only that one goes into the transcript).
    async fn report_when_ended(
        &mut self,
        message_id: &str,
        since: Instant,
        wait: Duration,
    ) -> Result<tonic::Response<pb::GetDeliveryReportResponse>, tonic::Status> {
        loop {
            let answer = self.report(message_id).await;
            let queued = matches!(&answer, Ok(r) if r.get_ref().report.as_ref()
                .is_some_and(|r| r.status() == pb::DeliveryStatus::Queued));
            if !queued || since.elapsed() >= wait {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn receive(
        &mut self,
        handset_id: &str,
        token: &str,
    ) -> Result<tonic::Response<Stream>, tonic::Status> {
        self.handsets
            .receive_messages(pb::ReceiveMessagesRequest {
                handset_id: handset_id.to_owned(),
                handset_token: token.to_owned(),
            })
            .await
    }

    /// Opens `phone`'s stream as a step the case needs but does not judge.
    async fn stream(&mut self, phone: &Phone) -> Result<Stream, Abort> {
        let answer = self.receive(&phone.handset_id, &phone.token).await;
        self.checks.setup_call("ReceiveMessages", answer)
    }

    async fn acknowledge(
        &mut self,
        handset_id: &str,
        token: &str,
        message_id: &str,
    ) -> Result<tonic::Response<pb::AcknowledgeMessageResponse>, tonic::Status> {
        self.handsets
            .acknowledge_message(pb::AcknowledgeMessageRequest {
                handset_id: handset_id.to_owned(),
                handset_token: token.to_owned(),
                message_id: message_id.to_owned(),
            })
            .await
    }

    /// The next message on `stream`, logged; the case cannot go on without it.
    async fn next(
        &self,
        stream: &mut Stream,
        what: &str,
    ) -> Result<pb::ReceiveMessagesResponse, Abort> {
        let message = match tokio::time::timeout(RECEIVE_WAIT, stream.message()).await {
            Err(_) => Err(format!("no message within {} s", RECEIVE_WAIT.as_secs())),
            Ok(Err(status)) => Err(format!("the stream failed: {status}")),
            Ok(Ok(None)) => Err("the stream ended".to_owned()),
            Ok(Ok(Some(message))) => Ok(message),
        };
        match message {
            Ok(message) => {
                self.checks
                    .log(what, &Ok(tonic::Response::new(message.clone())));
                Ok(message)
            }
            Err(why) => Err(self.checks.fail(what, why)),
        }
    }
}

/// Records that `message` is the submission `sent`.
fn check_message(
    checks: &Checks,
    requirement: &str,
    what: &str,
    sent: &pb::SubmitMessageRequest,
    message: &pb::ReceiveMessagesResponse,
) -> bool {
    checks.equal(
        requirement,
        format!("{what}: message id, sender and text"),
        (
            sent.message_id.as_str(),
            sent.sender.as_str(),
            sent.text.as_str(),
        ),
        (
            message.message_id.as_str(),
            message.sender.as_str(),
            message.text.as_str(),
        ),
    )
}

/// A `ReceiveMessages` as one answer: the status it was refused with (at once or as the
/// stream's first item), or OK when it was not refused within 2 s.
async fn stream_outcome(
    answer: Result<tonic::Response<Stream>, tonic::Status>,
) -> Result<tonic::Response<&'static str>, tonic::Status> {
    let mut stream = answer?.into_inner();
    match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
        Ok(Err(status)) => Err(status),
        Ok(Ok(Some(_))) => Ok(tonic::Response::new("a message was delivered")),
        Ok(Ok(None)) => Ok(tonic::Response::new("the stream ended without an error")),
        Err(_) => Ok(tonic::Response::new("the stream stayed open")),
    }
}

fn seconds(seconds: i64, nanos: i32) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos })
}

fn report_of(answer: pb::SubmitMessageResponse) -> pb::DeliveryReport {
    answer.report.unwrap_or_default()
}

async fn submit_message_fields(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-001";
    let mut sms = Sms::open(target, checks).await?;
    let recipient = target.phone();
    let base = |sms: &Sms<'_>| sms.message(&recipient, "conformance fields");
    let max_validity = i64::try_from(SMS_VALIDITY.max_secs).unwrap_or(i64::MAX);
    let min_validity = i64::try_from(SMS_VALIDITY.min_secs).unwrap_or(1);
    let refused = vec![
        (
            "an empty text",
            pb::SubmitMessageRequest {
                text: String::new(),
                ..base(&sms)
            },
        ),
        (
            "a text one character too long",
            pb::SubmitMessageRequest {
                text: "t".repeat(SMS_TEXT_LEN.max + 1),
                ..base(&sms)
            },
        ),
        (
            "an empty sender",
            pb::SubmitMessageRequest {
                sender: String::new(),
                ..base(&sms)
            },
        ),
        (
            "a sender one character too long",
            pb::SubmitMessageRequest {
                sender: "S".repeat(SMS_SENDER_LEN.max + 1),
                ..base(&sms)
            },
        ),
        (
            "a validity of zero",
            pb::SubmitMessageRequest {
                validity: seconds(0, 0),
                ..base(&sms)
            },
        ),
        (
            "a validity of half a second",
            pb::SubmitMessageRequest {
                validity: seconds(0, 500_000_000),
                ..base(&sms)
            },
        ),
        (
            "a validity one second above three days",
            pb::SubmitMessageRequest {
                validity: seconds(max_validity + 1, 0),
                ..base(&sms)
            },
        ),
        (
            "a negative validity",
            pb::SubmitMessageRequest {
                validity: seconds(-min_validity, 0),
                ..base(&sms)
            },
        ),
    ];
    for (what, message) in refused {
        let answer = sms.submit(message).await;
        checks.reason(
            REQ,
            format!("SubmitMessage with {what}: INVALID_FIELD"),
            answer,
            R::InvalidField,
        );
    }
    let accepted = vec![
        (
            "a text of the longest length",
            pb::SubmitMessageRequest {
                text: "t".repeat(SMS_TEXT_LEN.max),
                ..base(&sms)
            },
        ),
        (
            "a sender of the longest length",
            pb::SubmitMessageRequest {
                sender: "S".repeat(SMS_SENDER_LEN.max),
                ..base(&sms)
            },
        ),
        (
            "the shortest validity",
            pb::SubmitMessageRequest {
                validity: seconds(min_validity, 0),
                ..base(&sms)
            },
        ),
        (
            "the longest validity",
            pb::SubmitMessageRequest {
                validity: seconds(max_validity, 0),
                ..base(&sms)
            },
        ),
    ];
    for (what, message) in accepted {
        let answer = sms.submit(message).await;
        checks.succeeds(REQ, format!("SubmitMessage with {what} succeeds"), answer)?;
    }
    // An absent validity means 300 s: the same message with 300 s is a retry, with 301 s it
    // is other content.
    let message = base(&sms);
    let answer = sms.submit(message.clone()).await;
    let first = report_of(checks.setup_call("SubmitMessage without validity", answer)?);
    let default = i64::try_from(SMS_VALIDITY.default_secs).unwrap_or(300);
    let answer = sms
        .submit(pb::SubmitMessageRequest {
            validity: seconds(default, 0),
            ..message.clone()
        })
        .await;
    let again = checks.succeeds(
        REQ,
        "the same message with validity 300 s is the same submission",
        answer,
    )?;
    checks.equal(
        REQ,
        "the same submission: the first message's report",
        &first,
        &report_of(again),
    );
    let answer = sms
        .submit(pb::SubmitMessageRequest {
            validity: seconds(default + 1, 0),
            ..message
        })
        .await;
    checks.reason(
        "OMPP-SMS-002",
        "the same message id with validity 301 s: IDEMPOTENCY_CONFLICT",
        answer,
        R::IdempotencyConflict,
    );
    Ok(())
}

async fn submit_idempotent(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut sms = Sms::open(target, checks).await?;
    let phone = sms.new_phone().await?;
    let first = sms.message(&phone.number, "conformance message one");
    let answer = sms.submit(first.clone()).await;
    let report = report_of(checks.succeeds("OMPP-SMS-003", "SubmitMessage", answer)?);
    checks.equal(
        "OMPP-SMS-003",
        "the answer is the message's report: id, QUEUED",
        (first.message_id.as_str(), pb::DeliveryStatus::Queued),
        (report.message_id.as_str(), report.status()),
    );
    let answer = sms.report(&first.message_id).await;
    let stored = checks.succeeds(
        "OMPP-SMS-003",
        "GetDeliveryReport right after: the message is stored",
        answer,
    )?;
    checks.equal(
        "OMPP-SMS-003",
        "the stored message is QUEUED",
        Some(pb::DeliveryStatus::Queued),
        stored.report.as_ref().map(pb::DeliveryReport::status),
    );
    let answer = sms.submit(first.clone()).await;
    let again = checks.succeeds("OMPP-SMS-002", "the same SubmitMessage again", answer)?;
    checks.equal(
        "OMPP-SMS-002",
        "the same submission: the message's current report",
        &report,
        &report_of(again),
    );
    let answer = sms
        .submit(pb::SubmitMessageRequest {
            text: "conformance message other".to_owned(),
            ..first.clone()
        })
        .await;
    checks.reason(
        "OMPP-SMS-002",
        "the same message id with another text: IDEMPOTENCY_CONFLICT",
        answer,
        R::IdempotencyConflict,
    );
    let second = sms.message(&phone.number, "conformance message two");
    sms.submit_quietly(&second).await?;
    let mut stream = sms.stream(&phone).await?;
    let message = sms.next(&mut stream, "first message on the stream").await?;
    check_message(
        checks,
        "OMPP-SMS-002",
        "the first message",
        &first,
        &message,
    );
    let message = sms
        .next(&mut stream, "second message on the stream")
        .await?;
    check_message(
        checks,
        "OMPP-SMS-002",
        "the next message is the second submission, not the first again",
        &second,
        &message,
    );
    Ok(())
}

async fn backlog_then_live(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-004";
    let mut sms = Sms::open(target, checks).await?;
    let phone = sms.new_phone().await?;
    let sent: Vec<pb::SubmitMessageRequest> = (1..=3)
        .map(|n| sms.message(&phone.number, &format!("conformance message {n}")))
        .collect();
    sms.submit_quietly(&sent[0]).await?;
    sms.submit_quietly(&sent[1]).await?;
    let mut stream = sms.stream(&phone).await?;
    for (n, expected) in sent[..2].iter().enumerate() {
        let message = sms.next(&mut stream, "a queued message").await?;
        check_message(
            checks,
            REQ,
            &format!("queued message #{}, oldest first", n + 1),
            expected,
            &message,
        );
    }
    sms.submit_quietly(&sent[2]).await?;
    let message = sms
        .next(&mut stream, "a message submitted while the stream is open")
        .await?;
    check_message(
        checks,
        REQ,
        "the message submitted while the stream is open",
        &sent[2],
        &message,
    );
    let answer = sms
        .acknowledge(&phone.handset_id, &phone.token, &sent[0].message_id)
        .await;
    checks.setup_call("AcknowledgeMessage of the first message", answer)?;
    drop(stream);
    let mut stream = sms.stream(&phone).await?;
    for (n, expected) in sent[1..].iter().enumerate() {
        let message = sms
            .next(&mut stream, "an unacknowledged message on the next stream")
            .await?;
        check_message(
            checks,
            REQ,
            &format!(
                "the next stream: unacknowledged message #{}, oldest first",
                n + 2
            ),
            expected,
            &message,
        );
    }
    Ok(())
}

async fn expiry(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-005";
    let mut sms = Sms::open(target, checks).await?;
    let phone = sms.new_phone().await?;
    let short = pb::SubmitMessageRequest {
        validity: seconds(1, 0),
        ..sms.message(&phone.number, "conformance short-lived message")
    };
    let submitted = Instant::now();
    let answer = sms.submit(short.clone()).await;
    checks.setup_call("SubmitMessage with a validity of 1 s", answer)?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answer = sms
        .report_when_ended(&short.message_id, submitted, END_WAIT)
        .await;
    let report = checks.succeeds(REQ, "GetDeliveryReport after the validity ended", answer)?;
    let report = report.report.unwrap_or_default();
    checks.equal(
        REQ,
        "the unacknowledged message is EXPIRED with SMS_UNDELIVERABLE",
        (pb::DeliveryStatus::Expired, R::SmsUndeliverable),
        (report.status(), report.failure_reason()),
    );
    checks.equal(
        "OMPP-SMS-007",
        "the report carries its message id and updated_at",
        (short.message_id.as_str(), true),
        (report.message_id.as_str(), report.updated_at.is_some()),
    );
    let marker = sms.message(&phone.number, "conformance later message");
    sms.submit_quietly(&marker).await?;
    let mut stream = sms.stream(&phone).await?;
    let message = sms
        .next(&mut stream, "the first message on the stream")
        .await?;
    check_message(
        checks,
        REQ,
        "the expired message is not delivered: the first message is the later one",
        &marker,
        &message,
    );
    Ok(())
}

async fn unknown_recipient(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-006";
    let mut sms = Sms::open(target, checks).await?;
    // A number of this run that no handset registered.
    let message = pb::SubmitMessageRequest {
        validity: seconds(1, 0),
        ..sms.message(&target.phone(), "conformance message nobody gets")
    };
    let submitted = Instant::now();
    let answer = sms.submit(message.clone()).await;
    let report =
        report_of(checks.succeeds(REQ, "SubmitMessage to a number without a handset", answer)?);
    let report = if report.status() == pb::DeliveryStatus::Queued {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let answer = sms
            .report_when_ended(&message.message_id, submitted, END_WAIT)
            .await;
        let answer = checks.succeeds(REQ, "GetDeliveryReport after the validity ended", answer)?;
        answer.report.unwrap_or_default()
    } else {
        report
    };
    checks.equal(
        REQ,
        "the message is FAILED with UNKNOWN_HANDSET",
        (pb::DeliveryStatus::Failed, R::UnknownHandset),
        (report.status(), report.failure_reason()),
    );
    checks.equal(
        "OMPP-SMS-007",
        "the report carries its message id and updated_at",
        (message.message_id.as_str(), true),
        (report.message_id.as_str(), report.updated_at.is_some()),
    );
    Ok(())
}

async fn report_and_acknowledge(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut sms = Sms::open(target, checks).await?;
    let answer = sms.report(&target.key("never")).await;
    checks.reason(
        "OMPP-SMS-007",
        "GetDeliveryReport of a message id never submitted: NOT_FOUND",
        answer,
        R::NotFound,
    );
    let phone = sms.new_phone().await?;
    let message = sms.message(&phone.number, "conformance message to acknowledge");
    sms.submit_quietly(&message).await?;
    let answer = sms.report(&message.message_id).await;
    let queued = checks.succeeds("OMPP-SMS-007", "GetDeliveryReport", answer)?;
    let queued = queued.report.unwrap_or_default();
    checks.equal(
        "OMPP-SMS-007",
        "the report: message id, QUEUED, updated_at, no failure_reason",
        (
            message.message_id.as_str(),
            pb::DeliveryStatus::Queued,
            true,
            R::Unspecified,
        ),
        (
            queued.message_id.as_str(),
            queued.status(),
            queued.updated_at.is_some(),
            queued.failure_reason(),
        ),
    );
    let mut stream = sms.stream(&phone).await?;
    sms.next(&mut stream, "the message on the stream").await?;
    let answer = sms
        .acknowledge(&phone.handset_id, &phone.token, &message.message_id)
        .await;
    let acknowledged = checks.succeeds("OMPP-SMS-011", "AcknowledgeMessage", answer)?;
    let delivered = acknowledged.report.unwrap_or_default();
    checks.equal(
        "OMPP-SMS-011",
        "the acknowledged message is DELIVERED",
        (message.message_id.as_str(), pb::DeliveryStatus::Delivered),
        (delivered.message_id.as_str(), delivered.status()),
    );
    let answer = sms
        .acknowledge(&phone.handset_id, &phone.token, &message.message_id)
        .await;
    let again = checks.succeeds("OMPP-SMS-011", "AcknowledgeMessage again", answer)?;
    checks.equal(
        "OMPP-SMS-011",
        "a second acknowledgement returns the same report",
        Some(&delivered),
        again.report.as_ref(),
    );
    let answer = sms.report(&message.message_id).await;
    let current = checks.succeeds("OMPP-SMS-007", "GetDeliveryReport after delivery", answer)?;
    checks.equal(
        "OMPP-SMS-007",
        "the current report is the DELIVERED one",
        Some(&delivered),
        current.report.as_ref(),
    );
    Ok(())
}

async fn register_handset(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-008";
    let mut sms = Sms::open(target, checks).await?;
    let mut registered = Vec::new();
    for n in 1..=2 {
        let number = target.phone();
        let answer = sms
            .handsets
            .register_handset(pb::RegisterHandsetRequest {
                phone_number: number.clone(),
            })
            .await;
        let answer = checks.succeeds(REQ, format!("RegisterHandset #{n}"), answer)?;
        checks.equal(
            REQ,
            format!("handset #{n}: the handset id is 1 to 64 id characters"),
            true,
            ompp::types::HandsetId::parse(&answer.handset_id).is_ok(),
        );
        checks.equal(
            REQ,
            format!(
                "handset #{n}: the token has {} to {} characters",
                HANDSET_TOKEN_LEN.min, HANDSET_TOKEN_LEN.max
            ),
            true,
            (HANDSET_TOKEN_LEN.min..=HANDSET_TOKEN_LEN.max)
                .contains(&answer.handset_token.chars().count()),
        );
        registered.push(Phone {
            number,
            handset_id: answer.handset_id,
            token: answer.handset_token,
        });
    }
    checks.equal(
        REQ,
        "two registrations: different handset ids and tokens",
        (true, true),
        (
            registered[0].handset_id != registered[1].handset_id,
            registered[0].token != registered[1].token,
        ),
    );
    let phone = registered.swap_remove(0);
    let message = sms.message(&phone.number, "conformance message for the handset");
    sms.submit_quietly(&message).await?;
    let mut stream = sms.stream(&phone).await?;
    let received = sms.next(&mut stream, "the message on the stream").await?;
    check_message(
        checks,
        REQ,
        "the message to the number reaches the registered handset",
        &message,
        &received,
    );
    Ok(())
}

async fn re_register(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-009";
    let mut sms = Sms::open(target, checks).await?;
    let old = sms.new_phone().await?;
    let message = sms.message(&old.number, "conformance message after a SIM swap");
    sms.submit_quietly(&message).await?;
    let new = sms.register(&old.number).await?;
    checks.equal(
        REQ,
        "the second registration has a new handset id",
        true,
        new.handset_id != old.handset_id,
    );
    let answer = stream_outcome(sms.receive(&old.handset_id, &old.token).await).await;
    checks.reason(
        REQ,
        "ReceiveMessages as the replaced handset: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let answer = sms
        .acknowledge(&old.handset_id, &old.token, &message.message_id)
        .await;
    checks.reason(
        REQ,
        "AcknowledgeMessage as the replaced handset: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let mut stream = sms.stream(&new).await?;
    let received = sms
        .next(&mut stream, "the queued message on the new handset")
        .await?;
    check_message(
        checks,
        REQ,
        "the message queued before the swap goes to the new handset",
        &message,
        &received,
    );
    Ok(())
}

async fn unknown_handset(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-SMS-010";
    let mut sms = Sms::open(target, checks).await?;
    let a = sms.new_phone().await?;
    let b = sms.new_phone().await?;
    let to_b = sms.message(&b.number, "conformance message for the other handset");
    sms.submit_quietly(&to_b).await?;
    let unknown_id = target.key("hs");
    let answer = stream_outcome(sms.receive(&unknown_id, &a.token).await).await;
    checks.reason(
        REQ,
        "ReceiveMessages with an unknown handset id: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let answer = stream_outcome(sms.receive(&a.handset_id, &b.token).await).await;
    checks.reason(
        REQ,
        "ReceiveMessages with another handset's token: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let answer = sms
        .acknowledge(&a.handset_id, &b.token, &to_b.message_id)
        .await;
    checks.reason(
        REQ,
        "AcknowledgeMessage with another handset's token: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let answer = sms
        .acknowledge(&unknown_id, &a.token, &to_b.message_id)
        .await;
    checks.reason(
        REQ,
        "AcknowledgeMessage with an unknown handset id: UNKNOWN_HANDSET",
        answer,
        R::UnknownHandset,
    );
    let answer = sms
        .acknowledge(&a.handset_id, &a.token, &to_b.message_id)
        .await;
    checks.reason(
        REQ,
        "AcknowledgeMessage of a message addressed to another handset: NOT_FOUND",
        answer,
        R::NotFound,
    );
    let answer = sms
        .acknowledge(&a.handset_id, &a.token, &target.key("never"))
        .await;
    checks.reason(
        REQ,
        "AcknowledgeMessage of a message id never submitted: NOT_FOUND",
        answer,
        R::NotFound,
    );
    Ok(())
}
