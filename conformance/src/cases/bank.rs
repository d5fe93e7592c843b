//! A bank processor under test (spec chapter 07, "Bank processor"): the suite plays the network
//! server on `BankProcessorService` (mutual TLS with a network server identity).
//!
//! The bank processor has no balance query, so the suite reads a balance from the wire: the
//! largest amount an account can pay, found by transfers that probe it (each one that completes
//! is sent back at once). This needs the accounts of `fixtures.bank_accounts` to allow no
//! overdraft. Every case that moves money holds [`BankSupport::ledger`], so probes never see
//! another case's transfers, and leaves the balances as it found them.

use ompp::proto::v1 as pb;
use ompp::proto::v1::bank_processor_service_client::BankProcessorServiceClient;
use pb::ErrorReason as R;
use tonic::transport::Channel;

use super::body;
use crate::case::{Abort, Case, Checks, describe_status};
use crate::roles::{BankAccount, BankSupport};
use crate::target::Target;

const BP: ompp::conformance::RoleUnderTest = ompp::conformance::RoleUnderTest::BankProcessor;

/// The amount the cases move, in minor units of the fixtures' currency.
const AMOUNT: i64 = 1_250;

/// Probing stops here: an account that can pay this much cannot be read.
const PROBE_CAP: i64 = 1 << 50;

/// The reasons a business rejection may carry (OMPP-BANK-005).
const REJECT_REASONS: [R; 5] = [
    R::InsufficientFunds,
    R::UnknownAccount,
    R::AccountBlocked,
    R::CurrencyMismatch,
    R::AmountLimitExceeded,
];

pub(super) fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "bp.fields.execute-transfer",
            title: "malformed transfer ids, missing or malformed accounts, a transfer to the debited account itself, amounts not above zero and bad remittance text fail with INVALID_FIELD; the length bounds themselves are accepted",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-001"],
            run: body!(execute_transfer_fields),
        },
        Case {
            id: "bp.transfer.books-both-legs",
            title: "a completed transfer debits the payer and credits the payee by the amount, and its record echoes the request (needs a funded payer and a payee account)",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-002", "OMPP-BANK-007"],
            run: body!(books_both_legs),
        },
        Case {
            id: "bp.transfer.retry-returns-first-outcome",
            title: "an identical ExecuteTransfer returns the recorded transfer unchanged and books nothing again",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-003"],
            run: body!(retry_returns_first_outcome),
        },
        Case {
            id: "bp.transfer.id-conflict",
            title: "a recorded transfer_id with another amount, remittance text or account fails with IDEMPOTENCY_CONFLICT and books nothing",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-004"],
            run: body!(id_conflict),
        },
        Case {
            id: "bp.transfer.rejection-is-final",
            title: "insufficient funds and an unknown account are REJECTED answers, not RPC errors; a rejected transfer stays rejected after the payer is funded, and books nothing (needs the unknown account fixture)",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-005", "OMPP-BANK-007"],
            run: body!(rejection_is_final),
        },
        Case {
            id: "bp.get-transfer.recorded-and-unknown",
            title: "GetTransfer returns the recorded transfer, and NOT_FOUND for a transfer_id never sent",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-006"],
            run: body!(get_transfer),
        },
        Case {
            id: "bp.transfer.abandoned-call-recovers",
            title: "a transfer whose caller gave up is found by GetTransfer as decided, or not at all and then sent again; either way one outcome, booked once",
            role: BP,
            profile: None,
            requirements: &["OMPP-BANK-008"],
            run: body!(abandoned_call_recovers),
        },
    ]
}

/// `BankProcessorService` as the network server, with the fixtures.
struct Bank<'a> {
    client: BankProcessorServiceClient<Channel>,
    support: &'a BankSupport,
    target: &'a Target,
    checks: &'a Checks,
}

/// An `ExecuteTransferRequest` from `from` to `to` in `from`'s currency.
fn request(
    id: &str,
    from: &BankAccount,
    to: &BankAccount,
    amount: i64,
    remittance: &str,
) -> pb::ExecuteTransferRequest {
    pb::ExecuteTransferRequest {
        transfer_id: id.to_owned(),
        debit_account: Some(from.reference.clone()),
        credit_account: Some(to.reference.clone()),
        amount: Some(pb::Money {
            currency: from.currency.clone(),
            minor_units: amount,
        }),
        remittance_info: remittance.to_owned(),
    }
}

fn status_name(transfer: &pb::BankTransfer) -> String {
    format!("{:?}", transfer.status())
}

