//! Validation tables for `DeviceService` requests.

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::device::*;
use support::{Case, run};

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

/// A merchant-presented EMVCo payload as a device scans it (its structure is checked later, by
/// the payee code decoder; here only length and alphabet matter).
const PAYLOAD: &str = "00020101021226340014eu.ompp.payee0106M-1042020201520459995303978540512.505802PT5911Cafe Aurora6006Lisboa6304A1B2";

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

#[test]
fn subscribe_table() {
    let valid = pb::SubscribeRequest {
        known_payment_ids: ids(&["pay-1", "pay-2"]),
    };
    let cases: &[Case<pb::SubscribeRequest>] = &[
        ("known_payment_ids[1]", "known payment id empty", |p| {
            p.known_payment_ids[1].clear()
        }),
        (
            "known_payment_ids[0]",
            "known payment id with a space",
            |p| p.known_payment_ids[0] = "pay 1".into(),
        ),
        (
            "known_payment_ids[1]",
            "known payment id of 65 characters",
            |p| p.known_payment_ids[1] = "p".repeat(65),
        ),
        ("known_payment_ids[1]", "known payment id twice", |p| {
            p.known_payment_ids = ids(&["pay-1", "pay-1"])
        }),
        (
            "known_payment_ids[2]",
            "known payment id twice after an invalid one",
            |p| p.known_payment_ids = ids(&["pay 0", "pay-1", "pay-1"]),
        ),
        ("known_payment_ids", "257 known payment ids", |p| {
            p.known_payment_ids = (0..257).map(|i| format!("pay-{i}")).collect()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<Subscribe>(&valid, cases));

    let most = pb::SubscribeRequest {
        known_payment_ids: (0..256).map(|i| format!("pay-{i}")).collect(),
    };
    assert_eq!(accepts!(Subscribe, &most).to_proto(), most);
}

fn confirm_payment() -> pb::ConfirmPaymentRequest {
    pb::ConfirmPaymentRequest {
        payment_id: "pay-1".into(),
        amount: eur(1250),
        password: "correct horse battery".into(),
    }
}

#[test]
fn confirm_payment_table() {
    let cases: &[Case<pb::ConfirmPaymentRequest>] = &[
        ("payment_id", "payment id missing", |p| p.payment_id.clear()),
        ("payment_id", "payment id with a slash", |p| {
            p.payment_id = "pay/1".into()
        }),
        ("payment_id", "payment id of 65 characters", |p| {
            p.payment_id = "p".repeat(65)
        }),
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.currency", "currency missing", |p| {
            p.amount = money("", 1250)
        }),
        ("amount.currency", "currency lower case", |p| {
            p.amount = money("eur", 1250)
        }),
        ("amount.currency", "currency unknown", |p| {
            p.amount = money("EUX", 1250)
        }),
        ("amount.currency", "currency is a fund", |p| {
            p.amount = money("CHE", 1250)
        }),
        ("amount.minor_units", "amount zero", |p| p.amount = eur(0)),
        ("amount.minor_units", "amount negative", |p| {
            p.amount = eur(-1250)
        }),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 7 characters", |p| {
            p.password = "1234567".into()
        }),
        ("password", "password of 129 characters", |p| {
            p.password = "p".repeat(129)
        }),
        ("password", "password with a carriage return", |p| {
            p.password = "correct horse\r".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<ConfirmPayment>(&confirm_payment(), cases));
}

#[test]
fn decline_payment_table() {
    let valid = pb::DeclinePaymentRequest {
        payment_id: "pay-1".into(),
    };
    let cases: &[Case<pb::DeclinePaymentRequest>] = &[
        ("payment_id", "payment id missing", |p| p.payment_id.clear()),
        ("payment_id", "payment id starting with a dash", |p| {
            p.payment_id = "-pay".into()
        }),
        ("payment_id", "payment id of 65 characters", |p| {
            p.payment_id = "p".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<DeclinePayment>(&valid, cases));
}

#[test]
fn preview_payee_code_table() {
    let valid = pb::PreviewPayeeCodeRequest {
        payload: PAYLOAD.into(),
    };
    let cases: &[Case<pb::PreviewPayeeCodeRequest>] = &[
        ("payload", "payload missing", |p| p.payload.clear()),
        ("payload", "payload of 513 characters", |p| {
            p.payload = "0".repeat(513)
        }),
        ("payload", "payload with a non-ASCII character", |p| {
            p.payload = format!("{PAYLOAD}é")
        }),
        ("payload", "payload with a newline", |p| {
            p.payload = format!("{PAYLOAD}\n")
        }),
        ("payload", "payload with DEL", |p| {
            p.payload = format!("\u{7f}{PAYLOAD}")
        }),
    ];
    insta::assert_yaml_snapshot!(run::<PreviewPayeeCode>(&valid, cases));

    for payload in ["0".repeat(512), " ~".into(), "x".into()] {
        let message = pb::PreviewPayeeCodeRequest { payload };
        assert_eq!(accepts!(PreviewPayeeCode, &message).to_proto(), message);
    }
}

fn submit_payee_code() -> pb::SubmitPayeeCodeRequest {
    pb::SubmitPayeeCodeRequest {
        payload: PAYLOAD.into(),
        amount: eur(1250),
        password: "correct horse battery".into(),
        idempotency_key: "scan-1".into(),
    }
}

#[test]
fn submit_payee_code_table() {
    let cases: &[Case<pb::SubmitPayeeCodeRequest>] = &[
        ("payload", "payload missing", |p| p.payload.clear()),
        ("payload", "payload of 513 characters", |p| {
            p.payload = "0".repeat(513)
        }),
        ("payload", "payload with a tab", |p| {
            p.payload = "0002\t01".into()
        }),
        ("payload", "payload with a non-ASCII character", |p| {
            p.payload = "0002€".into()
        }),
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.currency", "currency unknown", |p| {
            p.amount = money("ZZZ", 1250)
        }),
        ("amount.currency", "currency numeric", |p| {
            p.amount = money("978", 1250)
        }),
        ("amount.minor_units", "amount zero", |p| p.amount = eur(0)),
        ("amount.minor_units", "amount i64::MIN", |p| {
            p.amount = eur(i64::MIN)
        }),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 7 characters", |p| {
            p.password = "1234567".into()
        }),
        ("password", "password with a NUL", |p| {
            p.password = "correct\u{0}horse".into()
        }),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key with a space", |p| {
            p.idempotency_key = "scan 1".into()
        }),
        ("idempotency_key", "idempotency key of 65 characters", |p| {
            p.idempotency_key = "k".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<SubmitPayeeCode>(&submit_payee_code(), cases));
}

