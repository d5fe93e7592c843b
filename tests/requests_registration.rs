//! Validation tables for `RegistrationService` requests.

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::registration::*;
use support::{Case, run};

/// The smallest DER value that passes the outer check: a SEQUENCE holding an INTEGER 0.
fn csr() -> Vec<u8> {
    vec![0x30, 0x03, 0x02, 0x01, 0x00]
}

/// A CSR-shaped value of `len` bytes (starts with the SEQUENCE tag).
fn csr_of_len(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x00; len];
    bytes[0] = 0x30;
    bytes
}

fn account_ref() -> pb::BankAccountRef {
    pb::BankAccountRef {
        bank_id: "DEUTDEFF500".into(),
        account_number: "DE89370400440532013000".into(),
    }
}

fn account() -> Option<pb::BankAccountRef> {
    Some(account_ref())
}

fn bank_id(bank_id: &str) -> Option<pb::BankAccountRef> {
    Some(pb::BankAccountRef {
        bank_id: bank_id.into(),
        ..account_ref()
    })
}

fn account_number(account_number: &str) -> Option<pb::BankAccountRef> {
    Some(pb::BankAccountRef {
        account_number: account_number.into(),
        ..account_ref()
    })
}

fn codes(codes: &[&str]) -> Vec<String> {
    codes.iter().map(|c| (*c).to_owned()).collect()
}

/// Seventeen distinct usable currencies: one more than `MAX_CURRENCIES`.
const SEVENTEEN: [&str; 17] = [
    "EUR", "USD", "GBP", "JPY", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "CAD", "AUD",
    "NZD", "SGD", "HKD", "KWD",
];

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

fn register_merchant() -> pb::RegisterMerchantRequest {
    pb::RegisterMerchantRequest {
        enrollment_token: "enr_4f9Kq-2ZpX7mWc".into(),
        display_name: "Café Aurora".into(),
        csr_der: csr(),
        settlement_currencies: codes(&["EUR", "USD"]),
        bank_account: account(),
        idempotency_key: "reg-m-1".into(),
    }
}