impl<'a> Bank<'a> {
    async fn open(target: &'a Target, checks: &'a Checks) -> Result<Self, Abort> {
        let support = target.bank(checks)?;
        let client = target.bank_client(checks).await?;
        Ok(Self {
            client,
            support,
            target,
            checks,
        })
    }

    fn payer(&self) -> &'a BankAccount {
        &self.support.payer
    }

    fn payee(&self) -> &'a BankAccount {
        &self.support.payee
    }

    /// A transfer id unique to this run.
    fn id(&self) -> String {
        self.target.key("bt")
    }

    async fn execute(
        &mut self,
        request: pb::ExecuteTransferRequest,
    ) -> Result<tonic::Response<pb::ExecuteTransferResponse>, tonic::Status> {
        self.client.execute_transfer(request).await
    }

    async fn get(
        &mut self,
        transfer_id: &str,
    ) -> Result<tonic::Response<pb::GetTransferResponse>, tonic::Status> {
        self.client
            .get_transfer(pb::GetTransferRequest {
                transfer_id: transfer_id.to_owned(),
            })
            .await
    }

    /// Moves `amount` from `from` to `to` as a step the case needs but does not judge (not in
    /// the transcript): the transfer must complete.
    async fn move_quietly(
        &mut self,
        from: &BankAccount,
        to: &BankAccount,
        amount: i64,
        what: &str,
    ) -> Result<(), Abort> {
        let id = self.id();
        let answer = self
            .execute(request(&id, from, to, amount, "conformance"))
            .await
            .map_err(|status| describe_status(&status));
        let transfer = self
            .checks
            .setup(what, answer)?
            .into_inner()
            .transfer
            .unwrap_or_default();
        if transfer.status() == pb::BankTransferStatus::Completed {
            Ok(())
        } else {
            self.checks.setup(
                what,
                Err(format!(
                    "{} ({:?})",
                    status_name(&transfer),
                    transfer.reject_reason()
                )),
            )
        }
    }

    /// Whether `from` can pay `amount` to `to` (the probe is sent back when it completes).
    async fn can_pay(
        &mut self,
        from: &BankAccount,
        to: &BankAccount,
        amount: i64,
    ) -> Result<bool, Abort> {
        let id = self.id();
        let answer = self
            .execute(request(&id, from, to, amount, "conformance probe"))
            .await
            .map_err(|status| describe_status(&status));
        let transfer = self
            .checks
            .setup("a probing transfer (balance reading)", answer)?
            .into_inner()
            .transfer
            .unwrap_or_default();
        match (transfer.status(), transfer.reject_reason()) {
            (pb::BankTransferStatus::Completed, _) => {
                self.move_quietly(to, from, amount, "sending a probing transfer back")
                    .await?;
                Ok(true)
            }
            (pb::BankTransferStatus::Rejected, R::InsufficientFunds) => Ok(false),
            (status, reason) => self.checks.setup(
                "a probing transfer (balance reading)",
                Err(format!(
                    "{status:?} ({reason:?}); expected COMPLETED or REJECTED INSUFFICIENT_FUNDS"
                )),
            ),
        }
    }

    /// The balance of `of`: the largest amount it can pay to `to`.
    async fn balance(&mut self, of: &BankAccount, to: &BankAccount) -> Result<i64, Abort> {
        let (mut can, mut cannot) = (0i64, 1i64);
        while self.can_pay(of, to, cannot).await? {
            can = cannot;
            cannot = cannot.saturating_mul(2);
            if cannot > PROBE_CAP {
                return self.checks.setup(
                    "reading a balance",
                    Err(format!(
                        "the account {}/{} can pay more than {PROBE_CAP}: use a fixture with less",
                        of.reference.bank_id, of.reference.account_number
                    )),
                );
            }
        }
        while cannot - can > 1 {
            let middle = can + (cannot - can) / 2;
            if self.can_pay(of, to, middle).await? {
                can = middle;
            } else {
                cannot = middle;
            }
        }
        Ok(can)
    }

    /// The balances of the payer and the payee.
    async fn balances(&mut self) -> Result<(i64, i64), Abort> {
        let (payer, payee) = (self.payer(), self.payee());
        Ok((
            self.balance(payer, payee).await?,
            self.balance(payee, payer).await?,
        ))
    }

    /// Leaves the balances as `before` (probing both), whatever the case did.
    async fn restore(&mut self, before: (i64, i64)) -> Result<(), Abort> {
        let now = self.balances().await?;
        let (payer, payee) = (self.payer(), self.payee());
        if now.1 > before.1 {
            self.move_quietly(payee, payer, now.1 - before.1, "restoring the balances")
                .await?;
        } else if now.0 > before.0 {
            self.move_quietly(payer, payee, now.0 - before.0, "restoring the balances")
                .await?;
        }
        Ok(())
    }
}

