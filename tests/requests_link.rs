//! Validation tables for the secure-link requests: the relays of `NetworkLinkService` (a device
//! request nested under `request`), `ListPendingRequests`, and the pushes of `MobileLinkService`.

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::device::*;
use ompp::requests::link::*;
use support::{Case, run};

/// Smallest and largest `google.protobuf.Timestamp` seconds (0001-01-01 and 9999-12-31).
const MIN_TS: i64 = -62_135_596_800;
const MAX_TS: i64 = 253_402_300_799;

fn ts(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos })
}

/// Domain timestamps have millisecond precision, so canonical fixtures use whole milliseconds.
fn envelope(sender_id: &str) -> Option<pb::LinkEnvelope> {
    Some(pb::LinkEnvelope {
        sender_id: sender_id.into(),
        message_id: "0f8e7d6c-5b4a-4321-9876-abcdefabcdef".into(),
        sent_at: ts(1_767_225_600, 123_000_000),
    })
}

fn money(currency: &str, minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: currency.into(),
        minor_units,
    })
}

fn eur(minor_units: i64) -> Option<pb::Money> {
    money("EUR", minor_units)
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|c| (*c).to_owned()).collect()
}

/// Parses a message that must be accepted (a macro, so that the panic is in the test).
macro_rules! accepts {
    ($request:ty, $message:expr) => {
        <$request>::parse($message).unwrap_or_else(|e| panic!("valid message rejected: {e:?}"))
    };
}

/// The field paths reported for `message`; none if it is accepted.
fn fields<R: Request>(message: &R::Proto) -> Vec<String> {
    match R::parse(message) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors.iter().map(|e| e.field.to_string()).collect(),
    }
}

/// Every secure-link request carries an envelope.
trait Linked {
    fn envelope(&mut self) -> &mut Option<pb::LinkEnvelope>;
    fn env(&mut self) -> &mut pb::LinkEnvelope {
        self.envelope().get_or_insert_default()
    }
}

/// Requests of the mobile server that name the device they come from.
trait FromDevice: Linked {
    fn device_id(&mut self) -> &mut String;
}

/// Relays also carry the device's request.
trait Relay: FromDevice {
    fn drop_request(&mut self);
}

macro_rules! linked {
    ($($t:ident),*) => {$(
        impl Linked for pb::$t {
            fn envelope(&mut self) -> &mut Option<pb::LinkEnvelope> { &mut self.envelope }
        }
    )*};
}
linked!(PushPaymentRequestRequest, PushNoticeRequest);

macro_rules! from_device {
    ($($t:ident),*) => {$(
        linked!($t);
        impl FromDevice for pb::$t {
            fn device_id(&mut self) -> &mut String { &mut self.device_id }
        }
    )*};
}
from_device!(ListPendingRequestsRequest);

macro_rules! relay {
    ($($t:ident),*) => {$(
        from_device!($t);
        impl Relay for pb::$t {
            fn drop_request(&mut self) { self.request = None; }
        }
    )*};
}
relay!(
    RelayConfirmPaymentRequest,
    RelayDeclinePaymentRequest,
    RelayPreviewPayeeCodeRequest,
    RelaySubmitPayeeCodeRequest,
    RelayGetWalletBalanceRequest,
    RelayListWalletHistoryRequest,
    RelayTopUpWalletRequest
);

