//! Validation tables for `MerchantPaymentService` requests.

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::merchant::*;
use support::{Case, run};

fn eur(minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: "EUR".into(),
        minor_units,
    })
}

fn secs(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

fn create_payment() -> pb::CreatePaymentRequest {
    pb::CreatePaymentRequest {
        merchant_id: "M-1042".into(),
        customer_id: "C-7".into(),
        amount: eur(1250),
        items: vec![pb::LineItem {
            product_code: "SKU-1".into(),
            description: "Coffee".into(),
            quantity: 2,
        }],
        merchant_reference: "till 4".into(),
        expires_in: secs(120),
        idempotency_key: "idem-1".into(),
    }
}

#[test]
fn create_payment_table() {
    let cases: &[Case<pb::CreatePaymentRequest>] = &[
        ("merchant_id", "merchant_id missing", |p| {
            p.merchant_id.clear()
        }),
        ("merchant_id", "merchant_id with a space", |p| {
            p.merchant_id = "M 1".into()
        }),
        ("merchant_id", "merchant_id starting with a dash", |p| {
            p.merchant_id = "-M".into()
        }),
        ("merchant_id", "merchant_id of 65 characters", |p| {
            p.merchant_id = "M".repeat(65)
        }),
        ("customer_id", "customer_id missing", |p| {
            p.customer_id.clear()
        }),
        ("customer_id", "customer_id with a slash", |p| {
            p.customer_id = "C/7".into()
        }),
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.currency", "currency missing", |p| {
            p.amount = Some(pb::Money {
                currency: String::new(),
                minor_units: 1,
            })
        }),
        ("amount.currency", "currency lower case", |p| {
            p.amount = Some(pb::Money {
                currency: "eur".into(),
                minor_units: 1,
            })
        }),
        ("amount.currency", "currency unknown", |p| {
            p.amount = Some(pb::Money {
                currency: "XYZ".into(),
                minor_units: 1,
            })
        }),
        (
            "amount.currency",
            "currency is a fund (no minor units)",
            |p| {
                p.amount = Some(pb::Money {
                    currency: "XAU".into(),
                    minor_units: 1,
                })
            },
        ),
        ("amount.minor_units", "amount zero", |p| p.amount = eur(0)),
        ("amount.minor_units", "amount negative", |p| {
            p.amount = eur(-5)
        }),
        ("items", "51 items", |p| {
            p.items = vec![p.items[0].clone(); 51]
        }),
        ("items[0].product_code", "item product code missing", |p| {
            p.items[0].product_code.clear()
        }),
        (
            "items[0].product_code",
            "item product code with a control character",
            |p| p.items[0].product_code = "A\u{7}".into(),
        ),
        (
            "items[0].description",
            "item description of 129 characters",
            |p| p.items[0].description = "d".repeat(129),
        ),
        ("items[0].quantity", "item quantity zero", |p| {
            p.items[0].quantity = 0
        }),
        ("items[0].quantity", "item quantity above the limit", |p| {
            p.items[0].quantity = 1_000_001
        }),
        (
            "merchant_reference",
            "merchant reference of 65 characters",
            |p| p.merchant_reference = "r".repeat(65),
        ),
        ("expires_in.seconds", "expiry below 30 s", |p| {
            p.expires_in = secs(29)
        }),
        ("expires_in.seconds", "expiry above 600 s", |p| {
            p.expires_in = secs(601)
        }),
        ("expires_in.seconds", "expiry negative", |p| {
            p.expires_in = secs(-1)
        }),
        ("expires_in.nanos", "expiry with negative nanos", |p| {
            p.expires_in = Some(prost_types::Duration {
                seconds: 60,
                nanos: -1,
            })
        }),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key with a colon", |p| {
            p.idempotency_key = "a:b".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<CreatePayment>(&create_payment(), cases));
}

