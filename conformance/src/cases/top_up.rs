//! Wallet top-ups through the bank processor, judged at the suite's own bank: the check order
//! and the transfer the system sends (OMPP-LEDGER-010), a rejected transfer and a transfer
//! whose outcome the system could not learn at once (OMPP-LEDGER-011), and one the ledger could
//! not book (OMPP-MONEY-004).

use std::time::{Duration, Instant};

use ompp::proto::v1 as pb;
use pb::ErrorReason as R;

use super::flow_c::support;
use super::flow_c_bank::completed;
use super::{OC, body};
use crate::case::{Abort, Case, Checks};
use crate::parties::bank::{Bank, Call, Fault};
use crate::target::{Customer, PASSWORD, Target, money};

/// How long a case waits for the system to learn a lost transfer outcome on its own.
const RECOVERY_WAIT: Duration = Duration::from_secs(12);

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "oc.ledger.top-up-through-bank",
            title: "TopUpWallet checks currency, bank account and password in that order, debits the customer's registered account at the bank by one transfer and credits the wallet once it completed; a retry moves nothing",
            role: OC,
            profile: None,
            requirements: &["OMPP-LEDGER-010", "OMPP-IDEM-003"],
            run: body!(through_bank),
        },
        Case {
            id: "oc.ledger.top-up-rejected",
            title: "a top-up whose bank transfer is rejected fails with the transfer's reason, moves nothing and leaves its key free for a corrected request",
            role: OC,
            profile: None,
            requirements: &["OMPP-LEDGER-011", "OMPP-IDEM-006"],
            run: body!(rejected),
        },
        Case {
            id: "oc.ledger.top-up-outcome-unknown",
            title: "a top-up whose transfer the bank booked but never confirmed fails with UPSTREAM_TIMEOUT; the system then learns the outcome, credits the wallet once, and a retry returns the booked entry",
            role: OC,
            profile: None,
            requirements: &["OMPP-LEDGER-011", "OMPP-BANK-009"],
            run: body!(outcome_unknown),
        },
        Case {
            id: "oc.money.overflow",
            title: "a top-up that would take a wallet past the 64-bit range fails with AMOUNT_LIMIT_EXCEEDED and books nothing, at the bank or in the wallet",
            role: OC,
            profile: None,
            requirements: &["OMPP-MONEY-004"],
            run: body!(overflow),
        },
    ]
}

fn top_up(amount: pb::Money, password: &str, key: &str) -> pb::TopUpWalletRequest {
    pb::TopUpWalletRequest {
        amount: Some(amount),
        password: password.into(),
        idempotency_key: key.into(),
    }
}

/// A customer with a paired device whose registered account at the suite's bank holds
/// `balance`; returns it with the account number.
async fn banked(
    target: &Target,
    checks: &Checks,
    balance: i64,
) -> Result<(Customer, String), Abort> {
    let account = support(target, checks)?.parties.bank.open_account(balance);
    customer_of(target, checks, account).await
}

/// A customer with a paired device whose registered account at the suite's bank is `account`.
async fn customer_of(
    target: &Target,
    checks: &Checks,
    account: pb::BankAccountRef,
) -> Result<(Customer, String), Abort> {
    let number = account.account_number.clone();
    let (customer_id, phone) = target.register(checks, true, Some(account)).await?;
    let (device_id, device) = super::devices::pair(target, checks, &customer_id).await?;
    let customer = Customer {
        customer_id,
        phone,
        device,
        credential: crate::target::Credential {
            cert_pem: String::new(),
            key_pem: String::new(),
        },
        device_id,
        bank_account: Some(number.clone()),
    };
    Ok((customer, number))
}

/// The `ExecuteTransfer` requests among `calls`.
fn executes(calls: &[Call]) -> Vec<pb::ExecuteTransferRequest> {
    calls.iter().filter_map(|c| c.execute.clone()).collect()
}

/// Records that every transfer request for the top-up is the same one: it debits `account` at
/// `bank` by `amount` and credits another account of the bank.
fn one_transfer(
    checks: &Checks,
    requirement: &str,
    bank: &Bank,
    account: &str,
    amount: i64,
    sent: &[pb::ExecuteTransferRequest],
) {
    let debit = pb::BankAccountRef {
        bank_id: bank.bank_id(),
        account_number: account.to_owned(),
    };
    let first = sent.first().cloned().unwrap_or_default();
    let credit = first.credit_account.clone().unwrap_or_default();
    checks.record(
        requirement,
        format!("every ExecuteTransfer of the top-up is one transfer: the customer's registered account debited by {amount}, another account of the bank credited"),
        format!("debit {debit:?}, amount {amount}, credit another account at {}", debit.bank_id),
        format!(
            "{:?}",
            sent.iter()
                .map(|e| (&e.transfer_id, &e.debit_account, &e.amount, &e.credit_account))
                .collect::<Vec<_>>()
        ),
        !sent.is_empty()
            && sent.iter().all(|e| *e == first)
            && first.debit_account.as_ref() == Some(&debit)
            && first.amount == Some(money(amount))
            && credit.bank_id == debit.bank_id
            && credit.account_number != debit.account_number,
    );
}