#[test]
fn register_merchant_table() {
    let cases: &[Case<pb::RegisterMerchantRequest>] = &[
        ("enrollment_token", "enrollment token missing", |p| {
            p.enrollment_token.clear()
        }),
        (
            "enrollment_token",
            "enrollment token of 15 characters",
            |p| p.enrollment_token = "t".repeat(15),
        ),
        (
            "enrollment_token",
            "enrollment token of 129 characters",
            |p| p.enrollment_token = "t".repeat(129),
        ),
        (
            "enrollment_token",
            "enrollment token with standard base64 '+'",
            |p| p.enrollment_token = "abcdefgh+ijklmnop".into(),
        ),
        ("enrollment_token", "enrollment token with '/'", |p| {
            p.enrollment_token = "abcdefgh/ijklmnop".into()
        }),
        (
            "enrollment_token",
            "enrollment token with '=' padding",
            |p| p.enrollment_token = "abcdefghijklmnop==".into(),
        ),
        ("enrollment_token", "enrollment token with a space", |p| {
            p.enrollment_token = "abcdefgh ijklmnop".into()
        }),
        (
            "enrollment_token",
            "enrollment token with a control character",
            |p| p.enrollment_token = "abcdefgh\u{0}ijklmnop".into(),
        ),
        ("display_name", "display name missing", |p| {
            p.display_name.clear()
        }),
        ("display_name", "display name of 65 characters", |p| {
            p.display_name = "é".repeat(65)
        }),
        ("display_name", "display name with a newline", |p| {
            p.display_name = "Café\nAurora".into()
        }),
        ("display_name", "display name with DEL", |p| {
            p.display_name = "Café\u{7f}".into()
        }),
        (
            "display_name",
            "display name with a C1 control character",
            |p| p.display_name = "Café\u{85}".into(),
        ),
        ("csr_der", "CSR missing", |p| p.csr_der.clear()),
        ("csr_der", "CSR not starting with a SEQUENCE tag", |p| {
            p.csr_der = vec![0x04, 0x03, 0x02, 0x01, 0x00]
        }),
        ("csr_der", "CSR in PEM text", |p| {
            p.csr_der = b"-----BEGIN CERTIFICATE REQUEST-----".to_vec()
        }),
        ("csr_der", "CSR of 16 KiB + 1 byte", |p| {
            p.csr_der = csr_of_len(16 * 1024 + 1)
        }),
        ("settlement_currencies", "no settlement currency", |p| {
            p.settlement_currencies.clear()
        }),
        (
            "settlement_currencies[1]",
            "settlement currency twice",
            |p| p.settlement_currencies = codes(&["EUR", "EUR"]),
        ),
        (
            "settlement_currencies[2]",
            "settlement currency twice after an invalid one",
            |p| p.settlement_currencies = codes(&["XYZ", "EUR", "EUR"]),
        ),
        (
            "settlement_currencies[1]",
            "settlement currency unknown",
            |p| p.settlement_currencies = codes(&["EUR", "XYZ"]),
        ),
        (
            "settlement_currencies[0]",
            "settlement currency lower case",
            |p| p.settlement_currencies = codes(&["eur"]),
        ),
        (
            "settlement_currencies[0]",
            "settlement currency empty string",
            |p| p.settlement_currencies = codes(&[""]),
        ),
        (
            "settlement_currencies[0]",
            "settlement currency is a precious metal",
            |p| p.settlement_currencies = codes(&["XAU"]),
        ),
        ("settlement_currencies", "17 settlement currencies", |p| {
            p.settlement_currencies = codes(&SEVENTEEN)
        }),
        (
            "bank_account.bank_id",
            "bank account present but empty",
            |p| p.bank_account = Some(pb::BankAccountRef::default()),
        ),
        ("bank_account.bank_id", "bank id missing", |p| {
            p.bank_account = bank_id("")
        }),
        ("bank_account.bank_id", "bank id lower case", |p| {
            p.bank_account = bank_id("deutdeff")
        }),
        ("bank_account.bank_id", "bank id of 12 characters", |p| {
            p.bank_account = bank_id("DEUTDEFF5001")
        }),
        ("bank_account.bank_id", "bank id with a space", |p| {
            p.bank_account = bank_id("DEUT DEFF")
        }),
        (
            "bank_account.account_number",
            "account number missing",
            |p| p.bank_account = account_number(""),
        ),
        (
            "bank_account.account_number",
            "account number lower case",
            |p| p.bank_account = account_number("de89370400440532013000"),
        ),
        (
            "bank_account.account_number",
            "account number of 35 characters",
            |p| p.bank_account = account_number(&"1".repeat(35)),
        ),
        (
            "bank_account.account_number",
            "account number with spaces (print form)",
            |p| p.bank_account = account_number("DE89 3704 0044 0532 0130 00"),
        ),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key with a colon", |p| {
            p.idempotency_key = "reg:1".into()
        }),
        (
            "idempotency_key",
            "idempotency key starting with an underscore",
            |p| p.idempotency_key = "_reg".into(),
        ),
        ("idempotency_key", "idempotency key of 65 characters", |p| {
            p.idempotency_key = "k".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<RegisterMerchant>(&register_merchant(), cases));
}

#[test]
fn register_merchant_boundaries_are_accepted() {
    let without_bank = pb::RegisterMerchantRequest {
        bank_account: None,
        ..register_merchant()
    };
    assert_eq!(accepts!(RegisterMerchant, &without_bank).bank_account, None);

    let longest = pb::RegisterMerchantRequest {
        enrollment_token: "Az09-_".repeat(21) + "xy",
        display_name: "é".repeat(64),
        csr_der: csr_of_len(16 * 1024),
        settlement_currencies: codes(&SEVENTEEN[..16]),
        bank_account: Some(pb::BankAccountRef {
            bank_id: "B".repeat(11),
            account_number: "9".repeat(34),
        }),
        idempotency_key: "k".repeat(64),
    };
    assert_eq!(longest.enrollment_token.len(), 128);
    let parsed = accepts!(RegisterMerchant, &longest);
    assert_eq!(parsed.to_proto(), longest);

    let shortest = pb::RegisterMerchantRequest {
        enrollment_token: "t".repeat(16),
        display_name: "A".into(),
        csr_der: vec![0x30],
        settlement_currencies: codes(&["JPY"]),
        bank_account: Some(pb::BankAccountRef {
            bank_id: "B".into(),
            account_number: "1".into(),
        }),
        idempotency_key: "k".into(),
    };
    assert_eq!(accepts!(RegisterMerchant, &shortest).to_proto(), shortest);
}