/// Every envelope rule (OMPP-LINK-002), for the full tables.
fn envelope_cases<P: Linked>() -> Vec<Case<P>> {
    vec![
        ("envelope", "envelope missing", |p| *p.envelope() = None),
        ("envelope.sender_id", "sender id missing", |p| {
            p.env().sender_id.clear()
        }),
        ("envelope.sender_id", "sender id without scheme", |p| {
            p.env().sender_id = "mobile/MS-1".into()
        }),
        (
            "envelope.sender_id",
            "sender id with an https scheme",
            |p| p.env().sender_id = "https://mobile/MS-1".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with an upper-case scheme",
            |p| p.env().sender_id = "OMPP://mobile/MS-1".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with an unknown role",
            |p| p.env().sender_id = "ompp://operator/OP-1".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with an upper-case role",
            |p| p.env().sender_id = "ompp://Mobile/MS-1".into(),
        ),
        ("envelope.sender_id", "sender id without id", |p| {
            p.env().sender_id = "ompp://mobile/".into()
        }),
        (
            "envelope.sender_id",
            "sender id without the slash before the id",
            |p| p.env().sender_id = "ompp://mobile".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with a space in the id",
            |p| p.env().sender_id = "ompp://mobile/MS 1".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with a path after the id",
            |p| p.env().sender_id = "ompp://mobile/MS-1/x".into(),
        ),
        (
            "envelope.sender_id",
            "sender id with an id of 65 characters",
            |p| p.env().sender_id = format!("ompp://mobile/{}", "M".repeat(65)),
        ),
        (
            "envelope.sender_id",
            "sender id with a trailing newline",
            |p| p.env().sender_id = "ompp://mobile/MS-1\n".into(),
        ),
        ("envelope.message_id", "message id missing", |p| {
            p.env().message_id.clear()
        }),
        ("envelope.message_id", "message id of 15 characters", |p| {
            p.env().message_id = "m".repeat(15)
        }),
        ("envelope.message_id", "message id of 65 characters", |p| {
            p.env().message_id = "m".repeat(65)
        }),
        ("envelope.message_id", "message id in braces", |p| {
            p.env().message_id = "{0f8e7d6c-5b4a-4321-9876-abcdefabcdef}".into()
        }),
        (
            "envelope.message_id",
            "message id starting with a dash",
            |p| p.env().message_id = "-0f8e7d6c5b4a4321".into(),
        ),
        ("envelope.sent_at", "sent at missing", |p| {
            p.env().sent_at = None
        }),
        (
            "envelope.sent_at.nanos",
            "sent at with negative nanos",
            |p| p.env().sent_at = ts(1_767_225_600, -1),
        ),
        (
            "envelope.sent_at.nanos",
            "sent at with nanos of one second",
            |p| p.env().sent_at = ts(1_767_225_600, 1_000_000_000),
        ),
        ("envelope.sent_at.seconds", "sent at before year 1", |p| {
            p.env().sent_at = ts(MIN_TS - 1, 0)
        }),
        ("envelope.sent_at.seconds", "sent at after year 9999", |p| {
            p.env().sent_at = ts(MAX_TS + 1, 0)
        }),
        ("envelope.sent_at.seconds", "sent at i64::MIN", |p| {
            p.env().sent_at = ts(i64::MIN, 0)
        }),
    ]
}

/// One case per envelope field, for the short tables.
fn short_envelope_cases<P: Linked>() -> Vec<Case<P>> {
    vec![
        ("envelope", "envelope missing", |p| *p.envelope() = None),
        (
            "envelope.sender_id",
            "sender id with an unknown role",
            |p| p.env().sender_id = "ompp://root/R-1".into(),
        ),
        ("envelope.message_id", "message id of 15 characters", |p| {
            p.env().message_id = "m".repeat(15)
        }),
        ("envelope.sent_at", "sent at missing", |p| {
            p.env().sent_at = None
        }),
    ]
}

fn device_id_cases<P: FromDevice>() -> Vec<Case<P>> {
    vec![
        ("device_id", "device id missing", |p| p.device_id().clear()),
        ("device_id", "device id given as an identity URI", |p| {
            *p.device_id() = "ompp://device/D-5Q2W8".into()
        }),
        ("device_id", "device id of 65 characters", |p| {
            *p.device_id() = "D".repeat(65)
        }),
    ]
}

fn relay_cases<P: Relay>(full: bool) -> Vec<Case<P>> {
    let mut cases: Vec<Case<P>> = if full {
        envelope_cases()
    } else {
        short_envelope_cases()
    };
    cases.extend(device_id_cases());
    cases.push(("request", "request missing", |p| p.drop_request()));
    cases
}

fn relay<P: Default + Linked>(request: impl FnOnce(&mut P)) -> P {
    let mut message = P::default();
    *message.envelope() = envelope("ompp://mobile/MS-1");
    request(&mut message);
    message
}

fn relay_confirm_payment() -> pb::RelayConfirmPaymentRequest {
    relay(|p: &mut pb::RelayConfirmPaymentRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::ConfirmPaymentRequest {
            payment_id: "pay-1".into(),
            amount: eur(1250),
            password: "correct horse battery".into(),
        });
    })
}