/// Records that an answer is a transfer and returns it.
fn transfer_of(
    checks: &Checks,
    requirement: &str,
    what: &str,
    result: Result<tonic::Response<pb::ExecuteTransferResponse>, tonic::Status>,
) -> Result<pb::BankTransfer, Abort> {
    let answer = checks.succeeds(requirement, what, result)?;
    match answer.transfer {
        Some(transfer) => Ok(transfer),
        None => {
            checks.record(
                requirement,
                format!("{what}: a transfer"),
                "a transfer",
                "none",
                false,
            );
            Err(Abort)
        }
    }
}

/// OMPP-BANK-007: the record echoes the request and has the form of its status.
fn check_form(
    checks: &Checks,
    what: &str,
    transfer: &pb::BankTransfer,
    sent: &pb::ExecuteTransferRequest,
) {
    const REQ: &str = "OMPP-BANK-007";
    checks.equal(
        REQ,
        format!("{what}: transfer_id echoed"),
        sent.transfer_id.as_str(),
        transfer.transfer_id.as_str(),
    );
    checks.equal(
        REQ,
        format!("{what}: debit_account echoed"),
        sent.debit_account.as_ref(),
        transfer.debit_account.as_ref(),
    );
    checks.equal(
        REQ,
        format!("{what}: credit_account echoed"),
        sent.credit_account.as_ref(),
        transfer.credit_account.as_ref(),
    );
    checks.equal(
        REQ,
        format!("{what}: amount echoed"),
        sent.amount.as_ref(),
        transfer.amount.as_ref(),
    );
    checks.equal(
        REQ,
        format!("{what}: decided_at present"),
        true,
        transfer.decided_at.is_some(),
    );
    match transfer.status() {
        pb::BankTransferStatus::Completed => {
            checks.equal(
                REQ,
                format!("{what}: a completed transfer has a bank_reference"),
                true,
                !transfer.bank_reference.is_empty(),
            );
            checks.equal(
                REQ,
                format!("{what}: a completed transfer has no reject_reason"),
                R::Unspecified,
                transfer.reject_reason(),
            );
        }
        pb::BankTransferStatus::Rejected => {
            checks.equal(
                REQ,
                format!("{what}: a rejected transfer has an empty bank_reference"),
                "",
                transfer.bank_reference.as_str(),
            );
            checks.equal(
                REQ,
                format!("{what}: a rejected transfer has a reject_reason"),
                true,
                transfer.reject_reason() != R::Unspecified,
            );
        }
        other => {
            checks.record(
                REQ,
                format!("{what}: status COMPLETED or REJECTED"),
                "COMPLETED or REJECTED",
                format!("{other:?}"),
                false,
            );
        }
    }
}