fn register_customer() -> pb::RegisterCustomerRequest {
    pb::RegisterCustomerRequest {
        display_name: "Ana Lima".into(),
        phone_number: "+351912345678".into(),
        password: "correct horse battery".into(),
        wallet_currencies: codes(&["EUR"]),
        bank_account: account(),
        idempotency_key: "reg-c-1".into(),
    }
}

#[test]
fn register_customer_table() {
    let cases: &[Case<pb::RegisterCustomerRequest>] = &[
        ("display_name", "display name missing", |p| {
            p.display_name.clear()
        }),
        ("display_name", "display name of 65 characters", |p| {
            p.display_name = "a".repeat(65)
        }),
        ("display_name", "display name with a tab", |p| {
            p.display_name = "Ana\tLima".into()
        }),
        ("phone_number", "phone number missing", |p| {
            p.phone_number.clear()
        }),
        ("phone_number", "phone number without '+'", |p| {
            p.phone_number = "351912345678".into()
        }),
        (
            "phone_number",
            "phone number with international prefix 00",
            |p| p.phone_number = "00351912345678".into(),
        ),
        ("phone_number", "phone number with first digit 0", |p| {
            p.phone_number = "+0351912345".into()
        }),
        ("phone_number", "phone number of 7 digits", |p| {
            p.phone_number = "+3519123".into()
        }),
        ("phone_number", "phone number of 16 digits", |p| {
            p.phone_number = "+3519123456789012".into()
        }),
        ("phone_number", "phone number with spaces", |p| {
            p.phone_number = "+351 912 345 678".into()
        }),
        ("phone_number", "phone number with a letter", |p| {
            p.phone_number = "+35191234567O".into()
        }),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 7 characters", |p| {
            p.password = "1234567".into()
        }),
        ("password", "password of 129 characters", |p| {
            p.password = "p".repeat(129)
        }),
        ("password", "password with a control character", |p| {
            p.password = "correct\u{1b}horse".into()
        }),
        ("wallet_currencies[1]", "wallet currency twice", |p| {
            p.wallet_currencies = codes(&["EUR", "EUR"])
        }),
        ("wallet_currencies[0]", "wallet currency unknown", |p| {
            p.wallet_currencies = codes(&["ABC"])
        }),
        ("wallet_currencies[0]", "wallet currency lower case", |p| {
            p.wallet_currencies = codes(&["usd"])
        }),
        (
            "wallet_currencies[0]",
            "wallet currency is a testing code",
            |p| p.wallet_currencies = codes(&["XTS"]),
        ),
        ("wallet_currencies", "17 wallet currencies", |p| {
            p.wallet_currencies = codes(&SEVENTEEN)
        }),
        (
            "wallet_currencies",
            "neither wallet currencies nor bank account",
            |p| {
                p.wallet_currencies.clear();
                p.bank_account = None;
            },
        ),
        ("bank_account.bank_id", "bank id lower case", |p| {
            p.bank_account = bank_id("cgdipTPL")
        }),
        ("bank_account.bank_id", "bank id of 12 characters", |p| {
            p.bank_account = bank_id("CGDIPTPLXXXX")
        }),
        (
            "bank_account.account_number",
            "account number missing",
            |p| p.bank_account = account_number(""),
        ),
        (
            "bank_account.account_number",
            "account number with a dash",
            |p| p.bank_account = account_number("0035-0000"),
        ),
        (
            "bank_account.account_number",
            "bank-only customer with an invalid account",
            |p| {
                p.wallet_currencies.clear();
                p.bank_account = account_number("pt50");
            },
        ),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key with a slash", |p| {
            p.idempotency_key = "reg/c".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<RegisterCustomer>(&register_customer(), cases));
}

