//! The embedded store: one SQLite database in WAL mode with `synchronous=FULL`.
//!
//! One connection behind a mutex serializes writers (SQLite does anyway); every operation is
//! atomic (a savepoint), and operations that arrive together share one durable commit (see
//! [`SqliteStore`]), so a crash leaves either all of an operation or none of it, and nothing a
//! caller was told about is lost.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use ompp::authcode::StoredCode;
use ompp::checkout::{Checkout, CheckoutParts};
use ompp::money::{Amount, Currency, Money};
use ompp::payment::PushPayment;
use ompp::proto::v1 as pb;
use ompp::types::{
    AccountNumber, BankAccountRef, BankId, CustomerId, DeviceId, MerchantId, PaymentId, UnixMillis,
};
use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::cache::Cache;
use super::{
    Created, CustomerRecord, IdempotencyRecord, LedgerEntry, MerchantRecord, Owner,
    PayeeCodeRecord, PaymentRecord, PaymentState, Settle, Store, StoreError, TopUpRecord,
};

/// Version of `schema.sql`, stamped into the database (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 3;

/// The SQLite store.
///
/// Group commit: every operation runs in its own savepoint inside the batch transaction that
/// is open at the time, and returns only once a `COMMIT` covering that batch has reached the
/// disk (`synchronous=FULL`). The first caller to wait commits for everyone who joined the
/// batch meanwhile, so one fsync serves many operations under load and exactly one when idle.
/// An operation that fails rolls back its own savepoint only. A read waits for the batch whose
/// uncommitted writes it could have seen, so no caller ever learns of a state that a crash
/// could still undo.
#[derive(Debug)]
pub struct SqliteStore {
    group: Arc<GroupCommit>,
    checkpointer: Option<Checkpointer>,
    merchants: Cache<MerchantId, MerchantRecord>,
    customers: Cache<CustomerId, CustomerRecord>,
    devices: Cache<DeviceId, CustomerId>,
}

/// The connection and the batch transaction it may have open.
#[derive(Debug)]
struct Batch {
    conn: Connection,
    /// Whether `BEGIN` has run and `COMMIT` has not.
    open: bool,
    /// The number of the open batch, or of the next one when none is open.
    number: u64,
}

/// What the waiters know about the batches.
#[derive(Debug, Default)]
struct Durable {
    /// Every batch up to this number is settled (committed, or failed as listed).
    settled: u64,
    /// Whether a waiter is committing right now.
    leader: bool,
    /// The latest batches whose `COMMIT` failed, with the error.
    failed: VecDeque<(u64, String)>,
}

/// How many failed batch numbers are remembered for their waiters.
const FAILED_BATCHES_KEPT: usize = 64;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn owner_key(owner: &Owner) -> (&'static str, &str) {
    match owner {
        Owner::Customer(id) => ("customer", id.as_str()),
        Owner::Merchant(id) => ("merchant", id.as_str()),
        Owner::Operator => ("operator", "float"),
    }
}

fn bank_account(
    bank_id: Option<String>,
    account: Option<String>,
) -> Result<Option<BankAccountRef>, StoreError> {
    match (bank_id, account) {
        (Some(bank_id), Some(account_number)) => Ok(Some(BankAccountRef {
            bank_id: BankId::parse(&bank_id).map_err(corrupt)?,
            account_number: AccountNumber::parse(&account_number).map_err(corrupt)?,
        })),
        _ => Ok(None),
    }
}

