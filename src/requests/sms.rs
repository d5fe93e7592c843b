//! `SmsCenterService` and `HandsetService` requests (SMS center).

use std::time::Duration;

use super::Request;
use crate::limits::SMS_VALIDITY;
use crate::proto::v1 as pb;
use crate::types::{
    HandsetId, HandsetToken, PhoneNumber, SmsMessageId, SmsSender, SmsText, bounded_duration,
    duration_to_proto,
};
use crate::validation::{FieldPath, Validator};

/// Queue a message for a handset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitMessage {
    /// Idempotency: the message's unique id.
    pub message_id: SmsMessageId,
    /// The recipient handset.
    pub recipient: PhoneNumber,
    /// The sender shown.
    pub sender: SmsSender,
    /// The text.
    pub text: SmsText,
    /// How long to try delivering (OMPP-SMS-001).
    pub validity: Duration,
}

impl Request for SubmitMessage {
    type Proto = pb::SubmitMessageRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let message_id = v.check(path.child("message_id"), SmsMessageId::parse(&p.message_id));
        let recipient = v.check(path.child("recipient"), PhoneNumber::parse(&p.recipient));
        let sender = v.check(path.child("sender"), SmsSender::parse(&p.sender));
        let text = v.check(path.child("text"), SmsText::parse(&p.text));
        let validity = bounded_duration(
            v,
            &path.child("validity"),
            p.validity.as_ref(),
            SMS_VALIDITY,
        );
        Some(Self {
            message_id: message_id?,
            recipient: recipient?,
            sender: sender?,
            text: text?,
            validity: validity?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::SubmitMessageRequest {
            message_id: self.message_id.to_string(),
            recipient: self.recipient.to_string(),
            sender: self.sender.to_string(),
            text: self.text.to_string(),
            validity: Some(duration_to_proto(self.validity)),
        }
    }
}

/// A message's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetDeliveryReport {
    /// The message.
    pub message_id: SmsMessageId,
}

impl Request for GetDeliveryReport {
    type Proto = pb::GetDeliveryReportRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let message_id = v.check(path.child("message_id"), SmsMessageId::parse(&p.message_id))?;
        Some(Self { message_id })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::GetDeliveryReportRequest {
            message_id: self.message_id.to_string(),
        }
    }
}

/// Register a handset for a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterHandset {
    /// The handset's number.
    pub phone_number: PhoneNumber,
}

impl Request for RegisterHandset {
    type Proto = pb::RegisterHandsetRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let phone_number = v.check(
            path.child("phone_number"),
            PhoneNumber::parse(&p.phone_number),
        )?;
        Some(Self { phone_number })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::RegisterHandsetRequest {
            phone_number: self.phone_number.to_string(),
        }
    }
}

/// Open a handset's message stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveMessages {
    /// The handset.
    pub handset_id: HandsetId,
    /// Its credential.
    pub handset_token: HandsetToken,
}

impl Request for ReceiveMessages {
    type Proto = pb::ReceiveMessagesRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let handset_id = v.check(path.child("handset_id"), HandsetId::parse(&p.handset_id));
        let handset_token = v.check(
            path.child("handset_token"),
            HandsetToken::parse(&p.handset_token),
        );
        Some(Self {
            handset_id: handset_id?,
            handset_token: handset_token?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::ReceiveMessagesRequest {
            handset_id: self.handset_id.to_string(),
            handset_token: self.handset_token.expose().to_owned(),
        }
    }
}

/// Acknowledge a received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcknowledgeMessage {
    /// The handset.
    pub handset_id: HandsetId,
    /// Its credential.
    pub handset_token: HandsetToken,
    /// The message received.
    pub message_id: SmsMessageId,
}

impl Request for AcknowledgeMessage {
    type Proto = pb::AcknowledgeMessageRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let handset_id = v.check(path.child("handset_id"), HandsetId::parse(&p.handset_id));
        let handset_token = v.check(
            path.child("handset_token"),
            HandsetToken::parse(&p.handset_token),
        );
        let message_id = v.check(path.child("message_id"), SmsMessageId::parse(&p.message_id));
        Some(Self {
            handset_id: handset_id?,
            handset_token: handset_token?,
            message_id: message_id?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::AcknowledgeMessageRequest {
            handset_id: self.handset_id.to_string(),
            handset_token: self.handset_token.expose().to_owned(),
            message_id: self.message_id.to_string(),
        }
    }
}