#[test]
fn get_wallet_balance_has_no_fields() {
    let message = pb::GetWalletBalanceRequest {};
    let parsed = accepts!(GetWalletBalance, &message);
    assert_eq!(parsed, GetWalletBalance);
    assert_eq!(parsed.to_proto(), message);
    assert_eq!(GetWalletBalance::parse(&parsed.to_proto()).unwrap(), parsed);
}

fn list_wallet_history() -> pb::ListWalletHistoryRequest {
    pb::ListWalletHistoryRequest {
        currency: "EUR".into(),
        page_size: 20,
        page_token: "eyJhZnRlciI6InRyLTQyIn0".into(),
    }
}

#[test]
fn list_wallet_history_table() {
    let cases: &[Case<pb::ListWalletHistoryRequest>] = &[
        ("currency", "currency lower case", |p| {
            p.currency = "eur".into()
        }),
        ("currency", "currency unknown", |p| {
            p.currency = "XYZ".into()
        }),
        ("currency", "currency of two letters", |p| {
            p.currency = "EU".into()
        }),
        ("currency", "currency is a precious metal", |p| {
            p.currency = "XAG".into()
        }),
        ("page_size", "page size 101", |p| p.page_size = 101),
        ("page_size", "page size u32::MAX", |p| {
            p.page_size = u32::MAX
        }),
        ("page_token", "page token of 257 characters", |p| {
            p.page_token = "t".repeat(257)
        }),
        ("page_token", "page token with a newline", |p| {
            p.page_token = "abc\n".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<ListWalletHistory>(&list_wallet_history(), cases));
}

#[test]
fn list_wallet_history_defaults() {
    // OMPP-MSG-007: every field is optional; page size 0 means 20, and is sent back as 20.
    let parsed = accepts!(ListWalletHistory, &pb::ListWalletHistoryRequest::default());
    assert_eq!(parsed.currency, None);
    assert_eq!(parsed.page_size, ompp::limits::DEFAULT_PAGE_SIZE);
    assert_eq!(parsed.page_size, 20);
    assert_eq!(
        parsed.to_proto(),
        pb::ListWalletHistoryRequest {
            page_size: 20,
            ..Default::default()
        }
    );

    for page_size in [1, 100] {
        let message = pb::ListWalletHistoryRequest {
            page_size,
            page_token: "t".repeat(256),
            ..list_wallet_history()
        };
        assert_eq!(accepts!(ListWalletHistory, &message).to_proto(), message);
    }
}

fn top_up_wallet() -> pb::TopUpWalletRequest {
    pb::TopUpWalletRequest {
        amount: money("JPY", 5000),
        password: "correct horse battery".into(),
        idempotency_key: "topup-1".into(),
    }
}

#[test]
fn top_up_wallet_table() {
    let cases: &[Case<pb::TopUpWalletRequest>] = &[
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.currency", "currency missing", |p| {
            p.amount = money("", 5000)
        }),
        ("amount.currency", "currency with a trailing space", |p| {
            p.amount = money("JPY ", 5000)
        }),
        ("amount.currency", "currency superseded or unknown", |p| {
            p.amount = money("DEM", 5000)
        }),
        ("amount.minor_units", "amount zero", |p| {
            p.amount = money("JPY", 0)
        }),
        ("amount.minor_units", "amount negative", |p| {
            p.amount = money("JPY", -1)
        }),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 129 characters", |p| {
            p.password = "p".repeat(129)
        }),
        ("password", "password with a C1 control character", |p| {
            p.password = "correct horse\u{9f}".into()
        }),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key with a hash", |p| {
            p.idempotency_key = "topup#1".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<TopUpWallet>(&top_up_wallet(), cases));
}

#[test]
fn empty_messages_report_every_required_field() {
    assert!(
        accepts!(Subscribe, &pb::SubscribeRequest::default())
            .known_payment_ids
            .is_empty()
    );
    assert_eq!(
        fields::<ConfirmPayment>(&pb::ConfirmPaymentRequest::default()),
        ["payment_id", "amount", "password"]
    );
    assert_eq!(
        fields::<DeclinePayment>(&pb::DeclinePaymentRequest::default()),
        ["payment_id"]
    );
    assert_eq!(
        fields::<PreviewPayeeCode>(&pb::PreviewPayeeCodeRequest::default()),
        ["payload"]
    );
    assert_eq!(
        fields::<SubmitPayeeCode>(&pb::SubmitPayeeCodeRequest::default()),
        ["payload", "amount", "password", "idempotency_key"]
    );
    accepts!(GetWalletBalance, &pb::GetWalletBalanceRequest::default());
    accepts!(ListWalletHistory, &pb::ListWalletHistoryRequest::default());
    assert_eq!(
        fields::<TopUpWallet>(&pb::TopUpWalletRequest::default()),
        ["amount", "password", "idempotency_key"]
    );
}
