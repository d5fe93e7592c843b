//! Secure-link requests between the network server and the mobile server. Every one carries a
//! [`Envelope`] for the firewall; relays wrap a device request unchanged, so its field paths
//! appear under `request.` (e.g. `request.password`).

use super::Request;
use super::common::{LineItem, id_list, line_items, optional, optional_enum, required_enum};
use super::device::{
    ConfirmPayment, DeclinePayment, GetWalletBalance, ListWalletHistory, PreviewPayeeCode,
    SubmitPayeeCode, TopUpWallet,
};
use crate::limits::{MAX_PUSH_DEVICES, PASSWORD_ATTEMPTS};
use crate::money::{Amount, Money};
use crate::proto::v1 as pb;
use crate::types::{
    CustomerId, DeviceId, DisplayName, LinkMessageId, MerchantId, MerchantReference, PartyIdentity,
    PaymentId, UnixMillis,
};
use crate::validation::{FieldPath, Validator, Violation};

/// The firewall envelope (OMPP-LINK-001, OMPP-LINK-002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The sender's identity, to be compared with its TLS identity.
    pub sender: PartyIdentity,
    /// Unique message id, for replay detection.
    pub message_id: LinkMessageId,
    /// When the sender sent it, for the skew check.
    pub sent_at: UnixMillis,
}

impl Envelope {
    /// Reads a required envelope field.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        e: Option<&pb::LinkEnvelope>,
    ) -> Option<Self> {
        let Some(e) = e else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let sender = v.check(path.child("sender_id"), PartyIdentity::parse(&e.sender_id));
        let message_id = v.check(
            path.child("message_id"),
            LinkMessageId::parse(&e.message_id),
        );
        let sent_at = UnixMillis::from_proto(v, &path.child("sent_at"), e.sent_at.as_ref());
        Some(Self {
            sender: sender?,
            message_id: message_id?,
            sent_at: sent_at?,
        })
    }

    /// Converts to the wire type.
    pub fn to_proto(&self) -> pb::LinkEnvelope {
        pb::LinkEnvelope {
            sender_id: self.sender.to_string(),
            message_id: self.message_id.to_string(),
            sent_at: Some(self.sent_at.to_proto()),
        }
    }
}

/// A device request relayed by the mobile server, naming the device that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed<T> {
    /// The firewall envelope.
    pub envelope: Envelope,
    /// The device (its TLS identity at the mobile server).
    pub device_id: DeviceId,
    /// The device's request.
    pub request: T,
}

macro_rules! relay {
    ($inner:ident, $proto:ident) => {
        impl Request for Relayed<$inner> {
            type Proto = pb::$proto;

            fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
                let envelope =
                    Envelope::from_proto(v, &path.child("envelope"), p.envelope.as_ref());
                let device_id = v.check(path.child("device_id"), DeviceId::parse(&p.device_id));
                let request = match &p.request {
                    Some(r) => $inner::parse_at(v, &path.child("request"), r),
                    None => {
                        v.report(path.child("request"), Violation::Missing);
                        None
                    }
                };
                Some(Self {
                    envelope: envelope?,
                    device_id: device_id?,
                    request: request?,
                })
            }

            fn to_proto(&self) -> Self::Proto {
                pb::$proto {
                    envelope: Some(self.envelope.to_proto()),
                    device_id: self.device_id.to_string(),
                    request: Some(self.request.to_proto()),
                }
            }
        }
    };
}

relay!(ConfirmPayment, RelayConfirmPaymentRequest);
relay!(DeclinePayment, RelayDeclinePaymentRequest);
relay!(PreviewPayeeCode, RelayPreviewPayeeCodeRequest);
relay!(SubmitPayeeCode, RelaySubmitPayeeCodeRequest);
relay!(GetWalletBalance, RelayGetWalletBalanceRequest);
relay!(ListWalletHistory, RelayListWalletHistoryRequest);
relay!(TopUpWallet, RelayTopUpWalletRequest);

/// What a device shows for a pushed payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedPayment {
    /// The payment.
    pub payment_id: PaymentId,
    /// The requesting merchant.
    pub merchant_id: MerchantId,
    /// Its display name.
    pub merchant_name: DisplayName,
    /// The amount.
    pub amount: Amount,
    /// What is sold.
    pub items: Vec<LineItem>,
    /// The merchant's reference.
    pub merchant_reference: MerchantReference,
    /// When it expires.
    pub expires_at: UnixMillis,
    /// Password attempts left, at most the limit (OMPP-FLA-002).
    pub attempts_left: u32,
}

