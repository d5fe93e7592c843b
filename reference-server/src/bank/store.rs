//! The bank processor's own SQLite database: WAL with `synchronous=FULL`, one connection behind a
//! mutex, one transaction per operation. A transfer's outcome is committed before it is answered
//! (OMPP-BANK-008), and a transfer either books both legs or neither (OMPP-BANK-002).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use ompp::error::catalogue::{from_wire_name, wire_name};
use ompp::money::{Amount, Currency};
use ompp::proto::v1 as pb;
use ompp::requests::bank::ExecuteTransfer;
use ompp::types::{AccountNumber, BankAccountRef, BankId, RemittanceInfo, TransferId, UnixMillis};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::BankError;
use crate::clock::random_id;

/// Version of `schema.sql`, stamped into the database (`PRAGMA user_version`).
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// An account to create on first start.
#[derive(Debug, Clone)]
pub(crate) struct SeedAccount {
    pub(crate) account_number: AccountNumber,
    pub(crate) currency: Currency,
    pub(crate) balance: i64,
    pub(crate) blocked: bool,
}

/// An account and its balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    /// The account number.
    pub account_number: String,
    /// The account's currency (ISO 4217 code).
    pub currency: String,
    /// The balance in minor units.
    pub balance_minor_units: i64,
    /// Whether the account is blocked.
    pub blocked: bool,
}

/// How a transfer was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Both legs booked.
    Completed,
    /// Nothing booked, for this reason.
    Rejected(pb::ErrorReason),
}

/// A transfer as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransferRecord {
    pub(crate) request: ExecuteTransfer,
    pub(crate) decision: Decision,
    pub(crate) bank_reference: Option<String>,
    pub(crate) decided_at: UnixMillis,
}

impl TransferRecord {
    /// The wire form (OMPP-BANK-007).
    pub(crate) fn to_proto(&self) -> pb::BankTransfer {
        let (status, reject_reason) = match self.decision {
            Decision::Completed => (
                pb::BankTransferStatus::Completed,
                pb::ErrorReason::Unspecified,
            ),
            Decision::Rejected(reason) => (pb::BankTransferStatus::Rejected, reason),
        };
        pb::BankTransfer {
            transfer_id: self.request.transfer_id.to_string(),
            status: status.into(),
            reject_reason: reject_reason.into(),
            debit_account: Some(self.request.debit_account.to_proto()),
            credit_account: Some(self.request.credit_account.to_proto()),
            amount: Some(self.request.amount.to_proto()),
            bank_reference: self.bank_reference.clone().unwrap_or_default(),
            decided_at: Some(self.decided_at.to_proto()),
        }
    }
}

/// What `execute` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Execution {
    /// The transfer was new; this is the outcome just recorded.
    Decided(TransferRecord),
    /// The same transfer was recorded before; this is its first outcome, unchanged.
    Replayed(TransferRecord),
    /// The transfer id was recorded with other content; nothing was booked.
    Conflict,
}

/// The bank's store.
#[derive(Debug)]
pub(crate) struct BankStore {
    conn: Mutex<Connection>,
    bank_id: BankId,
}

fn corrupt(what: impl std::fmt::Display) -> BankError {
    BankError::Corrupt(what.to_string())
}

struct Account {
    currency: String,
    balance: i64,
    blocked: bool,
}