#[test]
fn relay_confirm_payment_table() {
    let mut cases = relay_cases::<pb::RelayConfirmPaymentRequest>(true);
    let more: &[Case<pb::RelayConfirmPaymentRequest>] = &[
        ("request.payment_id", "payment id missing", |p| {
            p.request.get_or_insert_default().payment_id.clear()
        }),
        ("request.payment_id", "payment id with a space", |p| {
            p.request.get_or_insert_default().payment_id = "pay 1".into()
        }),
        ("request.amount", "amount missing", |p| {
            p.request.get_or_insert_default().amount = None
        }),
        ("request.amount.currency", "currency missing", |p| {
            p.request.get_or_insert_default().amount = money("", 1250)
        }),
        ("request.amount.currency", "currency unknown", |p| {
            p.request.get_or_insert_default().amount = money("XYZ", 1250)
        }),
        ("request.amount.minor_units", "amount zero", |p| {
            p.request.get_or_insert_default().amount = eur(0)
        }),
        ("request.password", "password missing", |p| {
            p.request.get_or_insert_default().password.clear()
        }),
        ("request.password", "password of 7 characters", |p| {
            p.request.get_or_insert_default().password = "1234567".into()
        }),
        ("request.password", "password of 129 characters", |p| {
            p.request.get_or_insert_default().password = "p".repeat(129)
        }),
        (
            "request.password",
            "password with a control character",
            |p| p.request.get_or_insert_default().password = "correct\u{8}horse".into(),
        ),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<ConfirmPayment>>(
        &relay_confirm_payment(),
        &cases
    ));
}

fn relay_submit_payee_code() -> pb::RelaySubmitPayeeCodeRequest {
    relay(|p: &mut pb::RelaySubmitPayeeCodeRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::SubmitPayeeCodeRequest {
            payload: "00020101021226340014eu.ompp.payee0106M-10425303978540512.505802PT6304A1B2"
                .into(),
            amount: eur(1250),
            password: "correct horse battery".into(),
            idempotency_key: "scan-1".into(),
        });
    })
}

#[test]
fn relay_submit_payee_code_table() {
    let mut cases = relay_cases::<pb::RelaySubmitPayeeCodeRequest>(true);
    let more: &[Case<pb::RelaySubmitPayeeCodeRequest>] = &[
        ("request.payload", "payload missing", |p| {
            p.request.get_or_insert_default().payload.clear()
        }),
        ("request.payload", "payload of 513 characters", |p| {
            p.request.get_or_insert_default().payload = "0".repeat(513)
        }),
        ("request.payload", "payload non-ASCII", |p| {
            p.request.get_or_insert_default().payload = "0002ü".into()
        }),
        ("request.amount", "amount missing", |p| {
            p.request.get_or_insert_default().amount = None
        }),
        ("request.amount.currency", "currency lower case", |p| {
            p.request.get_or_insert_default().amount = money("eur", 1250)
        }),
        ("request.amount.minor_units", "amount negative", |p| {
            p.request.get_or_insert_default().amount = eur(-1)
        }),
        ("request.password", "password missing", |p| {
            p.request.get_or_insert_default().password.clear()
        }),
        ("request.password", "password of 7 characters", |p| {
            p.request.get_or_insert_default().password = "1234567".into()
        }),
        ("request.password", "password with a newline", |p| {
            p.request.get_or_insert_default().password = "correct\nhorse".into()
        }),
        ("request.idempotency_key", "idempotency key missing", |p| {
            p.request.get_or_insert_default().idempotency_key.clear()
        }),
        (
            "request.idempotency_key",
            "idempotency key with a colon",
            |p| p.request.get_or_insert_default().idempotency_key = "scan:1".into(),
        ),
        (
            "request.idempotency_key",
            "idempotency key of 65 characters",
            |p| p.request.get_or_insert_default().idempotency_key = "k".repeat(65),
        ),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<SubmitPayeeCode>>(
        &relay_submit_payee_code(),
        &cases
    ));
}

fn relay_list_wallet_history() -> pb::RelayListWalletHistoryRequest {
    relay(|p: &mut pb::RelayListWalletHistoryRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::ListWalletHistoryRequest {
            currency: "EUR".into(),
            page_size: 20,
            page_token: "tok-1".into(),
        });
    })
}

#[test]
fn relay_list_wallet_history_table() {
    let mut cases = relay_cases::<pb::RelayListWalletHistoryRequest>(true);
    let more: &[Case<pb::RelayListWalletHistoryRequest>] = &[
        ("request.currency", "currency lower case", |p| {
            p.request.get_or_insert_default().currency = "eur".into()
        }),
        ("request.currency", "currency unknown", |p| {
            p.request.get_or_insert_default().currency = "XYZ".into()
        }),
        ("request.page_size", "page size 101", |p| {
            p.request.get_or_insert_default().page_size = 101
        }),
        ("request.page_size", "page size u32::MAX", |p| {
            p.request.get_or_insert_default().page_size = u32::MAX
        }),
        ("request.page_token", "page token of 257 characters", |p| {
            p.request.get_or_insert_default().page_token = "t".repeat(257)
        }),
        (
            "request.page_token",
            "page token with a control character",
            |p| p.request.get_or_insert_default().page_token = "t\u{1}".into(),
        ),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<ListWalletHistory>>(
        &relay_list_wallet_history(),
        &cases
    ));

    // A relayed page size of 0 means the default, and is forwarded as 20.
    let mut defaulted = relay_list_wallet_history();
    defaulted.request = Some(pb::ListWalletHistoryRequest::default());
    let parsed = accepts!(Relayed<ListWalletHistory>, &defaulted);
    assert_eq!(parsed.request.page_size, 20);
    assert_eq!(parsed.to_proto().request.unwrap().page_size, 20);
}