async fn execute_transfer_fields(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-001";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer().clone(), bank.payee().clone());
    let base = |id: String| request(&id, &payer, &payee, AMOUNT, "conformance fields");
    let with_account =
        |account: &pb::BankAccountRef, bank_id: Option<&str>, number: Option<&str>| {
            Some(pb::BankAccountRef {
                bank_id: bank_id.unwrap_or(&account.bank_id).to_owned(),
                account_number: number.unwrap_or(&account.account_number).to_owned(),
            })
        };
    let money = |currency: &str, minor_units: i64| {
        Some(pb::Money {
            currency: currency.to_owned(),
            minor_units,
        })
    };
    let rows: Vec<(&str, pb::ExecuteTransferRequest)> = vec![
        ("an empty transfer_id", base(String::new())),
        ("a transfer_id of 65 characters", base("T".repeat(65))),
        ("a transfer_id with a slash", base("T/1".to_owned())),
        (
            "no debit_account",
            pb::ExecuteTransferRequest {
                debit_account: None,
                ..base(bank.id())
            },
        ),
        (
            "no credit_account",
            pb::ExecuteTransferRequest {
                credit_account: None,
                ..base(bank.id())
            },
        ),
        (
            "a debit_account bank_id with a hyphen",
            pb::ExecuteTransferRequest {
                debit_account: with_account(&payer.reference, Some("BANK-1"), None),
                ..base(bank.id())
            },
        ),
        (
            "a credit_account account_number of 35 characters",
            pb::ExecuteTransferRequest {
                credit_account: with_account(&payee.reference, None, Some(&"1".repeat(35))),
                ..base(bank.id())
            },
        ),
        (
            "a credit_account equal to the debit_account",
            pb::ExecuteTransferRequest {
                credit_account: Some(payer.reference.clone()),
                ..base(bank.id())
            },
        ),
        (
            "no amount",
            pb::ExecuteTransferRequest {
                amount: None,
                ..base(bank.id())
            },
        ),
        (
            "an amount of zero",
            pb::ExecuteTransferRequest {
                amount: money(&payer.currency, 0),
                ..base(bank.id())
            },
        ),
        (
            "a negative amount",
            pb::ExecuteTransferRequest {
                amount: money(&payer.currency, -AMOUNT),
                ..base(bank.id())
            },
        ),
        (
            "an amount in a currency that is not an ISO 4217 code",
            pb::ExecuteTransferRequest {
                amount: money("EURO", AMOUNT),
                ..base(bank.id())
            },
        ),
        (
            "remittance_info of 141 characters",
            pb::ExecuteTransferRequest {
                remittance_info: "r".repeat(141),
                ..base(bank.id())
            },
        ),
        (
            "remittance_info with a control character",
            pb::ExecuteTransferRequest {
                remittance_info: "order\u{7}1".to_owned(),
                ..base(bank.id())
            },
        ),
    ];
    for (what, sent) in rows {
        let answer = bank.execute(sent).await;
        checks.reason(
            REQ,
            format!("ExecuteTransfer with {what}: INVALID_FIELD"),
            answer,
            R::InvalidField,
        );
    }
    // The bounds themselves are valid: such a transfer is decided, not refused.
    // Padded with zeros, which the transcript normalization folds with the run's counter.
    let longest_id = format!("{}-", bank.id());
    let longest_id = format!("{longest_id}{}", "0".repeat(64 - longest_id.len().min(64)));
    let bounds = [
        ("a transfer_id of 64 characters", base(longest_id)),
        (
            "remittance_info of 140 characters",
            pb::ExecuteTransferRequest {
                remittance_info: "r".repeat(140),
                ..base(bank.id())
            },
        ),
    ];
    for (what, sent) in bounds {
        let answer = bank.execute(sent).await;
        let transfer = transfer_of(checks, REQ, &format!("ExecuteTransfer with {what}"), answer)?;
        if transfer.status() == pb::BankTransferStatus::Completed {
            bank.move_quietly(&payee, &payer, AMOUNT, "restoring the balances")
                .await?;
        }
    }
    Ok(())
}

async fn books_both_legs(target: &Target, checks: &Checks) -> Result<(), Abort> {
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer(), bank.payee());
    let before = bank.balances().await?;
    if before.0 < AMOUNT {
        return checks.setup(
            "a funded payer account",
            Err(format!("it can pay {} minor units, not {AMOUNT}", before.0)),
        );
    }
    let sent = request(&bank.id(), payer, payee, AMOUNT, "conformance order 1");
    let answer = bank.execute(sent.clone()).await;
    let transfer = transfer_of(
        checks,
        "OMPP-BANK-002",
        "ExecuteTransfer the payer can cover succeeds",
        answer,
    )?;
    checks.equal(
        "OMPP-BANK-002",
        "the transfer is COMPLETED",
        pb::BankTransferStatus::Completed,
        transfer.status(),
    );
    check_form(checks, "the completed transfer", &transfer, &sent);
    let after = bank.balances().await?;
    checks.equal(
        "OMPP-BANK-002",
        "the payer's balance went down by the amount",
        before.0 - AMOUNT,
        after.0,
    );
    checks.equal(
        "OMPP-BANK-002",
        "the payee's balance went up by the amount",
        before.1 + AMOUNT,
        after.1,
    );
    bank.restore(before).await
}