impl PushedPayment {
    /// Reads a required pushed request field.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        p: Option<&pb::PushedPaymentRequest>,
    ) -> Option<Self> {
        let Some(p) = p else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let payment_id = v.check(path.child("payment_id"), PaymentId::parse(&p.payment_id));
        let merchant_id = v.check(path.child("merchant_id"), MerchantId::parse(&p.merchant_id));
        let merchant_name = v.check(
            path.child("merchant_name"),
            DisplayName::parse(&p.merchant_name),
        );
        let amount = Amount::from_proto(v, &path.child("amount"), p.amount.as_ref());
        let items = line_items(v, &path.child("items"), &p.items);
        let merchant_reference = v.check(
            path.child("merchant_reference"),
            MerchantReference::parse(&p.merchant_reference),
        );
        let expires_at =
            UnixMillis::from_proto(v, &path.child("expires_at"), p.expires_at.as_ref());
        let attempts_left = v.check(
            path.child("attempts_left"),
            if (1..=PASSWORD_ATTEMPTS).contains(&p.attempts_left) {
                Ok(p.attempts_left)
            } else {
                Err(Violation::OutOfRange {
                    min: 1,
                    max: PASSWORD_ATTEMPTS.into(),
                    actual: p.attempts_left.into(),
                })
            },
        );
        Some(Self {
            payment_id: payment_id?,
            merchant_id: merchant_id?,
            merchant_name: merchant_name?,
            amount: amount?,
            items: items?,
            merchant_reference: merchant_reference?,
            expires_at: expires_at?,
            attempts_left: attempts_left?,
        })
    }

    /// Converts to the wire type.
    pub fn to_proto(&self) -> pb::PushedPaymentRequest {
        pb::PushedPaymentRequest {
            payment_id: self.payment_id.to_string(),
            merchant_id: self.merchant_id.to_string(),
            merchant_name: self.merchant_name.to_string(),
            amount: Some(self.amount.to_proto()),
            items: self.items.iter().map(LineItem::to_proto).collect(),
            merchant_reference: self.merchant_reference.to_string(),
            expires_at: Some(self.expires_at.to_proto()),
            attempts_left: self.attempts_left,
        }
    }
}

fn device_ids(v: &mut Validator, path: &FieldPath, ids: &[String]) -> Option<Vec<DeviceId>> {
    // OMPP-MSG-009: at least one device, at most the limit, no duplicates.
    id_list(v, path, ids, 1, MAX_PUSH_DEVICES, DeviceId::parse)
}

/// Push a payment request to a customer's devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPaymentRequest {
    /// The firewall envelope.
    pub envelope: Envelope,
    /// The customer.
    pub customer_id: CustomerId,
    /// The devices to push to.
    pub device_ids: Vec<DeviceId>,
    /// What the devices show.
    pub payment_request: PushedPayment,
}

impl Request for PushPaymentRequest {
    type Proto = pb::PushPaymentRequestRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let envelope = Envelope::from_proto(v, &path.child("envelope"), p.envelope.as_ref());
        let customer_id = v.check(path.child("customer_id"), CustomerId::parse(&p.customer_id));
        let device_ids = device_ids(v, &path.child("device_ids"), &p.device_ids);
        let payment_request = PushedPayment::from_proto(
            v,
            &path.child("payment_request"),
            p.payment_request.as_ref(),
        );
        Some(Self {
            envelope: envelope?,
            customer_id: customer_id?,
            device_ids: device_ids?,
            payment_request: payment_request?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::PushPaymentRequestRequest {
            envelope: Some(self.envelope.to_proto()),
            customer_id: self.customer_id.to_string(),
            device_ids: self.device_ids.iter().map(ToString::to_string).collect(),
            payment_request: Some(self.payment_request.to_proto()),
        }
    }
}

/// A notice for a device: the status and reason are checked; the receipt is passed through to
/// the device as the network server issued it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The payment, if the notice is about one.
    pub payment_id: Option<PaymentId>,
    /// The payment's new status; `None` for a wallet-only notice.
    pub status: Option<pb::PaymentStatus>,
    /// Why it ended, if it ended other than settled.
    pub reason: Option<pb::ErrorReason>,
    /// The receipt, if settled.
    pub receipt: Option<pb::Receipt>,
    /// Change to the wallet, if value moved.
    pub wallet_delta: Option<Money>,
}