#[test]
fn relay_decline_payment_table() {
    let valid = relay(|p: &mut pb::RelayDeclinePaymentRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::DeclinePaymentRequest {
            payment_id: "pay-1".into(),
        });
    });
    let mut cases = relay_cases::<pb::RelayDeclinePaymentRequest>(false);
    let more: &[Case<pb::RelayDeclinePaymentRequest>] = &[
        ("request.payment_id", "payment id missing", |p| {
            p.request.get_or_insert_default().payment_id.clear()
        }),
        ("request.payment_id", "payment id of 65 characters", |p| {
            p.request.get_or_insert_default().payment_id = "p".repeat(65)
        }),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<DeclinePayment>>(&valid, &cases));
}

#[test]
fn relay_preview_payee_code_table() {
    let valid = relay(|p: &mut pb::RelayPreviewPayeeCodeRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::PreviewPayeeCodeRequest {
            payload: "000201010212".into(),
        });
    });
    let mut cases = relay_cases::<pb::RelayPreviewPayeeCodeRequest>(false);
    let more: &[Case<pb::RelayPreviewPayeeCodeRequest>] = &[
        ("request.payload", "payload missing", |p| {
            p.request.get_or_insert_default().payload.clear()
        }),
        ("request.payload", "payload with a newline", |p| {
            p.request.get_or_insert_default().payload = "0002\n".into()
        }),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<PreviewPayeeCode>>(&valid, &cases));
}

#[test]
fn relay_get_wallet_balance_table() {
    let valid = relay(|p: &mut pb::RelayGetWalletBalanceRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::GetWalletBalanceRequest {});
    });
    let cases = relay_cases::<pb::RelayGetWalletBalanceRequest>(false);
    insta::assert_yaml_snapshot!(run::<Relayed<GetWalletBalance>>(&valid, &cases));
}

#[test]
fn relay_top_up_wallet_table() {
    let valid = relay(|p: &mut pb::RelayTopUpWalletRequest| {
        p.device_id = "D-5Q2W8".into();
        p.request = Some(pb::TopUpWalletRequest {
            amount: eur(5000),
            password: "correct horse battery".into(),
            idempotency_key: "topup-1".into(),
        });
    });
    let mut cases = relay_cases::<pb::RelayTopUpWalletRequest>(false);
    let more: &[Case<pb::RelayTopUpWalletRequest>] = &[
        ("request.amount", "amount missing", |p| {
            p.request.get_or_insert_default().amount = None
        }),
        ("request.amount.minor_units", "amount zero", |p| {
            p.request.get_or_insert_default().amount = eur(0)
        }),
        ("request.password", "password of 7 characters", |p| {
            p.request.get_or_insert_default().password = "1234567".into()
        }),
        ("request.idempotency_key", "idempotency key missing", |p| {
            p.request.get_or_insert_default().idempotency_key.clear()
        }),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<Relayed<TopUpWallet>>(&valid, &cases));
}

#[test]
fn list_pending_requests_table() {
    let valid = pb::ListPendingRequestsRequest {
        envelope: envelope("ompp://mobile/MS-1"),
        device_id: "D-5Q2W8".into(),
    };
    let mut cases = envelope_cases::<pb::ListPendingRequestsRequest>();
    cases.extend(device_id_cases());
    cases.push(("device_id", "device id with a slash", |p| {
        p.device_id = "D/5".into()
    }));
    insta::assert_yaml_snapshot!(run::<ListPendingRequests>(&valid, &cases));
}