/// Checkpoints the WAL from its own connection every [`Checkpointer::EVERY`], until dropped.
#[derive(Debug)]
struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(250);

    fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*stopped {
                    let (guard, _) = wake
                        .wait_timeout(stopped, Self::EVERY)
                        .unwrap_or_else(PoisonError::into_inner);
                    stopped = guard;
                    if let Err(error) =
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(%error, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| StoreError::Corrupt(format!("checkpoint thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connection and the group-commit state, shared with [`UNSETTLED`].
#[derive(Debug)]
struct GroupCommit {
    batch: Mutex<Batch>,
    durable: Mutex<Durable>,
    committed: Condvar,
    commits: AtomicU64,
}

thread_local! {
    /// The latest batch, not yet durable when a read on this thread saw it, and its store.
    static UNSETTLED: RefCell<Option<(Arc<GroupCommit>, u64)>> = const { RefCell::new(None) };
}

/// Blocks until every batch that a read on this thread saw uncommitted is durable (a write
/// since then has already waited). Whoever answers from what it read calls this first; the
/// server does so in `errors::blocking`, after every piece of storage work.
pub fn settle_reads() -> Result<(), StoreError> {
    match UNSETTLED.with(|unsettled| unsettled.borrow_mut().take()) {
        Some((group, batch)) => group.wait_durable(batch),
        None => Ok(()),
    }
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        // A panic while holding the lock leaves at most an open savepoint, which the
        // `Savepoint` guard rolled back while unwinding, so the connection is still usable.
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_durable(&self) -> MutexGuard<'_, Durable> {
        self.durable.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` as one atomic change (a savepoint in the open batch) and returns its result
    /// once the batch is durable. An `Err` from `f` undoes everything `f` did.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (result, batch) = {
            let mut guard = self.lock();
            let batch = &mut *guard;
            if !batch.open {
                batch.conn.execute_batch("BEGIN IMMEDIATE")?;
                batch.open = true;
            }
            let savepoint = batch.conn.savepoint()?;
            let result = f(&savepoint);
            if result.is_ok() {
                savepoint.commit()?;
            }
            // On error the savepoint rolls back when dropped.
            (result, batch.number)
        };
        self.wait_durable(batch)?;
        // Every read this thread made of this store saw a batch up to this one.
        UNSETTLED.with(|unsettled| {
            let mut unsettled = unsettled.borrow_mut();
            if unsettled.as_ref().is_some_and(|(group, seen)| {
                std::ptr::eq(Arc::as_ptr(group), self) && *seen <= batch
            }) {
                *unsettled = None;
            }
        });
        result
    }

    /// Runs a read. If it could have seen writes not yet durable, it notes their batch for
    /// [`settle_reads`] on this thread instead of waiting: a read followed by a write costs
    /// one wait, the write's.
    fn read<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (result, pending) = {
            let batch = self.lock();
            (f(&batch.conn), batch.open.then_some(batch.number))
        };
        if let Some(batch) = pending {
            UNSETTLED.with(|unsettled| {
                let mut unsettled = unsettled.borrow_mut();
                let later = match unsettled.as_ref() {
                    Some((group, seen)) => !Arc::ptr_eq(group, self) || *seen < batch,
                    None => true,
                };
                if later {
                    *unsettled = Some((self.clone(), batch));
                }
            });
        }
        result
    }

    /// Blocks until batch `number` is committed; the first waiter commits it.
    fn wait_durable(&self, number: u64) -> Result<(), StoreError> {
        let mut durable = self.lock_durable();
        loop {
            if durable.settled >= number {
                return match durable.failed.iter().find(|(n, _)| *n == number) {
                    Some((_, error)) => Err(StoreError::Corrupt(format!("commit failed: {error}"))),
                    None => Ok(()),
                };
            }
            if durable.leader {
                durable = self
                    .committed
                    .wait(durable)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            durable.leader = true;
            drop(durable);
            let (settled, outcome) = self.commit_open();
            durable = self.lock_durable();
            durable.leader = false;
            durable.settled = durable.settled.max(settled);
            if let Err(error) = outcome {
                durable.failed.push_back((settled, error.to_string()));
                if durable.failed.len() > FAILED_BATCHES_KEPT {
                    durable.failed.pop_front();
                }
            }
            self.committed.notify_all();
        }
    }

    /// Commits the open batch, if any; returns the highest batch number now settled.
    fn commit_open(&self) -> (u64, Result<(), rusqlite::Error>) {
        let mut batch = self.lock();
        if !batch.open {
            return (batch.number - 1, Ok(()));
        }
        let number = batch.number;
        let outcome = batch.conn.execute_batch("COMMIT");
        self.commits.fetch_add(1, Ordering::Relaxed);
        if outcome.is_err() {
            // Whatever SQLite left of the transaction goes; the batch's callers get the error.
            let _ = batch.conn.execute_batch("ROLLBACK");
        }
        batch.open = false;
        batch.number += 1;
        (number, outcome)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        let mut store = Self::init(conn)?;
        // Checkpoints move the WAL into the database file and fsync it; done by the committing
        // connection they stall every request behind that commit. A second connection does
        // them in the background instead (PASSIVE: it never blocks the writer).
        store
            .group
            .lock()
            .conn
            .pragma_update(None, "wal_autocheckpoint", 0)?;
        store.checkpointer = Some(Checkpointer::start(path)?);
        Ok(store)
    }

    /// An in-memory database, for tests that do not restart.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        super::prepare_database(&conn, include_str!("schema.sql"), SCHEMA_VERSION)?;
        Ok(Self {
            group: Arc::new(GroupCommit {
                batch: Mutex::new(Batch {
                    conn,
                    open: false,
                    number: 1,
                }),
                durable: Mutex::new(Durable::default()),
                committed: Condvar::new(),
                commits: AtomicU64::new(0),
            }),
            checkpointer: None,
            merchants: Cache::default(),
            customers: Cache::default(),
            devices: Cache::default(),
        })
    }

    #[cfg(test)]
    fn lock(&self) -> MutexGuard<'_, Batch> {
        self.group.lock()
    }

    /// How many batch commits have run: with [`SqliteStore::seed_settled_payments`] aside,
    /// the number of fsyncs the writes cost.
    pub fn commits(&self) -> u64 {
        self.group.commits.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn lock_durable(&self) -> MutexGuard<'_, Durable> {
        self.group.lock_durable()
    }

    #[cfg(test)]
    fn wait_durable(&self, number: u64) -> Result<(), StoreError> {
        self.group.wait_durable(number)
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.group.write(f)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.group.read(f)
    }

    /// Stores `count` copies of the settled payment `template` (ids `<template id>-<n>`), each
    /// booked like a real settlement: its amount moves from the payer's wallet to the
    /// merchant's, with its own transfer. For benchmarks that need a large stored history; the
    /// payer must hold `count` times the amount. Commits every 10 000 payments.
    pub fn seed_settled_payments(
        &self,
        template: &PaymentRecord,
        count: u64,
    ) -> Result<(), StoreError> {
        const CHUNK: u64 = 10_000;
        let payer = template
            .customer_id
            .clone()
            .ok_or(StoreError::NotFound("payer"))?;
        let currency = template.amount.currency();
        let mut next = 0;
        while next < count {
            let end = count.min(next + CHUNK);
            self.write(|tx| {
                let debit = account_id(tx, &Owner::Customer(payer.clone()), currency)?
                    .ok_or(StoreError::InsufficientFunds)?;
                let credit =
                    open_account(tx, &Owner::Merchant(template.merchant_id.clone()), currency)?;
                for n in next..end {
                    let mut record = template.clone();
                    record.payment_id = PaymentId::parse(&format!("{}-{n}", template.payment_id))
                        .map_err(corrupt)?;
                    let transfer_id = format!("T-{}", record.payment_id);
                    record.transfer_id = Some(transfer_id.clone());
                    save_payment(tx, &record, true)?;
                    book_payment(tx, &record, &transfer_id, debit, credit)?;
                }
                Ok(())
            })?;
            next = end;
        }
        Ok(())
    }
}

/// Checks or records an idempotency key inside `tx`: `Ok(Some(id))` for a matching retry,
/// `Ok(None)` if the key is new (the caller then records it with [`record_idempotency`]).
fn check_idempotency(
    tx: &Connection,
    idem: &IdempotencyRecord,
) -> Result<Option<String>, StoreError> {
    let existing: Option<(Vec<u8>, String)> = tx
        .prepare_cached("SELECT request, result_id FROM idempotency WHERE scope = ?1 AND key = ?2")?
        .query_row(params![idem.scope, idem.key], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match existing {
        Some((digest, id)) if digest == idem.digest => Ok(Some(id)),
        Some(_) => Err(StoreError::IdempotencyConflict),
        None => Ok(None),
    }
}

fn record_idempotency(
    tx: &Connection,
    idem: &IdempotencyRecord,
    result_id: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO idempotency (scope, key, request, result_id) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![idem.scope, idem.key, idem.digest, result_id])?;
    Ok(())
}

/// The columns [`top_up_row`] reads, in its order.
const TOP_UP_COLUMNS: &str =
    "device_id, key, digest, customer_id, currency, amount, request, booked";

/// A `top_ups` row; the outer error is SQLite's, the inner one a row that does not parse.
fn top_up_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TopUpRecord, StoreError>> {
    let device_id: String = row.get(0)?;
    let key: String = row.get(1)?;
    let digest: Vec<u8> = row.get(2)?;
    let customer_id: String = row.get(3)?;
    let currency: String = row.get(4)?;
    let amount: i64 = row.get(5)?;
    let request: Vec<u8> = row.get(6)?;
    let booked: bool = row.get(7)?;
    Ok((|| {
        let currency = Currency::from_code(&currency).map_err(corrupt)?;
        Ok(TopUpRecord {
            device_id: DeviceId::parse(&device_id).map_err(corrupt)?,
            key,
            digest,
            customer_id: CustomerId::parse(&customer_id).map_err(corrupt)?,
            amount: Amount::from_minor_units(currency, amount).map_err(corrupt)?,
            transfer: pb::ExecuteTransferRequest::decode(request.as_slice()).map_err(corrupt)?,
            booked,
        })
    })())
}

fn open_account(tx: &Connection, owner: &Owner, currency: Currency) -> Result<i64, StoreError> {
    let (kind, id) = owner_key(owner);
    let allow_negative = matches!(owner, Owner::Operator);
    tx.prepare_cached(
        "INSERT OR IGNORE INTO accounts (owner_kind, owner_id, currency, balance, allow_negative)
         VALUES (?1, ?2, ?3, 0, ?4)",
    )?
    .execute(params![kind, id, currency.code(), allow_negative])?;
    account_id(tx, owner, currency)?.ok_or(StoreError::NotFound("account"))
}

fn account_id(
    tx: &Connection,
    owner: &Owner,
    currency: Currency,
) -> Result<Option<i64>, StoreError> {
    let (kind, id) = owner_key(owner);
    Ok(tx
        .prepare_cached("SELECT account_id FROM accounts WHERE owner_kind = ?1 AND owner_id = ?2 AND currency = ?3")?
.query_row(params![kind, id, currency.code()],
            |row| row.get(0),)
        .optional()?)
}

/// Books one transfer inside `tx`: debit and credit the same amount, refusing a debit below
/// zero unless the account allows it. Idempotent by `transfer_id` (OMPP-LEDGER-003).
fn transfer(
    tx: &Connection,
    transfer_id: &str,
    debit: i64,
    credit: i64,
    amount: Amount,
    payment_id: Option<&str>,
    now: UnixMillis,
) -> Result<(i64, i64), StoreError> {
    let existing: Option<(i64, i64, String, i64, i64, i64)> = tx
        .prepare_cached(
            "SELECT debit_account, credit_account, currency, amount, debit_balance, credit_balance
             FROM transfers WHERE transfer_id = ?1",
        )?
        .query_row(params![transfer_id], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })
        .optional()?;
    if let Some((d, c, currency, minor, debit_balance, credit_balance)) = existing {
        // A retried transfer returns the first outcome; the same id with other content is a
        // conflict, never a second movement (OMPP-LEDGER-005).
        let same = d == debit
            && c == credit
            && currency == amount.currency().code()
            && minor == amount.minor_units();
        return if same {
            Ok((debit_balance, credit_balance))
        } else {
            Err(StoreError::IdempotencyConflict)
        };
    }
    let (debit_balance, allow_negative): (i64, bool) = tx
        .prepare_cached("SELECT balance, allow_negative FROM accounts WHERE account_id = ?1")?
        .query_row(params![debit], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let credit_balance: i64 = tx
        .prepare_cached("SELECT balance FROM accounts WHERE account_id = ?1")?
        .query_row(params![credit], |row| row.get(0))?;
    // OMPP-MONEY-004: checked, never wrapped or saturated; nothing is booked on overflow.
    let new_debit = debit_balance
        .checked_sub(amount.minor_units())
        .ok_or(StoreError::AmountLimitExceeded)?;
    let new_credit = credit_balance
        .checked_add(amount.minor_units())
        .ok_or(StoreError::AmountLimitExceeded)?;
    // OMPP-LEDGER-002: no negative balance unless the account allows it.
    if new_debit < 0 && !allow_negative {
        return Err(StoreError::InsufficientFunds);
    }
    tx.prepare_cached("UPDATE accounts SET balance = ?1 WHERE account_id = ?2")?
        .execute(params![new_debit, debit])?;
    tx.prepare_cached("UPDATE accounts SET balance = ?1 WHERE account_id = ?2")?
        .execute(params![new_credit, credit])?;
    tx.prepare_cached("INSERT INTO transfers (transfer_id, debit_account, credit_account, currency, amount, payment_id, booked_at, debit_balance, credit_balance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?
.execute(params![
            transfer_id,
            debit,
            credit,
            amount.currency().code(),
            amount.minor_units(),
            payment_id,
            now.0,
            new_debit,
            new_credit
        ],)?;
    Ok((new_debit, new_credit))
}

fn encode_items(items: &[pb::LineItem]) -> Vec<u8> {
    // The items are stored as an encoded message holding only them.
    pb::Receipt {
        items: items.to_vec(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Books `record`'s amount from `debit` to `credit` as transfer `transfer_id`, at its
/// `updated_at`.
fn book_payment(
    tx: &Connection,
    record: &PaymentRecord,
    transfer_id: &str,
    debit: i64,
    credit: i64,
) -> Result<(i64, i64), StoreError> {
    transfer(
        tx,
        transfer_id,
        debit,
        credit,
        record.amount,
        Some(record.payment_id.as_str()),
        record.updated_at,
    )
}

/// Moves a confirmed payment's amount from the payer's wallet to the merchant's inside `tx`
/// and marks it settled; `InsufficientFunds` if the payer cannot cover it (nothing booked).
fn settle_in(tx: &Connection, record: &mut PaymentRecord) -> Result<(), StoreError> {
    let currency = record.amount.currency();
    let transfer_id = format!("T-{}", record.payment_id);
    let payer = record
        .customer_id
        .clone()
        .ok_or(StoreError::NotFound("payer"))?;
    // A customer without a wallet in that currency cannot cover the amount.
    let debit =
        account_id(tx, &Owner::Customer(payer), currency)?.ok_or(StoreError::InsufficientFunds)?;
    let credit = open_account(tx, &Owner::Merchant(record.merchant_id.clone()), currency)?;
    book_payment(tx, record, &transfer_id, debit, credit)?;
    record.state.mark_settled().map_err(corrupt)?;
    record.transfer_id = Some(transfer_id);
    record.settled_at = Some(record.updated_at);
    Ok(())
}

const PAYMENT_COLUMNS: &str = "payment_id, flow, merchant_id, customer_id, currency, amount, items, merchant_reference,
     status, created_at, expires_at, updated_at, attempts_left, failure_reason, transfer_id, settled_at,
     checkout_step, code_mac, code_issued_at, code_expires_at, token_digest";

fn payment_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<PaymentRecord, StoreError>> {
    let payment_id: String = row.get(0)?;
    let flow: i32 = row.get(1)?;
    let merchant_id: String = row.get(2)?;
    let customer_id: Option<String> = row.get(3)?;
    let currency: String = row.get(4)?;
    let amount: i64 = row.get(5)?;
    let items: Vec<u8> = row.get(6)?;
    let merchant_reference: String = row.get(7)?;
    let status: i32 = row.get(8)?;
    let created_at: i64 = row.get(9)?;
    let expires_at: i64 = row.get(10)?;
    let updated_at: i64 = row.get(11)?;
    let attempts_left: u32 = row.get(12)?;
    let failure_reason: Option<i32> = row.get(13)?;
    let transfer_id: Option<String> = row.get(14)?;
    let settled_at: Option<i64> = row.get(15)?;
    let checkout_step: Option<i32> = row.get(16)?;
    let code_mac: Option<Vec<u8>> = row.get(17)?;
    let code_issued_at: Option<i64> = row.get(18)?;
    let code_expires_at: Option<i64> = row.get(19)?;
    let token_digest: Option<Vec<u8>> = row.get(20)?;
    Ok((|| {
        let currency = Currency::from_code(&currency).map_err(corrupt)?;
        let status = pb::PaymentStatus::try_from(status).map_err(corrupt)?;
        let failure_reason = failure_reason
            .map(pb::ErrorReason::try_from)
            .transpose()
            .map_err(corrupt)?;
        let flow = pb::PaymentFlow::try_from(flow).map_err(corrupt)?;
        let state = if flow == pb::PaymentFlow::Checkout {
            let step =
                pb::CheckoutStep::try_from(checkout_step.unwrap_or_default()).map_err(corrupt)?;
            let code = match (code_mac, code_issued_at, code_expires_at) {
                (Some(mac), Some(issued), Some(expires)) => {
                    let mac: [u8; 32] = mac.try_into().map_err(|_| corrupt("code mac length"))?;
                    Some(StoredCode::restore(
                        mac,
                        UnixMillis(issued),
                        UnixMillis(expires),
                    ))
                }
                _ => None,
            };
            let token_digest = token_digest
                .map(|d| <[u8; 32]>::try_from(d).map_err(|_| corrupt("token digest length")))
                .transpose()?;
            PaymentState::Checkout(
                Checkout::restore(CheckoutParts {
                    status,
                    step,
                    created_at: UnixMillis(created_at),
                    expires_at: UnixMillis(expires_at),
                    failure_reason,
                    code_attempts_left: attempts_left,
                    code,
                    token_digest,
                })
                .map_err(corrupt)?,
            )
        } else {
            PaymentState::Push(
                PushPayment::restore(
                    status,
                    UnixMillis(created_at),
                    UnixMillis(expires_at),
                    attempts_left,
                    failure_reason,
                )
                .map_err(corrupt)?,
            )
        };
        Ok(PaymentRecord {
            payment_id: PaymentId::parse(&payment_id).map_err(corrupt)?,
            flow,
            merchant_id: MerchantId::parse(&merchant_id).map_err(corrupt)?,
            customer_id: customer_id
                .map(|c| CustomerId::parse(&c).map_err(corrupt))
                .transpose()?,
            amount: Amount::from_minor_units(currency, amount).map_err(corrupt)?,
            items: pb::Receipt::decode(items.as_slice())
                .map_err(corrupt)?
                .items,
            merchant_reference,
            state,
            updated_at: UnixMillis(updated_at),
            transfer_id,
            settled_at: settled_at.map(UnixMillis),
        })
    })())
}

fn load_payment(conn: &Connection, id: &str) -> Result<Option<PaymentRecord>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_id = ?1");
    conn.prepare_cached(&sql)?
        .query_row(params![id], payment_from_row)
        .optional()?
        .transpose()
}

fn load_payee_code(
    conn: &Connection,
    code_id: &str,
) -> Result<Option<PayeeCodeRecord>, StoreError> {
    type Row = (String, String, String, i64, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached("SELECT merchant_id, payload, key_id, expires_at, payment_id FROM payee_codes WHERE code_id = ?1")?
.query_row(params![code_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),)
        .optional()?;
    row.map(
        |(merchant_id, payload, key_id, expires_at_secs, payment_id)| {
            Ok(PayeeCodeRecord {
                code_id: code_id.to_owned(),
                merchant_id: MerchantId::parse(&merchant_id).map_err(corrupt)?,
                payload,
                key_id,
                expires_at_secs,
                payment_id: payment_id
                    .map(|p| PaymentId::parse(&p).map_err(corrupt))
                    .transpose()?,
            })
        },
    )
    .transpose()
}

fn save_payment(tx: &Connection, p: &PaymentRecord, insert: bool) -> Result<(), StoreError> {
    let checkout = p.state.checkout().map(Checkout::parts);
    // One placeholder per column, so the two lists cannot drift apart.
    let placeholders = (1..=PAYMENT_COLUMNS.split(',').count())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if insert { "INSERT" } else { "REPLACE" };
    let sql = format!("{verb} INTO payments ({PAYMENT_COLUMNS}) VALUES ({placeholders})");
    tx.prepare_cached(&sql)?.execute(params![
        p.payment_id.as_str(),
        i32::from(p.flow),
        p.merchant_id.as_str(),
        p.customer_id.as_ref().map(CustomerId::as_str),
        p.amount.currency().code(),
        p.amount.minor_units(),
        encode_items(&p.items),
        p.merchant_reference,
        i32::from(p.state.status()),
        p.state.created_at().0,
        p.state.expires_at().0,
        p.updated_at.0,
        p.state.attempts_left(),
        p.state.failure_reason().map(i32::from),
        p.transfer_id,
        p.settled_at.map(|t| t.0),
        checkout.as_ref().map(|c| i32::from(c.step)),
        checkout
            .as_ref()
            .and_then(|c| c.code.as_ref().map(|code| code.mac().to_vec())),
        checkout
            .as_ref()
            .and_then(|c| c.code.as_ref().map(|code| code.issued_at().0)),
        checkout
            .as_ref()
            .and_then(|c| c.code.as_ref().map(|code| code.expires_at().0)),
        checkout
            .as_ref()
            .and_then(|c| c.token_digest.map(|d| d.to_vec())),
    ])?;
    Ok(())
}

impl Store for SqliteStore {
    fn add_enrollment_token(
        &self,
        token: &str,
        merchant_id: &MerchantId,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO enrollment_tokens (token, merchant_id) VALUES (?1, ?2)",
            )?
            .execute(params![token, merchant_id.as_str()])?;
            Ok(())
        })
    }

    fn register_merchant(
        &self,
        token: &str,
        display_name: &str,
        bank: Option<&BankAccountRef>,
        currencies: &[Currency],
        idem: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<MerchantId>, StoreError> {
        self.write(|tx| {
        if let Some(id) = check_idempotency(tx, idem)? {
            return Ok(Created::Existing(MerchantId::parse(&id).map_err(corrupt)?));
        }
        let merchant_id: Option<String> = tx
            .prepare_cached("SELECT merchant_id FROM enrollment_tokens WHERE token = ?1 AND used_at IS NULL")?
.query_row(params![token],
                |row| row.get(0),)
            .optional()?;
        let merchant_id = merchant_id.ok_or(StoreError::EnrollmentRejected)?;
        let merchant_id = MerchantId::parse(&merchant_id).map_err(corrupt)?;
        tx.prepare_cached("UPDATE enrollment_tokens SET used_at = ?1 WHERE token = ?2")?
.execute(params![now.0, token],)?;
        let inserted = tx.prepare_cached("INSERT OR IGNORE INTO merchants (merchant_id, display_name, bank_id, account_number, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)")?
.execute(params![
                merchant_id.as_str(),
                display_name,
                bank.map(|b| b.bank_id.as_str().to_owned()),
                bank.map(|b| b.account_number.as_str().to_owned()),
                now.0
            ],)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists("merchant"));
        }
        for currency in currencies {
            open_account(tx, &Owner::Merchant(merchant_id.clone()), *currency)?;
        }
        record_idempotency(tx, idem, merchant_id.as_str())?;
        Ok(Created::New(merchant_id))
        })
    }

    fn upsert_merchant(
        &self,
        m: &MerchantRecord,
        currencies: &[Currency],
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO merchants (merchant_id, display_name, bank_id, account_number, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(merchant_id) DO UPDATE SET display_name = excluded.display_name,
                bank_id = excluded.bank_id, account_number = excluded.account_number")?
.execute(params![
                m.merchant_id.as_str(),
                m.display_name,
                m.bank_account
                    .as_ref()
                    .map(|b| b.bank_id.as_str().to_owned()),
                m.bank_account
                    .as_ref()
                    .map(|b| b.account_number.as_str().to_owned()),
                now.0
            ],)?;
            for currency in currencies {
                open_account(tx, &Owner::Merchant(m.merchant_id.clone()), *currency)?;
            }
            Ok(())
        })?;
        self.merchants.forget(&m.merchant_id);
        Ok(())
    }

    fn cached_merchant(&self, id: &MerchantId) -> Option<MerchantRecord> {
        self.merchants.get(id)
    }

    fn cached_customer(&self, id: &CustomerId) -> Option<CustomerRecord> {
        self.customers.get(id)
    }

    fn cached_device_customer(&self, device: &DeviceId) -> Option<CustomerId> {
        self.devices.get(device)
    }

    fn merchant(&self, id: &MerchantId) -> Result<Option<MerchantRecord>, StoreError> {
        if let Some(hit) = self.merchants.get(id) {
            return Ok(Some(hit));
        }
        let generation = self.merchants.generation();
        let found = self.read(|conn| {
        let row: Option<(String, Option<String>, Option<String>)> = conn
            .prepare_cached("SELECT display_name, bank_id, account_number FROM merchants WHERE merchant_id = ?1")?
.query_row(params![id.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),)
            .optional()?;
        row.map(|(display_name, bank_id, account)| {
            Ok(MerchantRecord {
                merchant_id: id.clone(),
                display_name,
                bank_account: bank_account(bank_id, account)?,
            })
        })
        .transpose()
        })?;
        if let Some(m) = &found {
            // Only what is durable enters the cache.
            settle_reads()?;
            self.merchants.put(generation, id.clone(), m.clone());
        }
        Ok(found)
    }

    fn register_customer(
        &self,
        c: &CustomerRecord,
        currencies: &[Currency],
        idem: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<CustomerId>, StoreError> {
        self.write(|tx| {
        if let Some(id) = check_idempotency(tx, idem)? {
            return Ok(Created::Existing(CustomerId::parse(&id).map_err(corrupt)?));
        }
        let taken: bool = tx.prepare_cached("SELECT EXISTS(SELECT 1 FROM customers WHERE phone_number = ?1)")?
.query_row(params![c.phone_number],
            |row| row.get(0),)?;
        if taken {
            return Err(StoreError::AlreadyExists("phone number"));
        }
        tx.prepare_cached("INSERT INTO customers (customer_id, display_name, phone_number, password_hash, bank_id, account_number, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
.execute(params![
                c.customer_id.as_str(),
                c.display_name,
                c.phone_number,
                c.password_hash,
                c.bank_account.as_ref().map(|b| b.bank_id.as_str().to_owned()),
                c.bank_account.as_ref().map(|b| b.account_number.as_str().to_owned()),
                now.0
            ],)?;
        for currency in currencies {
            open_account(tx, &Owner::Customer(c.customer_id.clone()), *currency)?;
        }
        record_idempotency(tx, idem, c.customer_id.as_str())?;
        Ok(Created::New(c.customer_id.clone()))
        })
    }

    fn customer(&self, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError> {
        if let Some(hit) = self.customers.get(id) {
            return Ok(Some(hit));
        }
        let found = self.read(|conn| {
        type Row = (String, String, String, Option<String>, Option<String>);
        let row: Option<Row> = conn
            .prepare_cached("SELECT display_name, phone_number, password_hash, bank_id, account_number FROM customers WHERE customer_id = ?1")?
.query_row(params![id.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),)
            .optional()?;
        row.map(
            |(display_name, phone_number, password_hash, bank_id, account)| {
                Ok(CustomerRecord {
                    customer_id: id.clone(),
                    display_name,
                    phone_number,
                    password_hash,
                    bank_account: bank_account(bank_id, account)?,
                })
            },
        )
        .transpose()
        })?;
        if let Some(c) = &found {
            settle_reads()?;
            // Customers never change once stored: no generation to check.
            self.customers
                .put(self.customers.generation(), id.clone(), c.clone());
        }
        Ok(found)
    }

    fn customer_by_phone(&self, phone: &str) -> Result<Option<CustomerRecord>, StoreError> {
        let id: Option<String> = self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT customer_id FROM customers WHERE phone_number = ?1")?
                .query_row(params![phone], |row| row.get(0))
                .optional()?)
        })?;
        match id {
            Some(id) => self.customer(&CustomerId::parse(&id).map_err(corrupt)?),
            None => Ok(None),
        }
    }

    fn processing_checkouts(&self) -> Result<Vec<PaymentId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT payment_id FROM payments WHERE flow = ?1 AND status = ?2",
            )?;
            let rows = stmt.query_map(
                params![
                    i32::from(pb::PaymentFlow::Checkout),
                    i32::from(pb::PaymentStatus::Confirmed)
                ],
                |row| row.get::<_, String>(0),
            )?;
            rows.map(|id| PaymentId::parse(&id?).map_err(corrupt))
                .collect()
        })
    }

    fn pair_device(
        &self,
        device_id: &DeviceId,
        customer_id: &CustomerId,
        device_name: &str,
        idem: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<DeviceId>, StoreError> {
        self.write(|tx| {
        if let Some(id) = check_idempotency(tx, idem)? {
            return Ok(Created::Existing(DeviceId::parse(&id).map_err(corrupt)?));
        }
        tx.prepare_cached("INSERT INTO devices (device_id, customer_id, device_name, created_at) VALUES (?1, ?2, ?3, ?4)")?
.execute(params![device_id.as_str(), customer_id.as_str(), device_name, now.0],)?;
        record_idempotency(tx, idem, device_id.as_str())?;
        Ok(Created::New(device_id.clone()))
        })
    }

    fn device_customer(&self, device: &DeviceId) -> Result<Option<CustomerId>, StoreError> {
        if let Some(hit) = self.devices.get(device) {
            return Ok(Some(hit));
        }
        let found = self.read(|conn| {
            let id: Option<String> = conn
                .prepare_cached("SELECT customer_id FROM devices WHERE device_id = ?1")?
                .query_row(params![device.as_str()], |row| row.get(0))
                .optional()?;
            id.map(|id| CustomerId::parse(&id).map_err(corrupt))
                .transpose()
        })?;
        if let Some(customer) = &found {
            settle_reads()?;
            // A pairing never changes once stored.
            self.devices
                .put(self.devices.generation(), device.clone(), customer.clone());
        }
        Ok(found)
    }

    fn customer_devices(&self, customer: &CustomerId) -> Result<Vec<DeviceId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT device_id FROM devices WHERE customer_id = ?1 ORDER BY created_at",
            )?;
            let ids = stmt.query_map(params![customer.as_str()], |row| row.get::<_, String>(0))?;
            ids.map(|id| DeviceId::parse(&id?).map_err(corrupt))
                .collect()
        })
    }

    fn create_payment(
        &self,
        p: &PaymentRecord,
        idem: &IdempotencyRecord,
    ) -> Result<Created<PaymentRecord>, StoreError> {
        self.write(|tx| {
            if let Some(id) = check_idempotency(tx, idem)? {
                let existing = load_payment(tx, &id)?.ok_or(StoreError::NotFound("payment"))?;
                return Ok(Created::Existing(existing));
            }
            save_payment(tx, p, true)?;
            record_idempotency(tx, idem, p.payment_id.as_str())?;
            Ok(Created::New(p.clone()))
        })
    }

    fn payment(&self, id: &PaymentId) -> Result<Option<PaymentRecord>, StoreError> {
        self.read(|conn| load_payment(conn, id.as_str()))
    }

    fn update_payment(
        &self,
        id: &PaymentId,
        idempotency: Option<&IdempotencyRecord>,
        change: &mut dyn FnMut(&mut PaymentRecord) -> Result<Settle, StoreError>,
    ) -> Result<PaymentRecord, StoreError> {
        self.write(|tx| {
            let mut record =
                load_payment(tx, id.as_str())?.ok_or(StoreError::NotFound("payment"))?;
            match change(&mut record)? {
                Settle::No => {}
                Settle::OrFail => match settle_in(tx, &mut record) {
                    Ok(()) => {}
                    Err(StoreError::InsufficientFunds) => record
                        .state
                        .mark_failed(pb::ErrorReason::InsufficientFunds)
                        .map_err(corrupt)?,
                    Err(other) => return Err(other),
                },
                // Dropping the transaction on error rolls everything back.
                Settle::OrAbort => settle_in(tx, &mut record)?,
            }
            if let (Some(idem), Some(_)) = (idempotency, &record.transfer_id) {
                record_idempotency(tx, idem, record.payment_id.as_str())?;
            }
            save_payment(tx, &record, false)?;
            Ok(record)
        })
    }

    fn create_settled_payment(
        &self,
        p: &PaymentRecord,
        idem: &IdempotencyRecord,
    ) -> Result<Created<PaymentRecord>, StoreError> {
        self.write(|tx| {
            if let Some(id) = check_idempotency(tx, idem)? {
                let existing = load_payment(tx, &id)?.ok_or(StoreError::NotFound("payment"))?;
                return Ok(Created::Existing(existing));
            }
            let mut record = p.clone();
            save_payment(tx, &record, true)?;
            settle_in(tx, &mut record)?;
            save_payment(tx, &record, false)?;
            record_idempotency(tx, idem, record.payment_id.as_str())?;
            Ok(Created::New(record))
        })
    }

    fn insert_payee_code(
        &self,
        code: &PayeeCodeRecord,
        payment: Option<&PaymentRecord>,
        idem: &IdempotencyRecord,
    ) -> Result<Created<PayeeCodeRecord>, StoreError> {
        self.write(|tx| {
        if let Some(id) = check_idempotency(tx, idem)? {
            let existing = load_payee_code(tx, &id)?.ok_or(StoreError::NotFound("payee code"))?;
            return Ok(Created::Existing(existing));
        }
        if let Some(payment) = payment {
            save_payment(tx, payment, true)?;
        }
        tx.prepare_cached("INSERT INTO payee_codes (code_id, merchant_id, payload, key_id, expires_at, payment_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
.execute(params![
                code.code_id,
                code.merchant_id.as_str(),
                code.payload,
                code.key_id,
                code.expires_at_secs,
                code.payment_id.as_ref().map(PaymentId::as_str)
            ],)?;
        record_idempotency(tx, idem, &code.code_id)?;
        Ok(Created::New(code.clone()))
        })
    }

    fn payee_code(&self, code_id: &str) -> Result<Option<PayeeCodeRecord>, StoreError> {
        self.read(|conn| load_payee_code(conn, code_id))
    }

    fn idempotent_result(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT request, result_id FROM idempotency WHERE scope = ?1 AND key = ?2",
                )?
                .query_row(params![scope, key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?)
        })
    }

    fn pending_payments(&self, customer: &CustomerId) -> Result<Vec<PaymentRecord>, StoreError> {
        self.read(|conn| {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE customer_id = ?1 AND status = ?2 AND flow = ?3 ORDER BY created_at"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                customer.as_str(),
                i32::from(pb::PaymentStatus::PendingCustomer),
                i32::from(pb::PaymentFlow::Push)
            ],
            payment_from_row,
        )?;
        rows.map(|r| r?).collect()
        })
    }

    fn due_payments(&self, now: UnixMillis) -> Result<Vec<PaymentId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT payment_id FROM payments WHERE status IN (?1, ?2) AND expires_at <= ?3",
            )?;
            let rows = stmt.query_map(
                params![
                    i32::from(pb::PaymentStatus::Created),
                    i32::from(pb::PaymentStatus::PendingCustomer),
                    now.0
                ],
                |row| row.get::<_, String>(0),
            )?;
            rows.map(|id| PaymentId::parse(&id?).map_err(corrupt))
                .collect()
        })
    }

    fn balances(&self, owner: &Owner) -> Result<Vec<Money>, StoreError> {
        self.read(|conn| {
        let (kind, id) = owner_key(owner);
        let mut stmt = conn.prepare_cached(
            "SELECT currency, balance FROM accounts WHERE owner_kind = ?1 AND owner_id = ?2 ORDER BY currency",
        )?;
        let rows = stmt.query_map(params![kind, id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        rows.map(|r| {
            let (currency, balance) = r?;
            Ok(Money::new(
                Currency::from_code(&currency).map_err(corrupt)?,
                balance,
            ))
        })
        .collect()
        })
    }

    fn top_up_overflows(&self, customer: &CustomerId, amount: Amount) -> Result<bool, StoreError> {
        self.read(|conn| {
            let balance = |owner: &Owner| -> Result<i64, StoreError> {
                let (kind, id) = owner_key(owner);
                Ok(conn
                    .prepare_cached(
                        "SELECT balance FROM accounts
                         WHERE owner_kind = ?1 AND owner_id = ?2 AND currency = ?3",
                    )?
                    .query_row(params![kind, id, amount.currency().code()], |row| {
                        row.get(0)
                    })
                    .optional()?
                    .unwrap_or(0))
            };
            let wallet = balance(&Owner::Customer(customer.clone()))?;
            let clearing = balance(&Owner::Operator)?;
            Ok(wallet.checked_add(amount.minor_units()).is_none()
                || clearing.checked_sub(amount.minor_units()).is_none())
        })
    }

    fn top_up_record(
        &self,
        device: &DeviceId,
        key: &str,
    ) -> Result<Option<TopUpRecord>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE device_id = ?1 AND key = ?2"
            ))?
            .query_row(params![device.as_str(), key], top_up_row)
            .optional()?
            .transpose()
        })
    }

    fn begin_top_up(
        &self,
        record: &TopUpRecord,
        now: UnixMillis,
    ) -> Result<Created<TopUpRecord>, StoreError> {
        self.write(|tx| {
            let existing = tx
                .prepare_cached(&format!(
                    "SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE device_id = ?1 AND key = ?2"
                ))?
                .query_row(params![record.device_id.as_str(), record.key], top_up_row)
                .optional()?
                .transpose()?;
            if let Some(existing) = existing {
                return Ok(Created::Existing(existing));
            }
            tx.prepare_cached(
                "INSERT INTO top_ups (device_id, key, digest, customer_id, currency, amount,
                                      transfer_id, request, booked, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
            )?
            .execute(params![
                record.device_id.as_str(),
                record.key,
                record.digest,
                record.customer_id.as_str(),
                record.amount.currency().code(),
                record.amount.minor_units(),
                record.transfer.transfer_id,
                record.transfer.encode_to_vec(),
                now.0,
            ])?;
            Ok(Created::New(record.clone()))
        })
    }

    fn forget_top_up(&self, transfer_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM top_ups WHERE transfer_id = ?1 AND booked = 0")?
                .execute(params![transfer_id])?;
            Ok(())
        })
    }

    fn pending_top_ups(&self, before: UnixMillis) -> Result<Vec<TopUpRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TOP_UP_COLUMNS} FROM top_ups WHERE booked = 0 AND created_at < ?1
                 ORDER BY created_at"
            ))?;
            let rows = stmt.query_map(params![before.0], top_up_row)?;
            rows.map(|row| row?).collect()
        })
    }

    fn top_up(
        &self,
        customer: &CustomerId,
        amount: Amount,
        transfer_id: &str,
        now: UnixMillis,
    ) -> Result<LedgerEntry, StoreError> {
        self.write(|tx| {
            let owner = Owner::Customer(customer.clone());
            let credit = account_id(tx, &owner, amount.currency())?
                .ok_or(StoreError::NotFound("wallet in that currency"))?;
            let debit = open_account(tx, &Owner::Operator, amount.currency())?;
            let (_, credit_balance) = transfer(tx, transfer_id, debit, credit, amount, None, now)?;
            tx.prepare_cached("UPDATE top_ups SET booked = 1 WHERE transfer_id = ?1")?
                .execute(params![transfer_id])?;
            // A repetition answers with the first booking (OMPP-IDEM-003).
            let booked_at: i64 = tx
                .prepare_cached("SELECT booked_at FROM transfers WHERE transfer_id = ?1")?
                .query_row(params![transfer_id], |row| row.get(0))?;
            Ok(LedgerEntry {
                transfer_id: transfer_id.to_owned(),
                payment_id: None,
                delta: amount.money(),
                balance_after: Money::new(amount.currency(), credit_balance),
                counterparty: "top-up".to_owned(),
                booked_at: UnixMillis(booked_at),
            })
        })
    }

    fn history(
        &self,
        owner: &Owner,
        currency: Option<Currency>,
        limit: u32,
        before: Option<UnixMillis>,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(|conn| {
        let (kind, id) = owner_key(owner);
        let mut stmt = conn.prepare_cached(
            "SELECT t.transfer_id, t.payment_id, t.currency, t.amount, t.booked_at,
                    CASE WHEN t.debit_account = a.account_id THEN -t.amount ELSE t.amount END,
                    CASE WHEN t.debit_account = a.account_id THEN t.debit_balance ELSE t.credit_balance END,
                    o.owner_kind, o.owner_id
             FROM accounts a
             JOIN transfers t ON t.debit_account = a.account_id OR t.credit_account = a.account_id
             JOIN accounts o ON o.account_id = CASE WHEN t.debit_account = a.account_id THEN t.credit_account ELSE t.debit_account END
             WHERE a.owner_kind = ?1 AND a.owner_id = ?2 AND (?3 IS NULL OR a.currency = ?3)
               AND (?4 IS NULL OR t.booked_at < ?4)
             ORDER BY t.booked_at DESC, t.rowid DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                kind,
                id,
                currency.map(Currency::code),
                before.map(|b| b.0),
                limit
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, Option<String>>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, String>(8)?,
                ))
            },
        )?;
        rows.map(|r| {
            let (transfer_id, payment_id, currency, booked_at, delta, after, other_kind, other_id) =
                r?;
            let currency = Currency::from_code(&currency).map_err(corrupt)?;
            Ok(LedgerEntry {
                transfer_id,
                payment_id,
                delta: Money::new(currency, delta),
                balance_after: Money::new(currency, after),
                counterparty: if other_kind == "operator" {
                    "top-up".to_owned()
                } else {
                    other_id
                },
                booked_at: UnixMillis(booked_at),
            })
        })
        .collect()
        })
    }

    fn total_balance(&self, currency: Currency) -> Result<i64, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE currency = ?1",
                )?
                .query_row(params![currency.code()], |row| row.get(0))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    fn tokens(store: &SqliteStore) -> Vec<String> {
        let batch = store.lock();
        let mut stmt = batch
            .conn
            .prepare("SELECT token FROM enrollment_tokens ORDER BY token")
            .expect("prepare");
        stmt.query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    /// Holds the leader role, so that writers join batch 1 and wait; returns once `done`
    /// says every writer has written.
    fn hold_commits_until(store: &SqliteStore, done: impl Fn(&[String]) -> bool) {
        let started = Instant::now();
        while !done(&tokens(store)) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "writers did not write"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn merchant() -> MerchantId {
        MerchantId::parse("M-1").expect("id")
    }

    #[test]
    fn concurrent_writes_share_one_commit_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        let store = Arc::new(SqliteStore::open(&path).expect("open"));
        let before = store.commits();
        store.lock_durable().leader = true;
        let writers: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store.add_enrollment_token(&format!("t{i}"), &merchant())
                })
            })
            .collect();
        hold_commits_until(&store, |t| t.len() == 10);
        // Nobody has been told yet: nothing was committed.
        assert_eq!(store.commits(), before);
        assert!(writers.iter().all(|w| !w.is_finished()));
        store.lock_durable().leader = false;
        store.wait_durable(1).expect("commit");
        for writer in writers {
            writer.join().expect("join").expect("write");
        }
        assert_eq!(store.commits(), before + 1, "one commit for ten writes");
        drop(store);
        let reopened = SqliteStore::open(&path).expect("reopen");
        assert_eq!(tokens(&reopened).len(), 10);
    }

    #[test]
    fn a_failed_write_undoes_only_itself() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        let store = Arc::new(SqliteStore::open(&path).expect("open"));
        let before = store.commits();
        store.lock_durable().leader = true;
        let failed_ran = Arc::new(AtomicBool::new(false));
        let write = |token: &'static str, fail: bool| {
            let (store, failed_ran) = (store.clone(), failed_ran.clone());
            std::thread::spawn(move || {
                store.write(|tx| {
                    tx.prepare_cached(
                        "INSERT INTO enrollment_tokens (token, merchant_id) VALUES (?1, 'M-1')",
                    )?
                    .execute(params![token])?;
                    if fail {
                        failed_ran.store(true, Ordering::SeqCst);
                        Err(StoreError::NotFound("on purpose"))
                    } else {
                        Ok(())
                    }
                })
            })
        };
        let (a, b, c) = (write("a", false), write("b", true), write("c", false));
        // The failing write rolls back before it releases the connection, so once it has run
        // and the others are visible, "b" must be gone.
        hold_commits_until(&store, |t| {
            failed_ran.load(Ordering::SeqCst) && t.len() == 2
        });
        assert_eq!(tokens(&store), ["a", "c"]);
        store.lock_durable().leader = false;
        store.wait_durable(1).expect("commit");
        assert!(a.join().expect("join").is_ok());
        assert!(matches!(
            b.join().expect("join"),
            Err(StoreError::NotFound("on purpose"))
        ));
        assert!(c.join().expect("join").is_ok());
        assert_eq!(store.commits(), before + 1, "all three in one batch");
        drop(store);
        let reopened = SqliteStore::open(&path).expect("reopen");
        assert_eq!(tokens(&reopened), ["a", "c"]);
    }

    #[test]
    fn a_read_of_uncommitted_writes_is_settled_before_it_is_used() {
        let store = Arc::new(SqliteStore::in_memory().expect("open"));
        store.lock_durable().leader = true;
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || store.add_enrollment_token("t", &merchant()))
        };
        hold_commits_until(&store, |t| t.len() == 1);
        let reader = {
            let store = store.clone();
            std::thread::spawn(move || {
                let read = store.idempotent_result("none", "none");
                // The read itself returns at once; settling waits for the commit.
                let settled = settle_reads();
                (read, settled)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished(), "settled before the commit");
        store.lock_durable().leader = false;
        store.wait_durable(1).expect("commit");
        assert!(writer.join().expect("join").is_ok());
        let (read, settled) = reader.join().expect("join");
        assert_eq!(read.expect("read"), None);
        assert!(settled.is_ok());
        // Nothing left to settle on a thread that read only durable data.
        assert!(store.idempotent_result("none", "none").is_ok());
        assert!(UNSETTLED.with(|u| u.borrow().is_none()));
    }

    /// OMPP-LEDGER-010/011: a top-up's key is bound before its transfer is sent, a rejection
    /// unbinds it, a completion is booked once, and a repeated booking answers the first entry.
    #[test]
    fn a_top_up_is_bound_then_booked_once_or_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("oc.sqlite3")).expect("open");
        let eur = Currency::from_code("EUR").expect("EUR");
        let customer = CustomerId::parse("C-1").expect("id");
        let idem = |key: &str| IdempotencyRecord {
            scope: "register_customer".into(),
            key: key.into(),
            digest: vec![1],
        };
        let record = CustomerRecord {
            customer_id: customer.clone(),
            display_name: "Ana".into(),
            phone_number: "+4915112345678".into(),
            password_hash: "$argon2id$stub".into(),
            bank_account: None,
        };
        store
            .register_customer(&record, &[eur], &idem("reg"), UnixMillis(1))
            .expect("register");
        let amount = Amount::from_minor_units(eur, 2_500).expect("amount");
        let top_up = |key: &str, transfer_id: &str| TopUpRecord {
            device_id: DeviceId::parse("D-1").expect("id"),
            key: key.into(),
            digest: vec![7],
            customer_id: customer.clone(),
            amount,
            transfer: pb::ExecuteTransferRequest {
                transfer_id: transfer_id.into(),
                ..pb::ExecuteTransferRequest::default()
            },
            booked: false,
        };

        // Bound once: a second begin under the key returns the first record.
        let first = top_up("k1", "tu_1");
        assert_eq!(
            store.begin_top_up(&first, UnixMillis(10)).expect("begin"),
            Created::New(first.clone())
        );
        assert_eq!(
            store
                .begin_top_up(&top_up("k1", "tu_other"), UnixMillis(11))
                .expect("begin again"),
            Created::Existing(first.clone())
        );
        assert_eq!(
            store.pending_top_ups(UnixMillis(11)).expect("pending"),
            vec![first.clone()]
        );
        // Only top-ups begun before the cut-off are offered to recovery.
        assert!(
            store
                .pending_top_ups(UnixMillis(10))
                .expect("pending")
                .is_empty()
        );

        // Booked once: the repetition answers the first entry, time included.
        let entry = store
            .top_up(&customer, amount, "tu_1", UnixMillis(20))
            .expect("book");
        let again = store
            .top_up(&customer, amount, "tu_1", UnixMillis(30))
            .expect("book again");
        assert_eq!(entry, again);
        assert_eq!(entry.booked_at, UnixMillis(20));
        assert_eq!(entry.balance_after, Money::new(eur, 2_500));
        let owner = Owner::Customer(customer.clone());
        assert_eq!(
            store.balances(&owner).expect("balances"),
            vec![Money::new(eur, 2_500)]
        );
        assert!(
            store
                .pending_top_ups(UnixMillis(99))
                .expect("pending")
                .is_empty()
        );
        // OMPP-MONEY-004: an overflowing booking is refused, and seen coming before the bank.
        let max = Amount::from_minor_units(eur, i64::MAX).expect("amount");
        assert!(store.top_up_overflows(&customer, max).expect("check"));
        assert!(!store.top_up_overflows(&customer, amount).expect("check"));
        assert!(matches!(
            store.top_up(&customer, max, "tu_big", UnixMillis(25)),
            Err(StoreError::AmountLimitExceeded)
        ));
        assert_eq!(
            store.balances(&owner).expect("balances"),
            vec![Money::new(eur, 2_500)]
        );
        // A booked top-up is never forgotten: its key stays bound.
        store.forget_top_up("tu_1").expect("forget");
        assert!(
            store
                .top_up_record(&first.device_id, "k1")
                .expect("read")
                .is_some_and(|r| r.booked)
        );

        // A rejected one is forgotten: its key is free again (OMPP-IDEM-006).
        let second = top_up("k2", "tu_2");
        store.begin_top_up(&second, UnixMillis(40)).expect("begin");
        store.forget_top_up("tu_2").expect("forget");
        assert_eq!(
            store.top_up_record(&second.device_id, "k2").expect("read"),
            None
        );
        assert_eq!(store.total_balance(eur).expect("total"), 0);
    }
}
