//! The minimal valid request of every RPC of `ompp.v1`, as published, against today's parsers
//! (OMPP-VER-003): a field added to an existing request is optional for the receiver, absence
//! meaning the earlier behaviour, so a request an older sender builds keeps parsing, and keeps
//! its meaning.
//!
//! Each baseline entry holds only the fields its revision requires, each with a valid value;
//! everything optional is left at its default, as a sender that predates every later field
//! leaves it. The check:
//! - every baseline request is accepted, and where the value has a documented default
//!   (`expires_in`, `page_size`, `validity`...) it gets it;
//! - every field in a baseline request is required: without it the parser rejects the request
//!   and names that field (so the baseline stays minimal, and the check is not vacuous);
//! - every RPC of every service in the descriptor set has exactly one entry, bound to the
//!   parser of its request type: a new RPC fails here until its minimal request is published.
// Test code: a failed expectation is a test failure. The struct update syntax on every baseline
// literal is on purpose even where all fields are named: a field added later stays absent there,
// as an older sender leaves it, and the literal keeps compiling.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::needless_update
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::ops::Range;
use std::time::Duration;

use ompp::limits::{
    CHECKOUT_EXPIRY, DEFAULT_PAGE_SIZE, PAYMENT_EXPIRY, SMS_VALIDITY, STATIC_CODE_VALIDITY,
};
use ompp::proto::v1 as pb;
use ompp::requests::link::Relayed;
use ompp::requests::{Request, bank, device, gateway, link, merchant, registration, sms};
use prost::Message;
use prost_types::field_descriptor_proto::Type;
use prost_types::{DescriptorProto, FileDescriptorSet};

// ---------------------------------------------------------------------------------------------
// The harness: one entry per request message, type-erased through its encoding.
// ---------------------------------------------------------------------------------------------

/// What parsing one encoded request gave.
enum Parsed {
    /// Accepted; with what differs from the documented defaults (empty when all is well).
    Accepted(Vec<String>),
    /// Rejected; the field paths reported.
    Rejected(Vec<String>),
}

type Parse = Box<dyn Fn(&[u8]) -> Parsed>;

/// One published minimal request.
struct Entry {
    /// The proto message name, e.g. `CreatePaymentRequest`.
    message: &'static str,
    /// The Rust type of the message the parser takes, to catch an entry bound to the wrong parser.
    proto_type: &'static str,
    /// The request, encoded.
    encoded: Vec<u8>,
    /// Today's parser, with the default checks of the entry.
    parse: Parse,
}

/// An entry for parser `R`: `proto` is the minimal request, `defaults` checks the parsed value.
fn entry<R: Request + 'static>(
    message: &'static str,
    proto: R::Proto,
    defaults: fn(&R) -> Vec<String>,
) -> Entry {
    Entry {
        message,
        proto_type: std::any::type_name::<R::Proto>(),
        encoded: proto.encode_to_vec(),
        parse: Box::new(move |bytes| parse_with::<R>(bytes, defaults)),
    }
}

fn parse_with<R: Request>(bytes: &[u8], defaults: fn(&R) -> Vec<String>) -> Parsed {
    let proto = R::Proto::decode(bytes).expect("a baseline request re-encodes");
    match R::parse(&proto) {
        Ok(value) => Parsed::Accepted(defaults(&value)),
        Err(e) => Parsed::Rejected(e.errors.iter().map(|e| e.field.to_string()).collect()),
    }
}

/// An entry whose parsed value has no documented default to check.
fn no_defaults<R>(_: &R) -> Vec<String> {
    Vec::new()
}

/// `what` when `actual` is not the documented default `expected`.
fn default_is<T: PartialEq + Debug>(what: &str, actual: T, expected: T) -> Option<String> {
    (actual != expected).then(|| {
        format!("{what} is {actual:?} when absent, not the documented default {expected:?}")
    })
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------------
// The published baseline: ompp.v1 as of spec version 0.1.0.
//
// Never edit an entry to add a field: a request that an older sender builds does not have it,
// so a new field must be optional for the receiver, its absence meaning what the request meant
// before (OMPP-VER-003). A new RPC gets a new entry, with what its first revision requires. A
// field that a later revision makes optional (a widening) is dropped from its entry, which keeps
// the entry minimal. Values are plausible valid ones; they are not part of the contract, the
// set of fields is.
// ---------------------------------------------------------------------------------------------

/// The smallest DER value that passes the outer CSR check: a SEQUENCE holding an INTEGER 0.
fn csr() -> Vec<u8> {
    vec![0x30, 0x03, 0x02, 0x01, 0x00]
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
        ..Default::default()
    })
}