#[test]
fn envelope_boundaries_are_accepted() {
    for sender_id in [
        "ompp://merchant/M-1042",
        "ompp://device/D-5Q2W8",
        "ompp://network/NS-1",
        "ompp://mobile/MS-1",
        "ompp://bank/BP-DE-1",
        "ompp://sms/SC-1",
    ] {
        let mut message = relay_confirm_payment();
        message.envelope = envelope(sender_id);
        let parsed = accepts!(Relayed<ConfirmPayment>, &message);
        assert_eq!(parsed.envelope.sender.to_string(), sender_id);
        assert_eq!(parsed.to_proto(), message);
    }
    let in_range = [
        ("m".repeat(16), ts(MIN_TS, 0)),
        ("0".repeat(64), ts(MAX_TS, 999_000_000)),
        ("0f8e7d6c5b4a4321".into(), ts(0, 0)),
        ("A.b_c-0123456789".into(), ts(-1, 1_000_000)),
    ];
    for (message_id, sent_at) in in_range {
        let mut message = relay_confirm_payment();
        message.envelope = Some(pb::LinkEnvelope {
            sender_id: "ompp://mobile/MS-1".into(),
            message_id,
            sent_at,
        });
        assert_eq!(
            accepts!(Relayed<ConfirmPayment>, &message).to_proto(),
            message
        );
    }
}

fn pushed_payment() -> pb::PushedPaymentRequest {
    pb::PushedPaymentRequest {
        payment_id: "pay-1".into(),
        merchant_id: "M-1042".into(),
        merchant_name: "Café Aurora".into(),
        amount: eur(1250),
        items: vec![pb::LineItem {
            product_code: "SKU-1".into(),
            description: "Coffee".into(),
            quantity: 2,
        }],
        merchant_reference: "till 4".into(),
        expires_at: ts(1_767_225_720, 500_000_000),
        attempts_left: 3,
    }
}

fn push_payment_request() -> pb::PushPaymentRequestRequest {
    pb::PushPaymentRequestRequest {
        envelope: envelope("ompp://network/NS-1"),
        customer_id: "C-7".into(),
        device_ids: ids(&["D-5Q2W8", "D-9"]),
        payment_request: Some(pushed_payment()),
    }
}

fn pushed(p: &mut pb::PushPaymentRequestRequest) -> &mut pb::PushedPaymentRequest {
    p.payment_request.get_or_insert_default()
}

fn item(p: &mut pb::PushPaymentRequestRequest) -> &mut pb::LineItem {
    &mut pushed(p).items[0]
}