impl BankStore {
    /// Opens (creating if needed) the database at `path`; on the very first start, creates
    /// `accounts`. Later starts never create, reset or change accounts.
    pub(crate) fn open(
        path: &Path,
        bank_id: BankId,
        accounts: &[SeedAccount],
    ) -> Result<Self, BankError> {
        let mut conn = Connection::open(path)?;
        crate::store::prepare_database(&conn, include_str!("schema.sql"), SCHEMA_VERSION).map_err(
            |e| match e {
                crate::store::StoreError::SchemaVersion { found, needed } => {
                    BankError::SchemaVersion { found, needed }
                }
                crate::store::StoreError::Database(e) => BankError::Sqlite(e),
                other => BankError::Corrupt(other.to_string()),
            },
        )?;

        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seeded: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = 'seeded'", [], |row| {
                row.get(0)
            })
            .optional()?;
        if seeded.is_none() {
            for account in accounts {
                tx.execute(
                    "INSERT INTO accounts (account_number, currency, opening_balance, balance, blocked)
                     VALUES (?1, ?2, ?3, ?3, ?4)",
                    params![
                        account.account_number.as_str(),
                        account.currency.code(),
                        account.balance,
                        account.blocked
                    ],
                )?;
            }
            tx.execute("INSERT INTO meta (key, value) VALUES ('seeded', '1')", [])?;
            tracing::info!(accounts = accounts.len(), "bank accounts created");
        } else {
            let mut missing = 0usize;
            for account in accounts {
                let known: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM accounts WHERE account_number = ?1",
                        params![account.account_number.as_str()],
                        |row| row.get(0),
                    )
                    .optional()?;
                if known.is_none() {
                    missing += 1;
                }
            }
            if missing > 0 {
                tracing::warn!(
                    missing,
                    "configured bank accounts are created on first start only; these are not in the store"
                );
            }
        }
        tx.commit()?;
        Ok(Self {
            conn: Mutex::new(conn),
            bank_id,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction (it rolls back on
        // drop), so the connection is still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides and records `request`, or returns its first outcome if it was recorded before
    /// (OMPP-BANK-003), or `Conflict` if its id was used with other content (OMPP-BANK-004).
    /// One immediate transaction: concurrent identical calls are serialized, and the second
    /// sees the first's record.
    pub(crate) fn execute(
        &self,
        request: &ExecuteTransfer,
        now: UnixMillis,
    ) -> Result<Execution, BankError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(existing) = transfer(&tx, &request.transfer_id)? {
            return Ok(if &existing.request == request {
                Execution::Replayed(existing)
            } else {
                Execution::Conflict
            });
        }
        let decision = self.decide(&tx, request)?;
        let bank_reference = match decision {
            Decision::Completed => Some(random_id("BR")),
            Decision::Rejected(_) => None,
        };
        let reject_reason = match decision {
            Decision::Completed => None,
            Decision::Rejected(reason) => Some(wire_name(reason)),
        };
        let status = match decision {
            Decision::Completed => "COMPLETED",
            Decision::Rejected(_) => "REJECTED",
        };
        tx.execute(
            "INSERT INTO transfers (transfer_id, debit_bank_id, debit_account, credit_bank_id,
                 credit_account, currency, minor_units, remittance_info, status, reject_reason,
                 bank_reference, decided_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                request.transfer_id.as_str(),
                request.debit_account.bank_id.as_str(),
                request.debit_account.account_number.as_str(),
                request.credit_account.bank_id.as_str(),
                request.credit_account.account_number.as_str(),
                request.amount.currency().code(),
                request.amount.minor_units(),
                request.remittance_info.as_str(),
                status,
                reject_reason,
                bank_reference,
                now.0,
            ],
        )?;
        if decision == Decision::Completed {
            let amount = request.amount.minor_units();
            let legs = [
                (&request.debit_account.account_number, -amount),
                (&request.credit_account.account_number, amount),
            ];
            for (account, delta) in legs {
                let balance_after: i64 = tx.query_row(
                    "UPDATE accounts SET balance = balance + ?2 WHERE account_number = ?1
                     RETURNING balance",
                    params![account.as_str(), delta],
                    |row| row.get(0),
                )?;
                tx.execute(
                    "INSERT INTO postings (transfer_id, account_number, delta, balance_after)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        request.transfer_id.as_str(),
                        account.as_str(),
                        delta,
                        balance_after
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(Execution::Decided(TransferRecord {
            request: request.clone(),
            decision,
            bank_reference,
            decided_at: now,
        }))
    }

    /// The business decision for a new transfer, checked in this order: both accounts held by
    /// this bank, neither blocked, both in the amount's currency, the debit covered, the credit
    /// representable.
    fn decide(
        &self,
        tx: &Transaction<'_>,
        request: &ExecuteTransfer,
    ) -> Result<Decision, BankError> {
        let amount = request.amount;
        let (Some(debit), Some(credit)) = (
            self.account(tx, &request.debit_account)?,
            self.account(tx, &request.credit_account)?,
        ) else {
            return Ok(Decision::Rejected(pb::ErrorReason::UnknownAccount));
        };
        if debit.blocked || credit.blocked {
            return Ok(Decision::Rejected(pb::ErrorReason::AccountBlocked));
        }
        let currency = amount.currency().code();
        if debit.currency != currency || credit.currency != currency {
            return Ok(Decision::Rejected(pb::ErrorReason::CurrencyMismatch));
        }
        if debit.balance < amount.minor_units() {
            return Ok(Decision::Rejected(pb::ErrorReason::InsufficientFunds));
        }
        if credit.balance.checked_add(amount.minor_units()).is_none() {
            return Ok(Decision::Rejected(pb::ErrorReason::AmountLimitExceeded));
        }
        Ok(Decision::Completed)
    }

    fn account(
        &self,
        conn: &Connection,
        account: &BankAccountRef,
    ) -> Result<Option<Account>, BankError> {
        if account.bank_id != self.bank_id {
            return Ok(None);
        }
        Ok(conn
            .query_row(
                "SELECT currency, balance, blocked FROM accounts WHERE account_number = ?1",
                params![account.account_number.as_str()],
                |row| {
                    Ok(Account {
                        currency: row.get(0)?,
                        balance: row.get(1)?,
                        blocked: row.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// The recorded transfer `transfer_id`, if any.
    pub(crate) fn get(
        &self,
        transfer_id: &TransferId,
    ) -> Result<Option<TransferRecord>, BankError> {
        let conn = self.lock();
        transfer(&conn, transfer_id)
    }

    /// The balance of `account_number`, if this bank holds it.
    pub(crate) fn balance(&self, account_number: &str) -> Result<Option<i64>, BankError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                "SELECT balance FROM accounts WHERE account_number = ?1",
                params![account_number],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Every account, by account number.
    pub(crate) fn balances(&self) -> Result<Vec<AccountBalance>, BankError> {
        let conn = self.lock();
        let mut statement = conn.prepare(
            "SELECT account_number, currency, balance, blocked FROM accounts
             ORDER BY account_number",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(AccountBalance {
                account_number: row.get(0)?,
                currency: row.get(1)?,
                balance_minor_units: row.get(2)?,
                blocked: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// Reads a recorded transfer.
fn transfer(
    conn: &Connection,
    transfer_id: &TransferId,
) -> Result<Option<TransferRecord>, BankError> {
    type Row = (
        String,
        String,
        String,
        String,
        String,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
    );
    let row: Option<Row> = conn
        .query_row(
            "SELECT debit_bank_id, debit_account, credit_bank_id, credit_account, currency,
                    minor_units, remittance_info, status, reject_reason, bank_reference, decided_at
             FROM transfers WHERE transfer_id = ?1",
            params![transfer_id.as_str()],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                    row.get(10)?,
                ))
            },
        )
        .optional()?;
    let Some((
        debit_bank,
        debit_account,
        credit_bank,
        credit_account,
        currency,
        minor_units,
        remittance_info,
        status,
        reject_reason,
        bank_reference,
        decided_at,
    )) = row
    else {
        return Ok(None);
    };
    let account = |bank: &str, number: &str| -> Result<BankAccountRef, BankError> {
        Ok(BankAccountRef {
            bank_id: BankId::parse(bank).map_err(corrupt)?,
            account_number: AccountNumber::parse(number).map_err(corrupt)?,
        })
    };
    let currency = Currency::from_code(&currency).map_err(corrupt)?;
    let decision = match (status.as_str(), reject_reason) {
        ("COMPLETED", None) => Decision::Completed,
        ("REJECTED", Some(reason)) => Decision::Rejected(
            from_wire_name(&reason).ok_or_else(|| corrupt(format!("reject reason {reason:?}")))?,
        ),
        (other, _) => return Err(corrupt(format!("transfer status {other:?}"))),
    };
    Ok(Some(TransferRecord {
        request: ExecuteTransfer {
            transfer_id: transfer_id.clone(),
            debit_account: account(&debit_bank, &debit_account)?,
            credit_account: account(&credit_bank, &credit_account)?,
            amount: Amount::from_minor_units(currency, minor_units).map_err(corrupt)?,
            remittance_info: RemittanceInfo::parse(&remittance_info).map_err(corrupt)?,
        },
        decision,
        bank_reference,
        decided_at: UnixMillis(decided_at),
    }))
}