async fn retry_returns_first_outcome(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-003";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer(), bank.payee());
    let before = bank.balances().await?;
    let sent = request(&bank.id(), payer, payee, AMOUNT, "conformance order 2");
    let answer = bank.execute(sent.clone()).await;
    let first = transfer_of(checks, REQ, "ExecuteTransfer", answer)?;
    checks.equal(
        REQ,
        "the first answer is COMPLETED (the payer can cover it)",
        pb::BankTransferStatus::Completed,
        first.status(),
    );
    for n in 1..=2 {
        let answer = bank.execute(sent.clone()).await;
        let again = transfer_of(
            checks,
            REQ,
            &format!("identical ExecuteTransfer #{n}"),
            answer,
        )?;
        checks.equal(
            REQ,
            format!("identical ExecuteTransfer #{n}: the recorded transfer, unchanged"),
            &first,
            &again,
        );
    }
    let after = bank.balances().await?;
    checks.equal(
        REQ,
        "the balances moved once: payer, payee",
        (before.0 - AMOUNT, before.1 + AMOUNT),
        after,
    );
    bank.restore(before).await
}

async fn id_conflict(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-004";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer(), bank.payee());
    let before = bank.balances().await?;
    let id = bank.id();
    let sent = request(&id, payer, payee, AMOUNT, "conformance order 3");
    let answer = bank.execute(sent.clone()).await;
    let first = transfer_of(checks, REQ, "ExecuteTransfer", answer)?;
    checks.equal(
        REQ,
        "the first answer is COMPLETED (the payer can cover it)",
        pb::BankTransferStatus::Completed,
        first.status(),
    );
    let others = [
        (
            "another amount",
            request(&id, payer, payee, AMOUNT + 1, "conformance order 3"),
        ),
        (
            "other remittance_info",
            request(&id, payer, payee, AMOUNT, "conformance order 4"),
        ),
        (
            "the accounts swapped",
            request(&id, payee, payer, AMOUNT, "conformance order 3"),
        ),
    ];
    for (what, other) in others {
        let answer = bank.execute(other).await;
        checks.reason(
            REQ,
            format!("the same transfer_id with {what}: IDEMPOTENCY_CONFLICT"),
            answer,
            R::IdempotencyConflict,
        );
    }
    let after = bank.balances().await?;
    checks.equal(
        REQ,
        "only the first transfer was booked: payer, payee",
        (before.0 - AMOUNT, before.1 + AMOUNT),
        after,
    );
    bank.restore(before).await
}

async fn rejection_is_final(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-005";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee, unknown) = (bank.payer(), bank.payee(), &support.unknown);

    // An account the bank does not hold.
    let sent = request(&bank.id(), payer, unknown, AMOUNT, "conformance order 5");
    let answer = bank.execute(sent.clone()).await;
    let transfer = transfer_of(
        checks,
        REQ,
        "ExecuteTransfer to an unknown account is answered, not an RPC error",
        answer,
    )?;
    checks.equal(
        REQ,
        "the transfer to an unknown account is REJECTED with UNKNOWN_ACCOUNT",
        (pb::BankTransferStatus::Rejected, R::UnknownAccount),
        (transfer.status(), transfer.reject_reason()),
    );
    check_form(
        checks,
        "the transfer to an unknown account",
        &transfer,
        &sent,
    );

    // A payer short of exactly one unit, then funded.
    let before = bank.balances().await?;
    if before.0 < 1 {
        return checks.setup("a funded payer account", Err("it can pay nothing"));
    }
    bank.move_quietly(payer, payee, 1, "moving one unit away from the payer")
        .await?;
    let sent = request(&bank.id(), payer, payee, before.0, "conformance order 6");
    let answer = bank.execute(sent.clone()).await;
    let first = transfer_of(
        checks,
        REQ,
        "ExecuteTransfer the payer cannot cover is answered, not an RPC error",
        answer,
    )?;
    checks.equal(
        REQ,
        "the transfer is REJECTED with INSUFFICIENT_FUNDS",
        (pb::BankTransferStatus::Rejected, R::InsufficientFunds),
        (first.status(), first.reject_reason()),
    );
    checks.equal(
        REQ,
        "the reject_reason is one of the business reasons",
        true,
        REJECT_REASONS.contains(&first.reject_reason()),
    );
    check_form(checks, "the rejected transfer", &first, &sent);
    bank.move_quietly(payee, payer, 1, "giving the payer its unit back")
        .await?;
    let answer = bank.execute(sent.clone()).await;
    let again = transfer_of(
        checks,
        REQ,
        "the identical ExecuteTransfer once the payer could cover it",
        answer,
    )?;
    checks.equal(
        REQ,
        "the rejection is final: the same REJECTED transfer",
        (pb::BankTransferStatus::Rejected, first.reject_reason()),
        (again.status(), again.reject_reason()),
    );
    let answer = bank.get(&sent.transfer_id).await;
    let recorded = checks.succeeds(REQ, "GetTransfer of the rejected transfer", answer)?;
    checks.equal(
        REQ,
        "GetTransfer: still REJECTED",
        Some(pb::BankTransferStatus::Rejected),
        recorded.transfer.as_ref().map(pb::BankTransfer::status),
    );
    let after = bank.balances().await?;
    checks.equal(
        REQ,
        "the rejected transfer booked nothing: payer, payee",
        before,
        after,
    );
    bank.restore(before).await
}