#[test]
fn push_payment_request_table() {
    let mut cases = envelope_cases::<pb::PushPaymentRequestRequest>();
    let more: &[Case<pb::PushPaymentRequestRequest>] = &[
        ("customer_id", "customer id missing", |p| {
            p.customer_id.clear()
        }),
        ("customer_id", "customer id with a space", |p| {
            p.customer_id = "C 7".into()
        }),
        ("device_ids", "no device", |p| p.device_ids.clear()),
        ("device_ids", "17 devices", |p| {
            p.device_ids = (0..17).map(|i| format!("D-{i}")).collect()
        }),
        ("device_ids[1]", "device id empty", |p| {
            p.device_ids[1].clear()
        }),
        ("device_ids[0]", "device id malformed", |p| {
            p.device_ids[0] = "D#1".into()
        }),
        ("device_ids[1]", "device id twice", |p| {
            p.device_ids = ids(&["D-1", "D-1"])
        }),
        (
            "device_ids[2]",
            "device id twice after an invalid one",
            |p| p.device_ids = ids(&["D 0", "D-1", "D-1"]),
        ),
        ("payment_request", "payment request missing", |p| {
            p.payment_request = None
        }),
        ("payment_request.payment_id", "payment id missing", |p| {
            pushed(p).payment_id.clear()
        }),
        ("payment_request.payment_id", "payment id malformed", |p| {
            pushed(p).payment_id = "pay 1".into()
        }),
        ("payment_request.merchant_id", "merchant id missing", |p| {
            pushed(p).merchant_id.clear()
        }),
        (
            "payment_request.merchant_id",
            "merchant id malformed",
            |p| pushed(p).merchant_id = "M.1042!".into(),
        ),
        (
            "payment_request.merchant_name",
            "merchant name missing",
            |p| pushed(p).merchant_name.clear(),
        ),
        (
            "payment_request.merchant_name",
            "merchant name of 65 characters",
            |p| pushed(p).merchant_name = "n".repeat(65),
        ),
        (
            "payment_request.merchant_name",
            "merchant name with a newline",
            |p| pushed(p).merchant_name = "Café\nAurora".into(),
        ),
        ("payment_request.amount", "amount missing", |p| {
            pushed(p).amount = None
        }),
        ("payment_request.amount.currency", "currency unknown", |p| {
            pushed(p).amount = money("XYZ", 1250)
        }),
        (
            "payment_request.amount.currency",
            "currency lower case",
            |p| pushed(p).amount = money("eur", 1250),
        ),
        ("payment_request.amount.minor_units", "amount zero", |p| {
            pushed(p).amount = eur(0)
        }),
        (
            "payment_request.amount.minor_units",
            "amount negative",
            |p| pushed(p).amount = eur(-1),
        ),
        ("payment_request.items", "51 items", |p| {
            let first = item(p).clone();
            pushed(p).items = vec![first; 51];
        }),
        (
            "payment_request.items[0].product_code",
            "item product code missing",
            |p| item(p).product_code.clear(),
        ),
        (
            "payment_request.items[0].product_code",
            "item product code of 65 characters",
            |p| item(p).product_code = "s".repeat(65),
        ),
        (
            "payment_request.items[0].description",
            "item description of 129 characters",
            |p| item(p).description = "d".repeat(129),
        ),
        (
            "payment_request.items[0].description",
            "item description with a tab",
            |p| item(p).description = "a\tb".into(),
        ),
        (
            "payment_request.items[0].quantity",
            "item quantity zero",
            |p| item(p).quantity = 0,
        ),
        (
            "payment_request.items[0].quantity",
            "item quantity above the limit",
            |p| item(p).quantity = 1_000_001,
        ),
        (
            "payment_request.merchant_reference",
            "merchant reference of 65 characters",
            |p| pushed(p).merchant_reference = "r".repeat(65),
        ),
        (
            "payment_request.merchant_reference",
            "merchant reference with a control character",
            |p| pushed(p).merchant_reference = "till\u{7}".into(),
        ),
        ("payment_request.expires_at", "expiry missing", |p| {
            pushed(p).expires_at = None
        }),
        (
            "payment_request.expires_at.nanos",
            "expiry with negative nanos",
            |p| pushed(p).expires_at = ts(1_767_225_720, -5),
        ),
        (
            "payment_request.expires_at.nanos",
            "expiry with nanos above a second",
            |p| pushed(p).expires_at = ts(1_767_225_720, 1_000_000_000),
        ),
        (
            "payment_request.expires_at.seconds",
            "expiry after year 9999",
            |p| pushed(p).expires_at = ts(MAX_TS + 1, 0),
        ),
        (
            "payment_request.expires_at.seconds",
            "expiry before year 1",
            |p| pushed(p).expires_at = ts(MIN_TS - 1, 0),
        ),
        ("payment_request.attempts_left", "no attempts left", |p| {
            pushed(p).attempts_left = 0
        }),
        ("payment_request.attempts_left", "4 attempts left", |p| {
            pushed(p).attempts_left = 4
        }),
        (
            "payment_request.attempts_left",
            "u32::MAX attempts left",
            |p| pushed(p).attempts_left = u32::MAX,
        ),
        ("device_ids", "no device and no payment request", |p| {
            p.device_ids.clear();
            p.payment_request = None;
        }),
        (
            "payment_request",
            "no payment request and no customer",
            |p| {
                p.customer_id.clear();
                p.payment_request = None;
            },
        ),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<PushPaymentRequest>(&push_payment_request(), &cases));
}

#[test]
fn push_payment_request_boundaries_are_accepted() {
    let mut message = push_payment_request();
    message.device_ids = (0..16).map(|i| format!("D-{i}")).collect();
    let payment = pushed(&mut message);
    payment.items.clear();
    payment.merchant_reference.clear();
    payment.attempts_left = 1;
    assert_eq!(accepts!(PushPaymentRequest, &message).to_proto(), message);
}

fn notice() -> pb::DeviceNotice {
    pb::DeviceNotice {
        payment_id: "pay-1".into(),
        status: pb::PaymentStatus::Settled.into(),
        reason: pb::ErrorReason::Unspecified.into(),
        receipt: Some(pb::Receipt {
            receipt_id: "rcpt-1".into(),
            payment_id: "pay-1".into(),
            flow: pb::PaymentFlow::Push.into(),
            merchant_id: "M-1042".into(),
            merchant_name: "Café Aurora".into(),
            customer_id: "C-7".into(),
            amount: eur(1250),
            settled_at: ts(1_767_225_630, 0),
            transfer_id: "tr-1".into(),
            ..Default::default()
        }),
        wallet_delta: eur(-1250),
    }
}