impl Notice {
    /// Reads a required notice field.
    pub fn from_proto(
        v: &mut Validator,
        path: &FieldPath,
        n: Option<&pb::DeviceNotice>,
    ) -> Option<Self> {
        let Some(n) = n else {
            v.report(path.clone(), Violation::Missing);
            return None;
        };
        let payment_id = v.check(
            path.child("payment_id"),
            optional(&n.payment_id, PaymentId::parse),
        );
        // OMPP-MSG-004: a status exactly when the notice is about a payment; a reason exactly
        // when that status is a terminal one other than SETTLED.
        let about_payment = !n.payment_id.is_empty();
        let status = v.check(
            path.child("status"),
            if about_payment {
                required_enum::<pb::PaymentStatus>(n.status).map(Some)
            } else if n.status == 0 {
                Ok(None)
            } else {
                Err(Violation::NotAllowed)
            },
        );
        let needs_reason = matches!(
            status,
            Some(Some(
                pb::PaymentStatus::Declined
                    | pb::PaymentStatus::Expired
                    | pb::PaymentStatus::Cancelled
                    | pb::PaymentStatus::Failed
            ))
        );
        let reason = v.check(
            path.child("reason"),
            match optional_enum::<pb::ErrorReason>(n.reason) {
                Ok(None) if needs_reason => Err(Violation::Missing),
                Ok(Some(_)) if !needs_reason => Err(Violation::NotAllowed),
                other => other,
            },
        );
        let wallet_delta = match &n.wallet_delta {
            // A notice about neither a payment nor the wallet says nothing.
            None if !about_payment => {
                v.report(path.child("wallet_delta"), Violation::Missing);
                None
            }
            None => Some(None),
            Some(m) => Money::from_proto(v, &path.child("wallet_delta"), Some(m)).map(Some),
        };
        Some(Self {
            payment_id: payment_id?,
            status: status?,
            reason: reason?,
            receipt: n.receipt.clone(),
            wallet_delta: wallet_delta?,
        })
    }

    /// Converts to the wire type.
    pub fn to_proto(&self) -> pb::DeviceNotice {
        pb::DeviceNotice {
            payment_id: self
                .payment_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            status: self.status.map(i32::from).unwrap_or_default(),
            reason: self.reason.map(i32::from).unwrap_or_default(),
            receipt: self.receipt.clone(),
            wallet_delta: self.wallet_delta.map(Money::to_proto),
        }
    }
}

/// Push a notice to a customer's devices.
#[derive(Debug, Clone, PartialEq)]
pub struct PushNotice {
    /// The firewall envelope.
    pub envelope: Envelope,
    /// The customer.
    pub customer_id: CustomerId,
    /// The devices to notify.
    pub device_ids: Vec<DeviceId>,
    /// The notice.
    pub notice: Notice,
}

impl Request for PushNotice {
    type Proto = pb::PushNoticeRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let envelope = Envelope::from_proto(v, &path.child("envelope"), p.envelope.as_ref());
        let customer_id = v.check(path.child("customer_id"), CustomerId::parse(&p.customer_id));
        let device_ids = device_ids(v, &path.child("device_ids"), &p.device_ids);
        let notice = Notice::from_proto(v, &path.child("notice"), p.notice.as_ref());
        Some(Self {
            envelope: envelope?,
            customer_id: customer_id?,
            device_ids: device_ids?,
            notice: notice?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::PushNoticeRequest {
            envelope: Some(self.envelope.to_proto()),
            customer_id: self.customer_id.to_string(),
            device_ids: self.device_ids.iter().map(ToString::to_string).collect(),
            notice: Some(self.notice.to_proto()),
        }
    }
}

/// Ask for the requests pending for a device's customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPendingRequests {
    /// The firewall envelope.
    pub envelope: Envelope,
    /// The device that subscribed.
    pub device_id: DeviceId,
}

impl Request for ListPendingRequests {
    type Proto = pb::ListPendingRequestsRequest;

    fn parse_at(v: &mut Validator, path: &FieldPath, p: &Self::Proto) -> Option<Self> {
        let envelope = Envelope::from_proto(v, &path.child("envelope"), p.envelope.as_ref());
        let device_id = v.check(path.child("device_id"), DeviceId::parse(&p.device_id));
        Some(Self {
            envelope: envelope?,
            device_id: device_id?,
        })
    }

    fn to_proto(&self) -> Self::Proto {
        pb::ListPendingRequestsRequest {
            envelope: Some(self.envelope.to_proto()),
            device_id: self.device_id.to_string(),
        }
    }
}
