//! Validation tables for `BankProcessorService` requests.

mod support;

use ompp::proto::v1 as pb;
use ompp::requests::Request;
use ompp::requests::bank::*;
use support::{Case, run};

fn account(bank_id: &str, account_number: &str) -> Option<pb::BankAccountRef> {
    Some(pb::BankAccountRef {
        bank_id: bank_id.into(),
        account_number: account_number.into(),
    })
}

fn money(currency: &str, minor_units: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency: currency.into(),
        minor_units,
    })
}

fn debit(p: &mut pb::ExecuteTransferRequest) -> &mut pb::BankAccountRef {
    p.debit_account.get_or_insert_default()
}

fn credit(p: &mut pb::ExecuteTransferRequest) -> &mut pb::BankAccountRef {
    p.credit_account.get_or_insert_default()
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

fn execute_transfer() -> pb::ExecuteTransferRequest {
    pb::ExecuteTransferRequest {
        transfer_id: "tr-20260101-0001".into(),
        debit_account: account("CGDIPTPL", "PT50003506510000000000033"),
        credit_account: account("DEUTDEFF500", "DE89370400440532013000"),
        amount: money("EUR", 9999),
        remittance_info: "Café Aurora ORDER-1".into(),
    }
}

#[test]
fn execute_transfer_table() {
    let cases: &[Case<pb::ExecuteTransferRequest>] = &[
        ("transfer_id", "transfer id missing", |p| {
            p.transfer_id.clear()
        }),
        ("transfer_id", "transfer id with a colon", |p| {
            p.transfer_id = "tr:1".into()
        }),
        ("transfer_id", "transfer id of 65 characters", |p| {
            p.transfer_id = "t".repeat(65)
        }),
        ("debit_account", "debit account missing", |p| {
            p.debit_account = None
        }),
        ("debit_account.bank_id", "debit bank id missing", |p| {
            debit(p).bank_id.clear()
        }),
        ("debit_account.bank_id", "debit bank id lower case", |p| {
            debit(p).bank_id = "cgdiptpl".into()
        }),
        (
            "debit_account.bank_id",
            "debit bank id of 12 characters",
            |p| debit(p).bank_id = "CGDIPTPLXXXX".into(),
        ),
        (
            "debit_account.account_number",
            "debit account number missing",
            |p| debit(p).account_number.clear(),
        ),
        (
            "debit_account.account_number",
            "debit account number lower case",
            |p| debit(p).account_number = "pt50003506510000000000033".into(),
        ),
        (
            "debit_account.account_number",
            "debit account number of 35 characters",
            |p| debit(p).account_number = "9".repeat(35),
        ),
        (
            "debit_account.account_number",
            "debit account number with a space",
            |p| debit(p).account_number = "PT50 0035".into(),
        ),
        (
            "debit_account.bank_id",
            "debit account present but empty",
            |p| p.debit_account = Some(pb::BankAccountRef::default()),
        ),
        ("credit_account", "credit account missing", |p| {
            p.credit_account = None
        }),
        ("credit_account.bank_id", "credit bank id missing", |p| {
            credit(p).bank_id.clear()
        }),
        (
            "credit_account.bank_id",
            "credit bank id with a dash",
            |p| credit(p).bank_id = "DEUT-DEFF".into(),
        ),
        (
            "credit_account.account_number",
            "credit account number missing",
            |p| credit(p).account_number.clear(),
        ),
        (
            "credit_account.account_number",
            "credit account number with a slash",
            |p| credit(p).account_number = "DE89/3704".into(),
        ),
        (
            "credit_account",
            "credit account equal to the debit account",
            |p| p.credit_account = p.debit_account.clone(),
        ),
        (
            "credit_account",
            "same account and another invalid field",
            |p| {
                p.credit_account = p.debit_account.clone();
                p.transfer_id.clear();
            },
        ),
        ("amount", "amount missing", |p| p.amount = None),
        ("amount.currency", "currency missing", |p| {
            p.amount = money("", 9999)
        }),
        ("amount.currency", "currency unknown", |p| {
            p.amount = money("XYZ", 9999)
        }),
        ("amount.currency", "currency lower case", |p| {
            p.amount = money("eur", 9999)
        }),
        (
            "amount.currency",
            "currency without minor units (XDR)",
            |p| p.amount = money("XDR", 9999),
        ),
        ("amount.minor_units", "amount zero", |p| {
            p.amount = money("EUR", 0)
        }),
        ("amount.minor_units", "amount negative", |p| {
            p.amount = money("EUR", -9999)
        }),
        (
            "remittance_info",
            "remittance info of 141 characters",
            |p| p.remittance_info = "r".repeat(141),
        ),
        ("remittance_info", "remittance info with a newline", |p| {
            p.remittance_info = "ORDER-1\nORDER-2".into()
        }),
        (
            "remittance_info",
            "remittance info with a C1 control character",
            |p| p.remittance_info = "ORDER\u{9b}1".into(),
        ),
    ];
    insta::assert_yaml_snapshot!(run::<ExecuteTransfer>(&execute_transfer(), cases));
}

#[test]
fn execute_transfer_boundaries_are_accepted() {
    // Remittance information is optional; 140 characters is the maximum.
    for remittance_info in [String::new(), "é".repeat(140)] {
        let message = pb::ExecuteTransferRequest {
            remittance_info,
            ..execute_transfer()
        };
        assert_eq!(accepts!(ExecuteTransfer, &message).to_proto(), message);
    }
    // Accounts differ when either part differs.
    let same_bank = pb::ExecuteTransferRequest {
        credit_account: account("CGDIPTPL", "PT50003506510000000000034"),
        ..execute_transfer()
    };
    assert_eq!(accepts!(ExecuteTransfer, &same_bank).to_proto(), same_bank);
    let same_number = pb::ExecuteTransferRequest {
        credit_account: account("BCOMPTPL", "PT50003506510000000000033"),
        ..execute_transfer()
    };
    assert_eq!(
        accepts!(ExecuteTransfer, &same_number).to_proto(),
        same_number
    );
    // The longest bank id and account number.
    let longest = pb::ExecuteTransferRequest {
        debit_account: account(&"A".repeat(11), &"0".repeat(34)),
        amount: money("KWD", 1),
        ..execute_transfer()
    };
    assert_eq!(accepts!(ExecuteTransfer, &longest).to_proto(), longest);
}

#[test]
fn get_transfer_table() {
    let valid = pb::GetTransferRequest {
        transfer_id: "tr-20260101-0001".into(),
    };
    let cases: &[Case<pb::GetTransferRequest>] = &[
        ("transfer_id", "transfer id missing", |p| {
            p.transfer_id.clear()
        }),
        ("transfer_id", "transfer id with a space", |p| {
            p.transfer_id = "tr 1".into()
        }),
        ("transfer_id", "transfer id starting with a dot", |p| {
            p.transfer_id = ".tr".into()
        }),
        ("transfer_id", "transfer id of 65 characters", |p| {
            p.transfer_id = "t".repeat(65)
        }),
    ];
    insta::assert_yaml_snapshot!(run::<GetTransfer>(&valid, cases));
}

#[test]
fn empty_messages_report_every_required_field() {
    assert_eq!(
        fields::<ExecuteTransfer>(&pb::ExecuteTransferRequest::default()),
        ["transfer_id", "debit_account", "credit_account", "amount"]
    );
    assert_eq!(
        fields::<GetTransfer>(&pb::GetTransferRequest::default()),
        ["transfer_id"]
    );
}