fn push_notice() -> pb::PushNoticeRequest {
    pb::PushNoticeRequest {
        envelope: envelope("ompp://network/NS-1"),
        customer_id: "C-7".into(),
        device_ids: ids(&["D-5Q2W8"]),
        notice: Some(notice()),
    }
}

fn note(p: &mut pb::PushNoticeRequest) -> &mut pb::DeviceNotice {
    p.notice.get_or_insert_default()
}

#[test]
fn push_notice_table() {
    let mut cases = envelope_cases::<pb::PushNoticeRequest>();
    let more: &[Case<pb::PushNoticeRequest>] = &[
        ("customer_id", "customer id missing", |p| {
            p.customer_id.clear()
        }),
        ("customer_id", "customer id of 65 characters", |p| {
            p.customer_id = "C".repeat(65)
        }),
        ("device_ids", "no device", |p| p.device_ids.clear()),
        ("device_ids", "17 devices", |p| {
            p.device_ids = (0..17).map(|i| format!("D-{i}")).collect()
        }),
        ("device_ids[1]", "device id twice", |p| {
            p.device_ids = ids(&["D-5Q2W8", "D-5Q2W8"])
        }),
        ("device_ids[1]", "device id malformed", |p| {
            p.device_ids = ids(&["D-1", "-D"])
        }),
        ("notice", "notice missing", |p| p.notice = None),
        ("notice.payment_id", "notice payment id malformed", |p| {
            note(p).payment_id = "pay 1".into()
        }),
        (
            "notice.payment_id",
            "notice payment id of 65 characters",
            |p| note(p).payment_id = "p".repeat(65),
        ),
        ("notice.status", "notice status unspecified", |p| {
            note(p).status = pb::PaymentStatus::Unspecified.into()
        }),
        ("notice.status", "notice status unknown (99)", |p| {
            note(p).status = 99
        }),
        ("notice.status", "notice status negative", |p| {
            note(p).status = -1
        }),
        ("notice.reason", "notice reason unknown (99)", |p| {
            note(p).reason = 99
        }),
        ("notice.reason", "notice reason negative", |p| {
            note(p).reason = -3
        }),
        (
            "notice.wallet_delta.currency",
            "wallet delta currency missing",
            |p| note(p).wallet_delta = money("", -1250),
        ),
        (
            "notice.wallet_delta.currency",
            "wallet delta currency unknown",
            |p| note(p).wallet_delta = money("XYZ", -1250),
        ),
        (
            "notice.wallet_delta.currency",
            "wallet delta currency lower case",
            |p| note(p).wallet_delta = money("eur", -1250),
        ),
        (
            "notice.status",
            "notice with status and reason both unknown",
            |p| {
                note(p).status = 42;
                note(p).reason = 4242;
            },
        ),
        ("notice.wallet_delta", "empty notice", |p| {
            p.notice = Some(pb::DeviceNotice::default())
        }),
        ("device_ids", "no device and no notice", |p| {
            p.device_ids.clear();
            p.notice = None;
        }),
    ];
    cases.extend_from_slice(more);
    insta::assert_yaml_snapshot!(run::<PushNotice>(&push_notice(), &cases));
}

#[test]
fn push_notice_optional_fields() {
    // A failed payment with its reason; no receipt, no wallet change.
    let mut failed = push_notice();
    *note(&mut failed) = pb::DeviceNotice {
        payment_id: "pay-1".into(),
        status: pb::PaymentStatus::Failed.into(),
        reason: pb::ErrorReason::TriesExceeded.into(),
        receipt: None,
        wallet_delta: None,
    };
    let parsed = accepts!(PushNotice, &failed);
    assert_eq!(parsed.notice.reason, Some(pb::ErrorReason::TriesExceeded));
    assert_eq!(parsed.to_proto(), failed);

    // A wallet delta may be positive, zero or negative (it is a change, not an amount).
    for minor_units in [1, 0, i64::MIN] {
        let mut message = push_notice();
        note(&mut message).wallet_delta = eur(minor_units);
        assert_eq!(accepts!(PushNotice, &message).to_proto(), message);
    }

    // Reason 0 is "no reason".
    assert_eq!(accepts!(PushNotice, &push_notice()).notice.reason, None);
}