fn account(account_number: &str) -> Option<pb::BankAccountRef> {
    Some(pb::BankAccountRef {
        bank_id: "DEUTDEFF500".into(),
        account_number: account_number.into(),
        ..Default::default()
    })
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn envelope(sender_id: &str) -> Option<pb::LinkEnvelope> {
    Some(pb::LinkEnvelope {
        sender_id: sender_id.into(),
        message_id: "0f8e7d6c-5b4a-4321-9876-abcdefabcdef".into(),
        sent_at: ts(1_767_225_600),
        ..Default::default()
    })
}

const PASSWORD: &str = "correct horse";
const PAYLOAD: &str = "00020101021226340014eu.ompp.payee0106M-1042020201520459995303978540512.505802PT5911Cafe Aurora6006Lisboa6304A1B2";
const SESSION_TOKEN: &str = "q3Zx-9_TkLm2Np7Rs4Uv8Wy1Ab5Cd6Ef0Gh-Ij_KlMn";
const HANDSET_TOKEN: &str = "Hs_8kP2-qW4eR6tY8uI0oP1aS3dF5gH7jK9lZxCvBnM";

// The minimal device requests, also relayed unchanged by the mobile server.

fn confirm_payment() -> pb::ConfirmPaymentRequest {
    pb::ConfirmPaymentRequest {
        payment_id: "pay-1".into(),
        amount: eur(1250),
        password: PASSWORD.into(),
        ..Default::default()
    }
}

fn decline_payment() -> pb::DeclinePaymentRequest {
    pb::DeclinePaymentRequest {
        payment_id: "pay-1".into(),
        ..Default::default()
    }
}

fn preview_payee_code() -> pb::PreviewPayeeCodeRequest {
    pb::PreviewPayeeCodeRequest {
        payload: PAYLOAD.into(),
        ..Default::default()
    }
}

fn submit_payee_code() -> pb::SubmitPayeeCodeRequest {
    pb::SubmitPayeeCodeRequest {
        payload: PAYLOAD.into(),
        amount: eur(1250),
        password: PASSWORD.into(),
        idempotency_key: "k1".into(),
        ..Default::default()
    }
}

fn top_up_wallet() -> pb::TopUpWalletRequest {
    pb::TopUpWalletRequest {
        amount: eur(5000),
        password: PASSWORD.into(),
        idempotency_key: "k1".into(),
        ..Default::default()
    }
}

/// OMPP-MSG-007: a page size left out is the default page size; no currency filter, first page.
fn list_wallet_history_defaults(r: &device::ListWalletHistory) -> Vec<String> {
    [
        default_is("page_size", r.page_size, DEFAULT_PAGE_SIZE),
        default_is("currency", r.currency, None),
        default_is("page_token", r.page_token.to_string(), String::new()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every request message of every RPC, with the parser that reads it.
fn baseline() -> Vec<Entry> {
    vec![
        // RegistrationService.
        entry::<registration::RegisterMerchant>(
            "RegisterMerchantRequest",
            pb::RegisterMerchantRequest {
                enrollment_token: "enroll-0123456789abcdef".into(),
                display_name: "Cafe Aurora".into(),
                csr_der: csr(),
                settlement_currencies: vec!["EUR".into()],
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            |r| {
                default_is("bank_account", r.bank_account.is_some(), false)
                    .into_iter()
                    .collect()
            },
        ),
        entry::<registration::RegisterCustomer>(
            "RegisterCustomerRequest",
            pb::RegisterCustomerRequest {
                display_name: "Ana".into(),
                phone_number: "+4915112345678".into(),
                password: PASSWORD.into(),
                wallet_currencies: vec!["EUR".into()],
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            |r| {
                default_is("bank_account", r.bank_account.is_some(), false)
                    .into_iter()
                    .collect()
            },
        ),
        entry::<registration::PairDevice>(
            "PairDeviceRequest",
            pb::PairDeviceRequest {
                customer_id: "C-7".into(),
                password: PASSWORD.into(),
                device_name: "Phone".into(),
                csr_der: csr(),
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // MerchantPaymentService.
        entry::<merchant::CreatePayment>(
            "CreatePaymentRequest",
            pb::CreatePaymentRequest {
                merchant_id: "M-1".into(),
                customer_id: "C-7".into(),
                amount: eur(1250),
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            // OMPP-FLA-001: the expiry left out is the default.
            |r| {
                [
                    default_is(
                        "expires_in",
                        r.expires_in,
                        secs(PAYMENT_EXPIRY.default_secs),
                    ),
                    default_is("items", r.items.len(), 0),
                    default_is(
                        "merchant_reference",
                        r.merchant_reference.to_string(),
                        String::new(),
                    ),
                ]
                .into_iter()
                .flatten()
                .collect()
            },
        ),
        entry::<merchant::GetPayment>(
            "GetPaymentRequest",
            pb::GetPaymentRequest {
                merchant_id: "M-1".into(),
                payment_id: "pay-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<merchant::WatchPayment>(
            "WatchPaymentRequest",
            pb::WatchPaymentRequest {
                merchant_id: "M-1".into(),
                payment_id: "pay-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<merchant::CancelPayment>(
            "CancelPaymentRequest",
            pb::CancelPaymentRequest {
                merchant_id: "M-1".into(),
                payment_id: "pay-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<merchant::GetReceipt>(
            "GetReceiptRequest",
            pb::GetReceiptRequest {
                merchant_id: "M-1".into(),
                payment_id: "pay-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // A static code: no amount, only its currency.
        entry::<merchant::IssuePayeeCode>(
            "IssuePayeeCodeRequest",
            pb::IssuePayeeCodeRequest {
                merchant_id: "M-1".into(),
                currency: "EUR".into(),
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            // OMPP-FLB-001: a static code's validity left out is the static default.
            |r| {
                [
                    default_is(
                        "expires_in",
                        r.expires_in,
                        secs(STATIC_CODE_VALIDITY.default_secs),
                    ),
                    default_is(
                        "merchant_reference",
                        r.merchant_reference.to_string(),
                        String::new(),
                    ),
                ]
                .into_iter()
                .flatten()
                .collect()
            },
        ),
        entry::<merchant::OpenCheckout>(
            "OpenCheckoutRequest",
            pb::OpenCheckoutRequest {
                merchant_id: "M-1".into(),
                amount: eur(1250),
                merchant_reference: "ORDER-1".into(),
                idempotency_key: "k1".into(),
                ..Default::default()
            },
            // OMPP-FLC-001: the checkout lifetime left out is the default.
            |r| {
                [
                    default_is(
                        "expires_in",
                        r.expires_in,
                        secs(CHECKOUT_EXPIRY.default_secs),
                    ),
                    default_is("items", r.items.len(), 0),
                ]
                .into_iter()
                .flatten()
                .collect()
            },
        ),
        entry::<merchant::GetMerchantBalance>(
            "GetMerchantBalanceRequest",
            pb::GetMerchantBalanceRequest {
                merchant_id: "M-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // DeviceService.
        entry::<device::Subscribe>(
            "SubscribeRequest",
            pb::SubscribeRequest {
                ..Default::default()
            },
            |r| {
                default_is("known_payment_ids", r.known_payment_ids.len(), 0)
                    .into_iter()
                    .collect()
            },
        ),
        entry::<device::ConfirmPayment>("ConfirmPaymentRequest", confirm_payment(), no_defaults),
        entry::<device::DeclinePayment>("DeclinePaymentRequest", decline_payment(), no_defaults),
        entry::<device::PreviewPayeeCode>(
            "PreviewPayeeCodeRequest",
            preview_payee_code(),
            no_defaults,
        ),
        entry::<device::SubmitPayeeCode>(
            "SubmitPayeeCodeRequest",
            submit_payee_code(),
            no_defaults,
        ),
        entry::<device::GetWalletBalance>(
            "GetWalletBalanceRequest",
            pb::GetWalletBalanceRequest {
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<device::ListWalletHistory>(
            "ListWalletHistoryRequest",
            pb::ListWalletHistoryRequest {
                ..Default::default()
            },
            list_wallet_history_defaults,
        ),
        entry::<device::TopUpWallet>("TopUpWalletRequest", top_up_wallet(), no_defaults),
        // GatewayService.
        entry::<gateway::GetCheckoutStatus>(
            "GetCheckoutStatusRequest",
            pb::GetCheckoutStatusRequest {
                payment_id: "chk-7f3a".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<gateway::SubmitPassword>(
            "SubmitPasswordRequest",
            pb::SubmitPasswordRequest {
                payment_id: "chk-7f3a".into(),
                phone_number: "+4915112345678".into(),
                password: PASSWORD.into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<gateway::SubmitAuthorizationCode>(
            "SubmitAuthorizationCodeRequest",
            pb::SubmitAuthorizationCodeRequest {
                payment_id: "chk-7f3a".into(),
                session_token: SESSION_TOKEN.into(),
                authorization_code: "048213".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // NetworkLinkService: the relays carry the minimal device requests above.
        entry::<Relayed<device::ConfirmPayment>>(
            "RelayConfirmPaymentRequest",
            pb::RelayConfirmPaymentRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(confirm_payment()),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<Relayed<device::DeclinePayment>>(
            "RelayDeclinePaymentRequest",
            pb::RelayDeclinePaymentRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(decline_payment()),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<Relayed<device::PreviewPayeeCode>>(
            "RelayPreviewPayeeCodeRequest",
            pb::RelayPreviewPayeeCodeRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(preview_payee_code()),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<Relayed<device::SubmitPayeeCode>>(
            "RelaySubmitPayeeCodeRequest",
            pb::RelaySubmitPayeeCodeRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(submit_payee_code()),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<Relayed<device::GetWalletBalance>>(
            "RelayGetWalletBalanceRequest",
            pb::RelayGetWalletBalanceRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(pb::GetWalletBalanceRequest {
                    ..Default::default()
                }),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<Relayed<device::ListWalletHistory>>(
            "RelayListWalletHistoryRequest",
            pb::RelayListWalletHistoryRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(pb::ListWalletHistoryRequest {
                    ..Default::default()
                }),
                ..Default::default()
            },
            |r| list_wallet_history_defaults(&r.request),
        ),
        entry::<Relayed<device::TopUpWallet>>(
            "RelayTopUpWalletRequest",
            pb::RelayTopUpWalletRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                request: Some(top_up_wallet()),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<link::ListPendingRequests>(
            "ListPendingRequestsRequest",
            pb::ListPendingRequestsRequest {
                envelope: envelope("ompp://mobile/MS-1"),
                device_id: "D-9".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // MobileLinkService.
        entry::<link::PushPaymentRequest>(
            "PushPaymentRequestRequest",
            pb::PushPaymentRequestRequest {
                envelope: envelope("ompp://network/NS-1"),
                customer_id: "C-7".into(),
                device_ids: vec!["D-9".into()],
                payment_request: Some(pb::PushedPaymentRequest {
                    payment_id: "pay-1".into(),
                    merchant_id: "M-1".into(),
                    merchant_name: "Cafe Aurora".into(),
                    amount: eur(1250),
                    expires_at: ts(1_767_225_720),
                    attempts_left: 3,
                    ..Default::default()
                }),
                ..Default::default()
            },
            |r| {
                let p = &r.payment_request;
                [
                    default_is("payment_request.items", p.items.len(), 0),
                    default_is(
                        "payment_request.merchant_reference",
                        p.merchant_reference.to_string(),
                        String::new(),
                    ),
                ]
                .into_iter()
                .flatten()
                .collect()
            },
        ),
        // A wallet-only notice: the least a notice can say (a payment notice also needs its
        // status). A zero delta is the default of `minor_units`, so it is left out too.
        entry::<link::PushNotice>(
            "PushNoticeRequest",
            pb::PushNoticeRequest {
                envelope: envelope("ompp://network/NS-1"),
                customer_id: "C-7".into(),
                device_ids: vec!["D-9".into()],
                notice: Some(pb::DeviceNotice {
                    wallet_delta: eur(0),
                    ..Default::default()
                }),
                ..Default::default()
            },
            |r| {
                let n = &r.notice;
                [
                    default_is("notice.payment_id", n.payment_id.is_some(), false),
                    default_is("notice.status", n.status, None),
                    default_is("notice.reason", n.reason, None),
                    default_is("notice.receipt", n.receipt.is_some(), false),
                ]
                .into_iter()
                .flatten()
                .collect()
            },
        ),
        // BankProcessorService.
        entry::<bank::ExecuteTransfer>(
            "ExecuteTransferRequest",
            pb::ExecuteTransferRequest {
                transfer_id: "tr-1".into(),
                debit_account: account("DE89370400440532013000"),
                credit_account: account("DE02120300000000202051"),
                amount: eur(1250),
                ..Default::default()
            },
            |r| {
                default_is(
                    "remittance_info",
                    r.remittance_info.to_string(),
                    String::new(),
                )
                .into_iter()
                .collect()
            },
        ),
        entry::<bank::GetTransfer>(
            "GetTransferRequest",
            pb::GetTransferRequest {
                transfer_id: "tr-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // SmsCenterService.
        entry::<sms::SubmitMessage>(
            "SubmitMessageRequest",
            pb::SubmitMessageRequest {
                message_id: "sms-1".into(),
                recipient: "+4915112345678".into(),
                sender: "OMPP Pay".into(),
                text: "OMPP code 048213".into(),
                ..Default::default()
            },
            // OMPP-SMS-001: the validity left out is the default.
            |r| {
                default_is("validity", r.validity, secs(SMS_VALIDITY.default_secs))
                    .into_iter()
                    .collect()
            },
        ),
        entry::<sms::GetDeliveryReport>(
            "GetDeliveryReportRequest",
            pb::GetDeliveryReportRequest {
                message_id: "sms-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        // HandsetService.
        entry::<sms::RegisterHandset>(
            "RegisterHandsetRequest",
            pb::RegisterHandsetRequest {
                phone_number: "+4915112345678".into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<sms::ReceiveMessages>(
            "ReceiveMessagesRequest",
            pb::ReceiveMessagesRequest {
                handset_id: "hs-1".into(),
                handset_token: HANDSET_TOKEN.into(),
                ..Default::default()
            },
            no_defaults,
        ),
        entry::<sms::AcknowledgeMessage>(
            "AcknowledgeMessageRequest",
            pb::AcknowledgeMessageRequest {
                handset_id: "hs-1".into(),
                handset_token: HANDSET_TOKEN.into(),
                message_id: "sms-1".into(),
                ..Default::default()
            },
            no_defaults,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// The wire contract, from the descriptor set the crate is built from.
// ---------------------------------------------------------------------------------------------

/// The messages of `ompp.v1` by full name (`.ompp.v1.X`, nested ones `.ompp.v1.X.Y`), and the
/// request message of every RPC with the RPC's name.
struct Contract {
    messages: BTreeMap<String, DescriptorProto>,
    requests: BTreeMap<String, String>,
}

fn contract() -> Contract {
    fn add(prefix: &str, message: &DescriptorProto, into: &mut BTreeMap<String, DescriptorProto>) {
        let name = format!("{prefix}.{}", message.name());
        for nested in &message.nested_type {
            add(&name, nested, into);
        }
        into.insert(name, message.clone());
    }
    let fds = FileDescriptorSet::decode(ompp::proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut messages = BTreeMap::new();
    let mut requests = BTreeMap::new();
    for file in &fds.file {
        let prefix = format!(".{}", file.package());
        for message in &file.message_type {
            add(&prefix, message, &mut messages);
        }
        for service in &file.service {
            for method in &service.method {
                let input = method.input_type().rsplit('.').next().unwrap_or_default();
                requests.insert(
                    input.to_owned(),
                    format!("{}.{}", service.name(), method.name()),
                );
            }
        }
    }
    Contract { messages, requests }
}

// Just enough of the protobuf wire format to drop one field from an encoded message.

/// One occurrence of a field in an encoded message.
struct Occurrence {
    number: u32,
    /// The whole occurrence: key and value.
    whole: Range<usize>,
    /// The payload of a length-delimited value.
    payload: Option<Range<usize>>,
}

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint longer than 10 bytes")
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn occurrences(bytes: &[u8]) -> Vec<Occurrence> {
    let mut at = 0;
    let mut found = Vec::new();
    while at < bytes.len() {
        let start = at;
        let key = read_varint(bytes, &mut at);
        let number = u32::try_from(key >> 3).unwrap();
        let payload = match key & 7 {
            0 => {
                read_varint(bytes, &mut at);
                None
            }
            1 => {
                at += 8;
                None
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)).unwrap();
                at += len;
                Some(at - len..at)
            }
            5 => {
                at += 4;
                None
            }
            wire_type => panic!("wire type {wire_type} is not used by ompp.v1"),
        };
        found.push(Occurrence {
            number,
            whole: start..at,
            payload,
        });
    }
    found
}

/// `bytes` without the field at `path` (field numbers, outermost first), in every occurrence.
fn without(bytes: &[u8], path: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for o in occurrences(bytes) {
        if o.number != path[0] {
            out.extend_from_slice(&bytes[o.whole]);
        } else if path.len() > 1 {
            let payload = o.payload.expect("a path goes through message fields");
            let inner = without(&bytes[payload], &path[1..]);
            write_varint(u64::from(o.number) << 3 | 2, &mut out);
            write_varint(inner.len() as u64, &mut out);
            out.extend(inner);
        }
    }
    out
}

/// Every field present in `bytes`, a message `message` of the contract: its path of numbers and
/// its dotted name. Goes into `ompp.v1` messages, not into well-known types (a timestamp's
/// seconds may be zero).
fn present(
    contract: &Contract,
    message: &str,
    bytes: &[u8],
    at: (&[u32], &str),
    found: &mut Vec<(Vec<u32>, String)>,
) {
    let descriptor = &contract.messages[message];
    for o in occurrences(bytes) {
        let field = descriptor
            .field
            .iter()
            .find(|f| f.number() == i32::try_from(o.number).unwrap())
            .unwrap_or_else(|| panic!("{message} has no field {}", o.number));
        let numbers = [at.0, &[o.number]].concat();
        let name = if at.1.is_empty() {
            field.name().to_owned()
        } else {
            format!("{}.{}", at.1, field.name())
        };
        if field.r#type() == Type::Message && field.type_name().starts_with(".ompp.v1.") {
            let payload = o.payload.expect("a message field is length-delimited");
            present(
                contract,
                field.type_name(),
                &bytes[payload],
                (&numbers, &name),
                found,
            );
        }
        found.push((numbers, name));
    }
    found.sort();
    found.dedup();
}

/// A reported path, without list indexes: `items[0].quantity` is `items.quantity`.
fn unindexed(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether an error at `reported` is about field `field`: the field itself, a field inside it,
/// or the message that holds it.
fn names(reported: &str, field: &str) -> bool {
    let reported = unindexed(reported);
    reported == field
        || reported.starts_with(&format!("{field}."))
        || field.starts_with(&format!("{reported}."))
}

// ---------------------------------------------------------------------------------------------
// The check.
// ---------------------------------------------------------------------------------------------

/// Every problem of `entries` against `contract` and today's parsers; empty when all is well.
fn problems(entries: &[Entry], contract: &Contract) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in entries {
        let message = entry.message;
        if !seen.insert(message) {
            problems.push(format!("{message} has two baseline entries"));
        }
        if !entry.proto_type.ends_with(&format!("::{message}")) {
            problems.push(format!(
                "the {message} entry is bound to the parser of {}",
                entry.proto_type
            ));
        }
        if !contract.requests.contains_key(message) {
            problems.push(format!("{message} is not the request of any RPC"));
        }
        match (entry.parse)(&entry.encoded) {
            Parsed::Rejected(fields) => problems.push(format!(
                "{message}: the published minimal request is rejected at {fields:?}; a field \
                 added to an existing request must be optional, its absence meaning the earlier \
                 behaviour (OMPP-VER-003)"
            )),
            Parsed::Accepted(defaults) => problems.extend(defaults.into_iter().map(|d| {
                format!("{message}: {d}; absence must keep the earlier meaning (OMPP-VER-003)")
            })),
        }
        let mut fields = Vec::new();
        present(
            contract,
            &format!(".ompp.v1.{message}"),
            &entry.encoded,
            (&[], ""),
            &mut fields,
        );
        for (numbers, name) in fields {
            match (entry.parse)(&without(&entry.encoded, &numbers)) {
                Parsed::Accepted(_) => problems.push(format!(
                    "{message}.{name} is optional today: the baseline holds only the fields its \
                     revision requires"
                )),
                Parsed::Rejected(reported) if !reported.iter().any(|r| names(r, &name)) => {
                    problems.push(format!(
                        "{message} without {name} is rejected at {reported:?}, which does not \
                         name {name}"
                    ));
                }
                Parsed::Rejected(_) => {}
            }
        }
    }
    for (message, rpc) in &contract.requests {
        if !seen.contains(message.as_str()) {
            problems.push(format!(
                "{message}, the request of {rpc}, has no baseline entry: publish its minimal \
                 valid request here"
            ));
        }
    }
    problems
}

#[test]
fn every_published_minimal_request_is_still_accepted() {
    let contract = contract();
    let entries = baseline();
    // Not vacuous: the descriptor set was read (ompp.v1 as published has 39 RPCs), and
    // `problems` reports every RPC without its entry.
    assert!(
        contract.requests.len() >= 39,
        "{} RPCs",
        contract.requests.len()
    );
    assert_eq!(entries.len(), contract.requests.len());
    let problems = problems(&entries, &contract);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Replaces the parser of the `CreatePaymentRequest` entry by today's parser plus `stricter`,
/// which reports the field it returns: a revision that made that field required.
fn with_stricter_parser(
    entries: &mut [Entry],
    stricter: fn(&pb::CreatePaymentRequest) -> Option<&'static str>,
) {
    let entry = entries
        .iter_mut()
        .find(|e| e.message == "CreatePaymentRequest")
        .unwrap();
    entry.parse = Box::new(move |bytes| {
        let proto = pb::CreatePaymentRequest::decode(bytes).unwrap();
        let today = parse_with::<merchant::CreatePayment>(bytes, no_defaults);
        match (stricter(&proto), today) {
            (None, today) => today,
            (Some(field), Parsed::Accepted(_)) => Parsed::Rejected(vec![field.to_owned()]),
            (Some(field), Parsed::Rejected(mut fields)) => {
                fields.push(field.to_owned());
                Parsed::Rejected(fields)
            }
        }
    });
}

#[test]
fn a_request_lacking_a_now_required_field_is_reported() {
    let contract = contract();

    // A revision whose parser requires `merchant_reference`, optional when published: the
    // published request of an older sender, without it, is reported by that field.
    let mut entries = baseline();
    with_stricter_parser(&mut entries, |p| {
        p.merchant_reference
            .is_empty()
            .then_some("merchant_reference")
    });
    let found = problems(&entries, &contract);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("CreatePaymentRequest: the published minimal request is rejected at [\"merchant_reference\"]"),
        "{found:#?}"
    );

    // The same through today's parser: a published request without a field the parser requires
    // (as an older sender would send it if the field were new) is reported, naming the field.
    let mut entries = baseline();
    let entry = entries
        .iter_mut()
        .find(|e| e.message == "CreatePaymentRequest")
        .unwrap();
    let mut proto = pb::CreatePaymentRequest::decode(entry.encoded.as_slice()).unwrap();
    proto.idempotency_key.clear();
    entry.encoded = proto.encode_to_vec();
    let found = problems(&entries, &contract);
    assert!(
        found.iter().any(|p| p.starts_with(
            "CreatePaymentRequest: the published minimal request is rejected at [\"idempotency_key\"]"
        )),
        "{found:#?}"
    );

    // A changed default: the parsed value no longer has what absence meant.
    let mut entries = baseline();
    let entry = entries
        .iter_mut()
        .find(|e| e.message == "CreatePaymentRequest")
        .unwrap();
    entry.parse = Box::new(|bytes| {
        parse_with::<merchant::CreatePayment>(bytes, |r| {
            default_is(
                "expires_in",
                r.expires_in,
                secs(PAYMENT_EXPIRY.default_secs + 1),
            )
            .into_iter()
            .collect()
        })
    });
    let found = problems(&entries, &contract);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("CreatePaymentRequest: expires_in is 120s when absent"),
        "{found:#?}"
    );
}

#[test]
fn a_forgotten_request_or_an_optional_field_in_the_baseline_is_reported() {
    let contract = contract();

    // An RPC without an entry.
    let mut entries = baseline();
    entries.retain(|e| e.message != "TopUpWalletRequest");
    let found = problems(&entries, &contract);
    assert_eq!(
        found,
        [
            "TopUpWalletRequest, the request of DeviceService.TopUpWallet, has no baseline entry: \
          publish its minimal valid request here"
        ]
    );

    // An optional field in an entry, at the top and nested: the baseline must stay minimal.
    let mut entries = baseline();
    entries.retain(|e| {
        e.message != "CreatePaymentRequest" && e.message != "PushPaymentRequestRequest"
    });
    entries.push(entry::<merchant::CreatePayment>(
        "CreatePaymentRequest",
        pb::CreatePaymentRequest {
            merchant_id: "M-1".into(),
            customer_id: "C-7".into(),
            amount: eur(1250),
            merchant_reference: "till 4".into(),
            idempotency_key: "k1".into(),
            ..Default::default()
        },
        no_defaults,
    ));
    entries.push(entry::<link::PushPaymentRequest>(
        "PushPaymentRequestRequest",
        pb::PushPaymentRequestRequest {
            envelope: envelope("ompp://network/NS-1"),
            customer_id: "C-7".into(),
            device_ids: vec!["D-9".into()],
            payment_request: Some(pb::PushedPaymentRequest {
                payment_id: "pay-1".into(),
                merchant_id: "M-1".into(),
                merchant_name: "Cafe Aurora".into(),
                amount: eur(1250),
                items: vec![pb::LineItem {
                    product_code: "SKU-1".into(),
                    quantity: 1,
                    ..Default::default()
                }],
                expires_at: ts(1_767_225_720),
                attempts_left: 3,
                ..Default::default()
            }),
            ..Default::default()
        },
        no_defaults,
    ));
    let found = problems(&entries, &contract);
    assert_eq!(
        found,
        [
            "CreatePaymentRequest.merchant_reference is optional today: the baseline holds only \
             the fields its revision requires",
            "PushPaymentRequestRequest.payment_request.items is optional today: the baseline \
             holds only the fields its revision requires",
        ]
    );

    // An entry bound to the wrong parser.
    let mut entries = baseline();
    let entry = entries
        .iter_mut()
        .find(|e| e.message == "GetPaymentRequest")
        .unwrap();
    entry.proto_type = std::any::type_name::<pb::GetReceiptRequest>();
    let found = problems(&entries, &contract);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("the GetPaymentRequest entry is bound to the parser of"));
}

#[test]
fn dropping_a_field_from_an_encoding_leaves_the_rest() {
    let proto = pb::RelayConfirmPaymentRequest {
        envelope: envelope("ompp://mobile/MS-1"),
        device_id: "D-9".into(),
        request: Some(confirm_payment()),
        ..Default::default()
    };
    let bytes = proto.encode_to_vec();
    // request (3) . password (3)
    let dropped =
        pb::RelayConfirmPaymentRequest::decode(without(&bytes, &[3, 3]).as_slice()).unwrap();
    let mut expected = proto.clone();
    expected.request.as_mut().unwrap().password.clear();
    assert_eq!(dropped, expected);
    let dropped = pb::RelayConfirmPaymentRequest::decode(without(&bytes, &[2]).as_slice()).unwrap();
    expected = proto;
    expected.device_id.clear();
    assert_eq!(dropped, expected);
}