#[test]
fn create_payment_defaults_expiry_and_reports_every_field() {
    let mut request = create_payment();
    request.expires_in = None;
    let parsed = CreatePayment::parse(&request).unwrap();
    // OMPP-FLA-001: the default expiry applies when the field is absent.
    assert_eq!(
        parsed.expires_in.as_secs(),
        ompp::limits::PAYMENT_EXPIRY.default_secs
    );

    let empty = pb::CreatePaymentRequest::default();
    let fields: Vec<String> = CreatePayment::parse(&empty)
        .unwrap_err()
        .errors
        .iter()
        .map(|e| e.field.to_string())
        .collect();
    assert_eq!(
        fields,
        ["merchant_id", "customer_id", "amount", "idempotency_key"]
    );
}

fn payment_ref_cases<P: HasRef>() -> Vec<Case<P>> {
    vec![
        ("merchant_id", "merchant_id missing", |p| {
            p.merchant_id().clear()
        }),
        ("merchant_id", "merchant_id malformed", |p| {
            *p.merchant_id() = "M#1".into()
        }),
        ("payment_id", "payment_id missing", |p| {
            p.payment_id().clear()
        }),
        ("payment_id", "payment_id malformed", |p| {
            *p.payment_id() = "pay ment".into()
        }),
    ]
}

/// The four requests that name a merchant's payment share their fields.
trait HasRef {
    fn merchant_id(&mut self) -> &mut String;
    fn payment_id(&mut self) -> &mut String;
}

macro_rules! has_ref {
    ($($t:ident),*) => {$(
        impl HasRef for pb::$t {
            fn merchant_id(&mut self) -> &mut String { &mut self.merchant_id }
            fn payment_id(&mut self) -> &mut String { &mut self.payment_id }
        }
    )*};
}
has_ref!(
    GetPaymentRequest,
    WatchPaymentRequest,
    CancelPaymentRequest,
    GetReceiptRequest
);

#[test]
fn payment_reference_tables() {
    let get = pb::GetPaymentRequest {
        merchant_id: "M-1".into(),
        payment_id: "pay-1".into(),
    };
    insta::assert_yaml_snapshot!("get_payment", run::<GetPayment>(&get, &payment_ref_cases()));
    let watch = pb::WatchPaymentRequest {
        merchant_id: "M-1".into(),
        payment_id: "pay-1".into(),
    };
    insta::assert_yaml_snapshot!(
        "watch_payment",
        run::<WatchPayment>(&watch, &payment_ref_cases())
    );
    let cancel = pb::CancelPaymentRequest {
        merchant_id: "M-1".into(),
        payment_id: "pay-1".into(),
    };
    insta::assert_yaml_snapshot!(
        "cancel_payment",
        run::<CancelPayment>(&cancel, &payment_ref_cases())
    );
    let receipt = pb::GetReceiptRequest {
        merchant_id: "M-1".into(),
        payment_id: "pay-1".into(),
    };
    insta::assert_yaml_snapshot!(
        "get_receipt",
        run::<GetReceipt>(&receipt, &payment_ref_cases())
    );
}

fn issue_dynamic_code() -> pb::IssuePayeeCodeRequest {
    pb::IssuePayeeCodeRequest {
        merchant_id: "M-1".into(),
        amount: eur(500),
        currency: String::new(),
        merchant_reference: "order 9".into(),
        expires_in: secs(300),
        idempotency_key: "k1".into(),
    }
}