#[test]
fn empty_messages_report_every_required_field() {
    let relayed = ["envelope", "device_id", "request"];
    assert_eq!(
        fields::<Relayed<ConfirmPayment>>(&Default::default()),
        relayed
    );
    assert_eq!(
        fields::<Relayed<DeclinePayment>>(&Default::default()),
        relayed
    );
    assert_eq!(
        fields::<Relayed<PreviewPayeeCode>>(&Default::default()),
        relayed
    );
    assert_eq!(
        fields::<Relayed<SubmitPayeeCode>>(&Default::default()),
        relayed
    );
    assert_eq!(
        fields::<Relayed<GetWalletBalance>>(&Default::default()),
        relayed
    );
    assert_eq!(
        fields::<Relayed<ListWalletHistory>>(&Default::default()),
        relayed
    );
    assert_eq!(fields::<Relayed<TopUpWallet>>(&Default::default()), relayed);
    assert_eq!(
        fields::<ListPendingRequests>(&pb::ListPendingRequestsRequest::default()),
        ["envelope", "device_id"]
    );
    assert_eq!(
        fields::<PushPaymentRequest>(&pb::PushPaymentRequestRequest::default()),
        ["envelope", "customer_id", "device_ids", "payment_request"]
    );
    assert_eq!(
        fields::<PushNotice>(&pb::PushNoticeRequest::default()),
        ["envelope", "customer_id", "device_ids", "notice"]
    );

    // Empty nested messages report their own fields, with their full paths.
    let nested = pb::RelayConfirmPaymentRequest {
        envelope: Some(pb::LinkEnvelope::default()),
        device_id: String::new(),
        request: Some(pb::ConfirmPaymentRequest::default()),
    };
    assert_eq!(
        fields::<Relayed<ConfirmPayment>>(&nested),
        [
            "envelope.sender_id",
            "envelope.message_id",
            "envelope.sent_at",
            "device_id",
            "request.payment_id",
            "request.amount",
            "request.password"
        ]
    );
    let nested = pb::PushPaymentRequestRequest {
        envelope: envelope("ompp://network/NS-1"),
        customer_id: "C-7".into(),
        device_ids: ids(&["D-1"]),
        payment_request: Some(pb::PushedPaymentRequest::default()),
    };
    assert_eq!(
        fields::<PushPaymentRequest>(&nested),
        [
            "payment_request.payment_id",
            "payment_request.merchant_id",
            "payment_request.merchant_name",
            "payment_request.amount",
            "payment_request.expires_at",
            "payment_request.attempts_left"
        ]
    );
}

/// OMPP-MSG-004: a notice's status is there exactly when it names a payment, and its reason
/// exactly when that status is terminal and not SETTLED.
#[test]
fn notice_status_and_reason_rules() {
    use ompp::requests::link::Notice;
    use ompp::validation::{FieldPath, Validator, Violation};
    let check = |n: pb::DeviceNotice| {
        let mut v = Validator::new();
        let parsed = Notice::from_proto(&mut v, &FieldPath::root("notice"), Some(&n));
        match parsed {
            Some(_) if !v.has_errors() => Ok(()),
            _ => Err(v
                .into_error()
                .errors
                .into_iter()
                .map(|e| (e.field.to_string(), e.violation))
                .collect::<Vec<_>>()),
        }
    };
    let eur = |m| {
        Some(pb::Money {
            currency: "EUR".into(),
            minor_units: m,
        })
    };
    let notice =
        |payment: &str, status: pb::PaymentStatus, reason: pb::ErrorReason| pb::DeviceNotice {
            payment_id: payment.into(),
            status: status.into(),
            reason: reason.into(),
            ..Default::default()
        };
    use pb::{ErrorReason as R, PaymentStatus as S};
    // Wallet-only notice: no status, a delta.
    assert_eq!(
        check(pb::DeviceNotice {
            wallet_delta: eur(500),
            ..Default::default()
        }),
        Ok(())
    );
    assert_eq!(check(notice("pay-1", S::Settled, R::Unspecified)), Ok(()));
    assert_eq!(check(notice("pay-1", S::Failed, R::TriesExceeded)), Ok(()));
    assert_eq!(
        check(pb::DeviceNotice {
            status: S::Settled.into(),
            wallet_delta: eur(1),
            ..Default::default()
        }),
        Err(vec![("notice.status".into(), Violation::NotAllowed)])
    );
    assert_eq!(
        check(notice("pay-1", S::Failed, R::Unspecified)),
        Err(vec![("notice.reason".into(), Violation::Missing)])
    );
    assert_eq!(
        check(notice("pay-1", S::Settled, R::TriesExceeded)),
        Err(vec![("notice.reason".into(), Violation::NotAllowed)])
    );
    assert_eq!(
        check(notice("pay-1", S::PendingCustomer, R::Expired)),
        Err(vec![("notice.reason".into(), Violation::NotAllowed)])
    );
}