#[test]
fn register_customer_needs_one_funding_source_only() {
    let wallet_only = pb::RegisterCustomerRequest {
        bank_account: None,
        ..register_customer()
    };
    assert_eq!(
        accepts!(RegisterCustomer, &wallet_only).to_proto(),
        wallet_only
    );

    let bank_only = pb::RegisterCustomerRequest {
        wallet_currencies: vec![],
        ..register_customer()
    };
    let parsed = accepts!(RegisterCustomer, &bank_only);
    assert!(parsed.wallet_currencies.is_empty());
    assert_eq!(parsed.to_proto(), bank_only);

    let boundaries = pb::RegisterCustomerRequest {
        phone_number: "+12345678".into(),
        password: "ü".repeat(128),
        wallet_currencies: codes(&SEVENTEEN[1..]),
        ..register_customer()
    };
    assert_eq!(
        accepts!(RegisterCustomer, &boundaries).to_proto(),
        boundaries
    );
    let boundaries = pb::RegisterCustomerRequest {
        phone_number: "+123456789012345".into(),
        password: "        ".into(),
        ..register_customer()
    };
    assert_eq!(
        accepts!(RegisterCustomer, &boundaries).to_proto(),
        boundaries
    );
}

fn pair_device() -> pb::PairDeviceRequest {
    pb::PairDeviceRequest {
        customer_id: "C-7".into(),
        password: "correct horse battery".into(),
        device_name: "Ana's phone".into(),
        csr_der: csr(),
        idempotency_key: "pair-1".into(),
    }
}

#[test]
fn pair_device_table() {
    let cases: &[Case<pb::PairDeviceRequest>] = &[
        ("customer_id", "customer id missing", |p| {
            p.customer_id.clear()
        }),
        ("customer_id", "customer id with a space", |p| {
            p.customer_id = "C 7".into()
        }),
        ("customer_id", "customer id starting with a dot", |p| {
            p.customer_id = ".C7".into()
        }),
        ("customer_id", "customer id of 65 characters", |p| {
            p.customer_id = "C".repeat(65)
        }),
        ("password", "password missing", |p| p.password.clear()),
        ("password", "password of 7 characters", |p| {
            p.password = "ü".repeat(7)
        }),
        ("password", "password of 129 characters", |p| {
            p.password = "ü".repeat(129)
        }),
        ("password", "password with a newline", |p| {
            p.password = "correct horse\n".into()
        }),
        ("device_name", "device name missing", |p| {
            p.device_name.clear()
        }),
        ("device_name", "device name of 65 characters", |p| {
            p.device_name = "d".repeat(65)
        }),
        ("device_name", "device name with a NUL", |p| {
            p.device_name = "phone\u{0}".into()
        }),
        ("csr_der", "CSR missing", |p| p.csr_der.clear()),
        ("csr_der", "CSR starting with 0x31 (SET)", |p| {
            p.csr_der = vec![0x31, 0x00]
        }),
        ("csr_der", "CSR of 16 KiB + 1 byte", |p| {
            p.csr_der = csr_of_len(16 * 1024 + 1)
        }),
        ("idempotency_key", "idempotency key missing", |p| {
            p.idempotency_key.clear()
        }),
        ("idempotency_key", "idempotency key non-ASCII", |p| {
            p.idempotency_key = "païr".into()
        }),
    ];
    insta::assert_yaml_snapshot!(run::<PairDevice>(&pair_device(), cases));
}

#[test]
fn empty_messages_report_every_required_field() {
    assert_eq!(
        fields::<RegisterMerchant>(&pb::RegisterMerchantRequest::default()),
        [
            "enrollment_token",
            "display_name",
            "csr_der",
            "settlement_currencies",
            "idempotency_key"
        ]
    );
    // The funding-source rule is reported at `wallet_currencies`, in declaration order.
    assert_eq!(
        fields::<RegisterCustomer>(&pb::RegisterCustomerRequest::default()),
        [
            "display_name",
            "phone_number",
            "password",
            "wallet_currencies",
            "idempotency_key"
        ]
    );
    assert_eq!(
        fields::<PairDevice>(&pb::PairDeviceRequest::default()),
        [
            "customer_id",
            "password",
            "device_name",
            "csr_der",
            "idempotency_key"
        ]
    );
}