#[test]
fn issue_payee_code_table() {
    let cases: &[Case<pb::IssuePayeeCodeRequest>] = &[
        ("merchant_id", "merchant_id missing", |p| {
            p.merchant_id.clear()
        }),
        ("amount.minor_units", "dynamic amount zero", |p| {
            p.amount = eur(0)
        }),
        ("amount.currency", "dynamic amount currency unknown", |p| {
            p.amount = Some(pb::Money {
                currency: "ABC".into(),
                minor_units: 5,
            })
        }),
        ("currency", "dynamic code with a different currency", |p| {
            p.currency = "USD".into()
        }),
        ("currency", "static code without a currency", |p| {
            p.amount = None
        }),
        ("currency", "static code with an unknown currency", |p| {
            p.amount = None;
            p.currency = "QQQ".into();
        }),
        ("merchant_reference", "reference of 26 characters", |p| {
            p.merchant_reference = "r".repeat(26)
        }),
        (
            "expires_in.seconds",
            "dynamic validity above one day",
            |p| p.expires_in = secs(86_401),
        ),
        (
            "expires_in.seconds",
            "static validity below one hour",
            |p| {
                p.amount = None;
                p.currency = "EUR".into();
                p.expires_in = secs(3_599);
            },
        ),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<IssuePayeeCode>(&issue_dynamic_code(), cases));

    let static_code = pb::IssuePayeeCodeRequest {
        amount: None,
        currency: "JPY".into(),
        expires_in: secs(30 * 86_400),
        ..issue_dynamic_code()
    };
    let parsed = IssuePayeeCode::parse(&static_code).unwrap();
    assert!(matches!(parsed.kind, PayeeCodeKind::Static { currency } if currency.code() == "JPY"));
    assert_eq!(parsed.to_proto(), static_code);
}

fn open_checkout() -> pb::OpenCheckoutRequest {
    pb::OpenCheckoutRequest {
        merchant_id: "M-1".into(),
        amount: eur(9999),
        merchant_reference: "ORDER-1".into(),
        items: vec![],
        expires_in: secs(900),
        idempotency_key: "k2".into(),
    }
}

#[test]
fn open_checkout_table() {
    let cases: &[Case<pb::OpenCheckoutRequest>] = &[
        ("merchant_id", "merchant_id missing", |p| {
            p.merchant_id.clear()
        }),
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.minor_units", "amount negative", |p| {
            p.amount = eur(-1)
        }),
        ("merchant_reference", "order reference missing", |p| {
            p.merchant_reference.clear()
        }),
        (
            "merchant_reference",
            "order reference of 65 characters",
            |p| p.merchant_reference = "o".repeat(65),
        ),
        ("items[0].quantity", "item without quantity", |p| {
            p.items = vec![pb::LineItem {
                product_code: "A".into(),
                description: String::new(),
                quantity: 0,
            }]
        }),
        ("expires_in.seconds", "expiry below 60 s", |p| {
            p.expires_in = secs(59)
        }),
        ("expires_in.seconds", "expiry above 3600 s", |p| {
            p.expires_in = secs(3_601)
        }),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<OpenCheckout>(&open_checkout(), cases));
}

#[test]
fn get_merchant_balance_table() {
    let valid = pb::GetMerchantBalanceRequest {
        merchant_id: "M-1".into(),
    };
    let cases: &[Case<pb::GetMerchantBalanceRequest>] = &[
        ("merchant_id", "merchant_id missing", |p| {
            p.merchant_id.clear()
        }),
        ("merchant_id", "merchant_id non-ASCII", |p| {
            p.merchant_id = "Mé".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<GetMerchantBalance>(&valid, cases));
}

/// OMPP-FLB-002: a payee code's reference is EMVCo `ans` (printable ASCII), checked at parse
/// time rather than discovered when the code is signed.
#[test]
fn payee_code_reference_is_printable_ascii() {
    let mut request = issue_dynamic_code();
    request.merchant_reference = "Café 7".into();
    let errors = IssuePayeeCode::parse(&request).unwrap_err().errors;
    assert_eq!(errors[0].field.as_str(), "merchant_reference");
    assert_eq!(
        errors[0].violation,
        ompp::validation::Violation::BadCharacter { position: 3 }
    );
    request.merchant_reference = "Table 7 ~ ok".into();
    assert!(IssuePayeeCode::parse(&request).is_ok());
}