async fn get_transfer(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-006";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer(), bank.payee());
    let sent = request(&bank.id(), payer, payee, AMOUNT, "conformance order 7");
    let answer = bank.execute(sent.clone()).await;
    let executed = checks
        .setup_call("ExecuteTransfer", answer)?
        .transfer
        .unwrap_or_default();
    let answer = bank.get(&sent.transfer_id).await;
    let recorded = checks.succeeds(REQ, "GetTransfer of the transfer", answer)?;
    checks.equal(
        REQ,
        "GetTransfer returns the recorded transfer",
        Some(&executed),
        recorded.transfer.as_ref(),
    );
    let answer = bank.get(&bank.id()).await;
    checks.reason(
        REQ,
        "GetTransfer of a transfer_id never sent: NOT_FOUND",
        answer,
        R::NotFound,
    );
    if executed.status() == pb::BankTransferStatus::Completed {
        bank.move_quietly(payee, payer, AMOUNT, "restoring the balances")
            .await?;
    }
    Ok(())
}

async fn abandoned_call_recovers(target: &Target, checks: &Checks) -> Result<(), Abort> {
    const REQ: &str = "OMPP-BANK-008";
    let mut bank = Bank::open(target, checks).await?;
    let support = bank.support;
    let _ledger = support.ledger.lock().await;
    let (payer, payee) = (bank.payer(), bank.payee());
    let before = bank.balances().await?;
    let sent = request(&bank.id(), payer, payee, AMOUNT, "conformance order 8");
    // The caller gives up at once: the transfer may or may not have been recorded. Neither
    // this call nor the recovery steps that follow are in the transcript, as which of them
    // happen depends on timing.
    let mut abandoned = tonic::Request::new(sent.clone());
    abandoned.set_timeout(std::time::Duration::from_millis(1));
    let _ = bank.client.execute_transfer(abandoned).await;
    // Work the bank processor had already started ends meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let found = match bank.get(&sent.transfer_id).await {
        Ok(answer) => answer.into_inner().transfer,
        Err(status) => {
            let error = ompp::error::ProtocolError::from_status(&status).ok();
            if error.as_ref().map(|e| e.reason) != Some(R::NotFound) {
                checks.record(
                    REQ,
                    "GetTransfer after an abandoned call: the recorded transfer or NOT_FOUND",
                    "a transfer or NOT_FOUND",
                    describe_status(&status),
                    false,
                );
                return Err(Abort);
            }
            None
        }
    };
    let outcome = match found {
        Some(found) => {
            checks.record(
                REQ,
                "GetTransfer after an abandoned call: the recorded transfer or NOT_FOUND",
                "a transfer or NOT_FOUND",
                "the recorded transfer",
                true,
            );
            found
        }
        None => {
            checks.record(
                REQ,
                "GetTransfer after an abandoned call: the recorded transfer or NOT_FOUND",
                "a transfer or NOT_FOUND",
                "NOT_FOUND",
                true,
            );
            // Never recorded: safe to send again.
            match bank.execute(sent.clone()).await {
                Ok(answer) => answer.into_inner().transfer.unwrap_or_default(),
                Err(status) => {
                    checks.record(
                        REQ,
                        "the identical ExecuteTransfer after NOT_FOUND is decided",
                        "a transfer",
                        describe_status(&status),
                        false,
                    );
                    return Err(Abort);
                }
            }
        }
    };
    checks.equal(
        REQ,
        "the transfer's outcome once decided: COMPLETED (the payer can cover it)",
        pb::BankTransferStatus::Completed,
        outcome.status(),
    );
    let answer = bank.get(&sent.transfer_id).await;
    let recorded = checks.succeeds(REQ, "GetTransfer once decided", answer)?;
    checks.equal(
        REQ,
        "GetTransfer returns that outcome",
        Some(&outcome),
        recorded.transfer.as_ref(),
    );
    let after = bank.balances().await?;
    checks.equal(
        REQ,
        "the transfer was booked once: payer, payee",
        (before.0 - AMOUNT, before.1 + AMOUNT),
        after,
    );
    bank.restore(before).await
}