async fn through_bank(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let bank = &support(target, checks)?.parties.bank;
    let wrong = "not-the-password-1";

    // A customer with a EUR wallet and no bank account.
    let (plain_id, _) = target.register(checks, true, None).await?;
    let (_, mut plain) = super::devices::pair(target, checks, &plain_id).await?;
    let usd = pb::Money {
        currency: "USD".into(),
        minor_units: 500,
    };
    checks.reason(
        "OMPP-LEDGER-010",
        "TopUpWallet in USD, with a wrong password, by a customer with a EUR wallet and no bank account: the wallet's currency first",
        plain
            .top_up_wallet(top_up(usd, wrong, &target.key("order")))
            .await,
        R::CurrencyMismatch,
    );
    checks.reason(
        "OMPP-LEDGER-010",
        "TopUpWallet in EUR, with a wrong password, by a customer without a bank account: the bank account before the password",
        plain
            .top_up_wallet(top_up(money(500), wrong, &target.key("order")))
            .await,
        R::UnknownAccount,
    );

    let (mut ana, account) = banked(target, checks, 10_000).await?;
    checks.reason(
        "OMPP-LEDGER-010",
        "TopUpWallet with a wrong password",
        ana.device
            .top_up_wallet(top_up(money(2_500), wrong, &target.key("order")))
            .await,
        R::CredentialsRejected,
    );
    checks.equal(
        "OMPP-LEDGER-010",
        "a top-up refused before the bank sends the bank nothing",
        0,
        bank.calls_debiting(&account).len(),
    );

    let key = target.key("topup");
    let topped = checks.succeeds(
        "OMPP-LEDGER-010",
        "TopUpWallet of 2 500",
        ana.device
            .top_up_wallet(top_up(money(2_500), PASSWORD, &key))
            .await,
    )?;
    let entry = topped.entry.unwrap_or_default();
    checks.equal(
        "OMPP-LEDGER-010",
        "the entry booked: delta and balance after",
        (Some(money(2_500)), Some(money(2_500))),
        (entry.delta.clone(), entry.balance_after.clone()),
    );
    let calls = bank.calls_debiting(&account);
    one_transfer(
        checks,
        "OMPP-LEDGER-010",
        bank,
        &account,
        2_500,
        &executes(&calls),
    );
    checks.record(
        "OMPP-LEDGER-010",
        "the bank answered the transfer COMPLETED before the system reported the top-up",
        "a COMPLETED answer",
        format!(
            "{:?}",
            calls
                .iter()
                .map(|c| c.answered.as_ref().map(|t| t.status))
                .collect::<Vec<_>>()
        ),
        calls.iter().any(completed),
    );
    checks.equal(
        "OMPP-LEDGER-010",
        "the customer's bank account is debited by 2 500, the wallet credited by 2 500",
        (Some(7_500), 2_500),
        (bank.balance(&account), ana.balance(checks).await?),
    );

    let again = checks.succeeds(
        "OMPP-IDEM-003",
        "the same TopUpWallet under its key again",
        ana.device
            .top_up_wallet(top_up(money(2_500), PASSWORD, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-003",
        "the retry answers with the entry booked first",
        Some(entry),
        again.entry,
    );
    checks.equal(
        "OMPP-IDEM-003",
        "the retry moves nothing: bank account and wallet unchanged",
        (Some(7_500), 2_500),
        (bank.balance(&account), ana.balance(checks).await?),
    );
    Ok(())
}

async fn rejected(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let bank = &support(target, checks)?.parties.bank;
    let (mut ana, account) = banked(target, checks, 1_000).await?;
    let key = target.key("short");
    checks.reason(
        "OMPP-LEDGER-011",
        "TopUpWallet of 5 000 from a bank account holding 1 000: the transfer's reject reason",
        ana.device
            .top_up_wallet(top_up(money(5_000), PASSWORD, &key))
            .await,
        R::InsufficientFunds,
    );
    checks.equal(
        "OMPP-LEDGER-011",
        "after the rejection the wallet and the bank account are unchanged",
        (0, Some(1_000)),
        (ana.balance(checks).await?, bank.balance(&account)),
    );
    let corrected = checks.succeeds(
        "OMPP-IDEM-006",
        "a corrected TopUpWallet of 800 under the same key (the failed request left it unbound)",
        ana.device
            .top_up_wallet(top_up(money(800), PASSWORD, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-IDEM-006",
        "the corrected top-up's entry",
        Some(money(800)),
        corrected.entry.and_then(|e| e.delta),
    );
    checks.equal(
        "OMPP-LEDGER-011",
        "only the corrected top-up moved money: wallet 800, bank account 200",
        (800, Some(200)),
        (ana.balance(checks).await?, bank.balance(&account)),
    );
    Ok(())
}

async fn outcome_unknown(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let bank = &support(target, checks)?.parties.bank;
    let (mut ana, account) = banked(target, checks, 10_000).await?;
    let key = target.key("unknown");
    // The bank books the first ExecuteTransfer, loses its answer, and is unreachable after.
    bank.inject(&account, [Fault::LoseAnswerThenHold]);
    checks.reason(
        "OMPP-LEDGER-011",
        "TopUpWallet while the bank booked the transfer, lost the answer and stays unreachable",
        ana.device
            .top_up_wallet(top_up(money(3_000), PASSWORD, &key))
            .await,
        R::UpstreamTimeout,
    );
    checks.equal(
        "OMPP-LEDGER-011",
        "while the outcome is unknown to the system, the wallet is not credited",
        0,
        ana.balance(checks).await?,
    );

    bank.release(&account);
    let released = Instant::now();
    let credited = loop {
        let balance = wallet(&mut ana.device).await;
        if balance == Some(3_000) || released.elapsed() > RECOVERY_WAIT {
            break balance;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    checks.equal(
        "OMPP-LEDGER-011",
        format!(
            "once the bank answers again, the system learns the outcome on its own and credits the wallet (within {} s, unasked)",
            RECOVERY_WAIT.as_secs()
        ),
        Some(3_000),
        credited,
    );
    let again = checks.succeeds(
        "OMPP-LEDGER-011",
        "the same TopUpWallet under its key again returns the booked entry",
        ana.device
            .top_up_wallet(top_up(money(3_000), PASSWORD, &key))
            .await,
    )?;
    checks.equal(
        "OMPP-LEDGER-011",
        "the entry's delta",
        Some(money(3_000)),
        again.entry.and_then(|e| e.delta),
    );
    checks.equal(
        "OMPP-LEDGER-011",
        "booked exactly once: wallet 3 000, bank account debited once",
        (3_000, Some(7_000)),
        (ana.balance(checks).await?, bank.balance(&account)),
    );
    one_transfer(
        checks,
        "OMPP-BANK-009",
        bank,
        &account,
        3_000,
        &executes(&bank.calls_debiting(&account)),
    );
    Ok(())
}

/// The EUR wallet balance, unlogged (how many polls it takes varies from run to run).
async fn wallet(
    device: &mut pb::device_service_client::DeviceServiceClient<tonic::transport::Channel>,
) -> Option<i64> {
    let balances = device
        .get_wallet_balance(pb::GetWalletBalanceRequest {})
        .await
        .ok()?;
    Some(
        balances
            .get_ref()
            .balances
            .iter()
            .find(|m| m.currency == crate::target::CURRENCY)
            .map_or(0, |m| m.minor_units),
    )
}

/// A wallet holding 1 unit, topped up by `i64::MAX` units: the sum overflows in every system,
/// whatever else it holds, and nothing is booked, so concurrent cases are not disturbed.
async fn overflow(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let bank = &support(target, checks)?.parties.bank;
    // An overdraft account: if the system sent the transfer, the bank would book it.
    let (mut ana, account) = customer_of(target, checks, bank.open_overdraft_account(0)).await?;
    checks.setup_call(
        "TopUpWallet of 1",
        ana.device
            .top_up_wallet(top_up(money(1), PASSWORD, &target.key("one")))
            .await,
    )?;
    checks.reason(
        "OMPP-MONEY-004",
        "TopUpWallet of i64::MAX units into a wallet holding 1",
        ana.device
            .top_up_wallet(top_up(money(i64::MAX), PASSWORD, &target.key("max")))
            .await,
        R::AmountLimitExceeded,
    );
    checks.equal(
        "OMPP-MONEY-004",
        "nothing was booked: the wallet holds 1, the bank account was debited by 1 only",
        (1, Some(-1)),
        (ana.balance(checks).await?, bank.balance(&account)),
    );
    Ok(())
}
