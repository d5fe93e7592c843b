//! Durable state of the operation center, behind one narrow interface.
//!
//! [`Store`] is what the services use; [`sqlite::SqliteStore`] is the embedded default (WAL,
//! `synchronous=FULL`: a commit is on disk before the call returns). A PostgreSQL backend
//! implements the same trait. Methods are synchronous: services call them from
//! `tokio::task::spawn_blocking`.

pub mod cache;
pub mod sqlite;

use ompp::checkout::Checkout;
use ompp::error::ProtocolError;
use ompp::money::{Amount, Currency, Money};
use ompp::payment::PushPayment;
use ompp::proto::v1 as pb;
use ompp::types::{BankAccountRef, CustomerId, DeviceId, MerchantId, PaymentId, UnixMillis};

/// Why a store operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused with different content")]
    IdempotencyConflict,
    /// A row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// A unique value (phone number, id) is taken.
    #[error("already exists: {0}")]
    AlreadyExists(&'static str),
    /// The enrollment token is unknown or used.
    #[error("enrollment token unknown or used")]
    EnrollmentRejected,
    /// A debit would take an account below zero.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// A balance would leave the 64-bit range (OMPP-MONEY-004); nothing was booked.
    #[error("a balance would overflow")]
    AmountLimitExceeded,
    /// The database was made by another version of the schema.
    #[error(
        "database schema version {found}, this server needs {needed}; start with an empty data directory or migrate it"
    )]
    SchemaVersion {
        /// The version stamped in the database.
        found: i64,
        /// The version this server writes.
        needed: i64,
    },
    /// A stored row is inconsistent (a bug or tampering); never silently repaired.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Prepares an SQLite connection that holds durable state, the same way for every party: WAL
/// with `synchronous=FULL` (a committed transaction survives a crash or power loss), a busy
/// timeout, and the schema: a database stamped with another schema version is refused rather
/// than used, a new one gets `schema` and is stamped with `version`.
pub fn prepare_database(
    conn: &rusqlite::Connection,
    schema: &str,
    version: i64,
) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    if found != version && !(found == 0 && tables == 0) {
        return Err(StoreError::SchemaVersion {
            found,
            needed: version,
        });
    }
    conn.execute_batch(schema)?;
    conn.pragma_update(None, "user_version", version)?;
    Ok(())
}

/// Who owns a ledger account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A customer's wallet.
    Customer(CustomerId),
    /// A merchant's settlement wallet.
    Merchant(MerchantId),
    /// The operator's clearing account: the ledger's mirror of what the operator holds at the
    /// bank processor, credited there by every top-up's bank transfer (OMPP-LEDGER-010). It is
    /// the counter-account of top-ups and may go negative, so that value is only ever moved,
    /// never created (the sum over all accounts stays 0).
    Operator,
}

/// A registered merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRecord {
    /// Its id, also its certificate identity.
    pub merchant_id: MerchantId,
    /// Name shown to customers.
    pub display_name: String,
    /// Bank account for flow C.
    pub bank_account: Option<BankAccountRef>,
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Its id.
    pub customer_id: CustomerId,
    /// Name shown on receipts.
    pub display_name: String,
    /// E.164 number.
    pub phone_number: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Bank account for flow C.
    pub bank_account: Option<BankAccountRef>,
}

/// A payment as stored: what was asked, and the state machine's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Its id.
    pub payment_id: PaymentId,
    /// The flow.
    pub flow: pb::PaymentFlow,
    /// Payee.
    pub merchant_id: MerchantId,
    /// Payer; `None` until known (a dynamic payee code's payment before a scan).
    pub customer_id: Option<CustomerId>,
    /// Amount requested.
    pub amount: Amount,
    /// Line items as sent.
    pub items: Vec<pb::LineItem>,
    /// The merchant's reference.
    pub merchant_reference: String,
    /// Status, expiry, attempts, failure reason: the flow's state machine.
    pub state: PaymentState,
    /// Last status change.
    pub updated_at: UnixMillis,
    /// The ledger transfer that settled it.
    pub transfer_id: Option<String>,
    /// When it settled.
    pub settled_at: Option<UnixMillis>,
}

/// The state machine of a payment: flow A and B payments follow `PushPayment`, flow C
/// checkouts `Checkout`. The accessors are what every flow has in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// Flows A and B.
    Push(PushPayment),
    /// Flow C.
    Checkout(Checkout),
}

impl PaymentState {
    /// The payment's status.
    pub fn status(&self) -> pb::PaymentStatus {
        match self {
            Self::Push(p) => p.status(),
            Self::Checkout(c) => c.status(),
        }
    }

    /// When it was created.
    pub fn created_at(&self) -> UnixMillis {
        match self {
            Self::Push(p) => p.created_at(),
            Self::Checkout(c) => c.created_at(),
        }
    }

    /// When it expires if the customer does not act.
    pub fn expires_at(&self) -> UnixMillis {
        match self {
            Self::Push(p) => p.expires_at(),
            Self::Checkout(c) => c.expires_at(),
        }
    }

    /// Password attempts (flows A, B) or code entries (flow C) left.
    pub fn attempts_left(&self) -> u32 {
        match self {
            Self::Push(p) => p.attempts_left(),
            Self::Checkout(c) => c.code_attempts_left(),
        }
    }

    /// Why it ended, if it ended other than settled.
    pub fn failure_reason(&self) -> Option<pb::ErrorReason> {
        match self {
            Self::Push(p) => p.failure_reason(),
            Self::Checkout(c) => c.failure_reason(),
        }
    }

    /// Whether the status is final.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::Push(p) => p.is_terminal(),
            Self::Checkout(c) => c.is_terminal(),
        }
    }

    /// Expires it if its time has come; returns whether it changed.
    pub fn expire_if_due(&mut self, now: UnixMillis) -> bool {
        match self {
            Self::Push(p) => p.expire_if_due(now),
            Self::Checkout(c) => c.expire_if_due(now),
        }
    }

    /// The merchant cancels it.
    pub fn cancel(&mut self, now: UnixMillis) -> Result<(), ProtocolError> {
        match self {
            Self::Push(p) => p.cancel(now).map_err(ProtocolError::from),
            Self::Checkout(c) => c.cancel(now).map_err(ProtocolError::from),
        }
    }

    /// Settlement succeeded.
    pub fn mark_settled(&mut self) -> Result<(), ProtocolError> {
        match self {
            Self::Push(p) => p.mark_settled().map_err(ProtocolError::from),
            Self::Checkout(c) => c.mark_settled().map_err(ProtocolError::from),
        }
    }

    /// Settlement failed for `reason`.
    pub fn mark_failed(&mut self, reason: pb::ErrorReason) -> Result<(), ProtocolError> {
        match self {
            Self::Push(p) => p.mark_failed(reason).map_err(ProtocolError::from),
            Self::Checkout(c) => c.mark_failed(reason).map_err(ProtocolError::from),
        }
    }

    /// The flow A/B machine, if this is one.
    pub fn push_mut(&mut self) -> Option<&mut PushPayment> {
        match self {
            Self::Push(p) => Some(p),
            Self::Checkout(_) => None,
        }
    }

    /// The flow C machine, if this is one.
    pub fn checkout(&self) -> Option<&Checkout> {
        match self {
            Self::Checkout(c) => Some(c),
            Self::Push(_) => None,
        }
    }

    /// The flow C machine, mutably, if this is one.
    pub fn checkout_mut(&mut self) -> Option<&mut Checkout> {
        match self {
            Self::Checkout(c) => Some(c),
            Self::Push(_) => None,
        }
    }
}

/// An issued payee code, as the network server remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayeeCodeRecord {
    /// Its id (template 26, sub-tag 02).
    pub code_id: String,
    /// The payee.
    pub merchant_id: MerchantId,
    /// The payload as issued.
    pub payload: String,
    /// The key id it was signed with.
    pub key_id: String,
    /// Expiry, Unix seconds.
    pub expires_at_secs: i64,
    /// For a dynamic code, its payment.
    pub payment_id: Option<PaymentId>,
}

/// A wallet history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The transfer.
    pub transfer_id: String,
    /// Its payment, if any.
    pub payment_id: Option<String>,
    /// Signed change to the account.
    pub delta: Money,
    /// Balance after.
    pub balance_after: Money,
    /// The other account's owner, for display.
    pub counterparty: String,
    /// When booked.
    pub booked_at: UnixMillis,
}

/// The idempotency record of a request: scope (operation and caller), key, and a digest of the
/// request without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Operation and caller, e.g. `create_payment/M-1042`.
    pub scope: String,
    /// The caller's key.
    pub key: String,
    /// SHA-256 of the request with secret fields blanked.
    pub digest: Vec<u8>,
}

/// A wallet top-up whose bank transfer was sent (OMPP-LEDGER-010/011): the device's key stays
/// bound to this one transfer until the bank's outcome is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopUpRecord {
    /// The device that asked: the key's scope (OMPP-IDEM-002).
    pub device_id: DeviceId,
    /// The device's idempotency key.
    pub key: String,
    /// SHA-256 of the request with key and password blanked (OMPP-IDEM-005).
    pub digest: Vec<u8>,
    /// The wallet's owner.
    pub customer_id: CustomerId,
    /// The amount, debited at the bank and credited to the wallet.
    pub amount: Amount,
    /// The bank transfer exactly as first sent; its `transfer_id` is the ledger transfer's id.
    pub transfer: pb::ExecuteTransferRequest,
    /// Whether the completed transfer is booked in the ledger.
    pub booked: bool,
}

/// What creating something under an idempotency key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    /// The first request: created now.
    New(T),
    /// A retry: what the first request created.
    Existing(T),
}

impl<T> Created<T> {
    /// The value, new or existing.
    pub fn into_inner(self) -> T {
        match self {
            Created::New(t) | Created::Existing(t) => t,
        }
    }
}

/// The operation center's storage interface.
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Makes `token` redeemable once, to register `merchant_id`.
    fn add_enrollment_token(&self, token: &str, merchant_id: &MerchantId)
    -> Result<(), StoreError>;
    /// Redeems `token` and registers the merchant it names with settlement wallets in
    /// `currencies`, atomically. Idempotent by `idempotency`.
    fn register_merchant(
        &self,
        token: &str,
        display_name: &str,
        bank_account: Option<&BankAccountRef>,
        currencies: &[Currency],
        idempotency: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<MerchantId>, StoreError>;
    /// Registers a merchant directly (operator provisioning, e.g. the sample merchant).
    fn upsert_merchant(
        &self,
        merchant: &MerchantRecord,
        currencies: &[Currency],
        now: UnixMillis,
    ) -> Result<(), StoreError>;
    /// A merchant by id.
    fn merchant(&self, id: &MerchantId) -> Result<Option<MerchantRecord>, StoreError>;
    /// The merchant if the store holds it in memory: no I/O, so callable on the async runtime;
    /// `None` means "ask [`Store::merchant`]".
    fn cached_merchant(&self, _id: &MerchantId) -> Option<MerchantRecord> {
        None
    }
    /// Like [`Store::cached_merchant`], for [`Store::customer`].
    fn cached_customer(&self, _id: &CustomerId) -> Option<CustomerRecord> {
        None
    }
    /// Like [`Store::cached_merchant`], for [`Store::device_customer`].
    fn cached_device_customer(&self, _device: &DeviceId) -> Option<CustomerId> {
        None
    }
    /// Registers a customer with wallets in `currencies`. Idempotent by `idempotency`.
    fn register_customer(
        &self,
        customer: &CustomerRecord,
        currencies: &[Currency],
        idempotency: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<CustomerId>, StoreError>;
    /// A customer by id.
    fn customer(&self, id: &CustomerId) -> Result<Option<CustomerRecord>, StoreError>;
    /// A customer by registered phone number (the online identity of flow C).
    fn customer_by_phone(&self, phone: &str) -> Result<Option<CustomerRecord>, StoreError>;
    /// Checkouts whose bank transfer outcome is not known yet (status `CONFIRMED`).
    fn processing_checkouts(&self) -> Result<Vec<PaymentId>, StoreError>;
    /// Pairs a device. Idempotent by `idempotency`.
    fn pair_device(
        &self,
        device_id: &DeviceId,
        customer_id: &CustomerId,
        device_name: &str,
        idempotency: &IdempotencyRecord,
        now: UnixMillis,
    ) -> Result<Created<DeviceId>, StoreError>;
    /// The customer a device is paired with.
    fn device_customer(&self, device: &DeviceId) -> Result<Option<CustomerId>, StoreError>;
    /// A customer's paired devices.
    fn customer_devices(&self, customer: &CustomerId) -> Result<Vec<DeviceId>, StoreError>;
    /// Stores a new payment, or returns the one created earlier under the same key.
    fn create_payment(
        &self,
        payment: &PaymentRecord,
        idempotency: &IdempotencyRecord,
    ) -> Result<Created<PaymentRecord>, StoreError>;
    /// A payment by id.
    fn payment(&self, id: &PaymentId) -> Result<Option<PaymentRecord>, StoreError>;
    /// Runs `change` on a payment inside one transaction; the changed record is saved if
    /// `change` returns `Ok`, and nothing is saved otherwise. If `settle` is set on success,
    /// the payment's amount moves from the customer's wallet to the merchant's in the same
    /// transaction (`InsufficientFunds` aborts it all).
    /// With `idempotency`, the key is recorded in the same transaction when the payment
    /// settles, so that a retry of the settling request finds its first outcome.
    fn update_payment(
        &self,
        id: &PaymentId,
        idempotency: Option<&IdempotencyRecord>,
        change: &mut dyn FnMut(&mut PaymentRecord) -> Result<Settle, StoreError>,
    ) -> Result<PaymentRecord, StoreError>;
    /// Stores a new payment and settles it in one transaction, recording the idempotency key
    /// with it; if the payer cannot cover it, nothing is stored (`InsufficientFunds`). A retry
    /// under the same key returns the first payment.
    fn create_settled_payment(
        &self,
        payment: &PaymentRecord,
        idempotency: &IdempotencyRecord,
    ) -> Result<Created<PaymentRecord>, StoreError>;
    /// Records an issued payee code (and, for a dynamic one, its payment). Idempotent.
    fn insert_payee_code(
        &self,
        code: &PayeeCodeRecord,
        payment: Option<&PaymentRecord>,
        idempotency: &IdempotencyRecord,
    ) -> Result<Created<PayeeCodeRecord>, StoreError>;
    /// A payee code by id.
    fn payee_code(&self, code_id: &str) -> Result<Option<PayeeCodeRecord>, StoreError>;
    /// The payment an idempotency key produced, if the key was used in `scope`.
    fn idempotent_result(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError>;
    /// Flow A payments of a customer that are waiting for the customer, oldest first.
    fn pending_payments(&self, customer: &CustomerId) -> Result<Vec<PaymentRecord>, StoreError>;
    /// Payments not terminal and not confirmed whose expiry is at or before `now`.
    fn due_payments(&self, now: UnixMillis) -> Result<Vec<PaymentId>, StoreError>;
    /// An owner's balances, one per account.
    fn balances(&self, owner: &Owner) -> Result<Vec<Money>, StoreError>;
    /// Whether booking a top-up of `amount` would overflow the customer's wallet or the
    /// operator's clearing account (OMPP-MONEY-004): asked before the bank is.
    fn top_up_overflows(&self, customer: &CustomerId, amount: Amount) -> Result<bool, StoreError>;
    /// The top-up a device's key is bound to, if any.
    fn top_up_record(
        &self,
        device: &DeviceId,
        key: &str,
    ) -> Result<Option<TopUpRecord>, StoreError>;
    /// Binds the record's key to its bank transfer before the transfer is sent, or returns the
    /// record the key is already bound to.
    fn begin_top_up(
        &self,
        record: &TopUpRecord,
        now: UnixMillis,
    ) -> Result<Created<TopUpRecord>, StoreError>;
    /// Unbinds the key of a top-up whose bank transfer was rejected (OMPP-IDEM-006); a booked
    /// top-up is never removed.
    fn forget_top_up(&self, transfer_id: &str) -> Result<(), StoreError>;
    /// Top-ups begun before `before` whose bank transfer's outcome is not known yet.
    fn pending_top_ups(&self, before: UnixMillis) -> Result<Vec<TopUpRecord>, StoreError>;
    /// Books a completed top-up: moves `amount` from the operator's clearing account into the
    /// customer's wallet, and marks the top-up with `transfer_id` (if any) booked, in one
    /// transaction. Idempotent by `transfer_id`: a repetition returns the first entry.
    fn top_up(
        &self,
        customer: &CustomerId,
        amount: Amount,
        transfer_id: &str,
        now: UnixMillis,
    ) -> Result<LedgerEntry, StoreError>;
    /// An owner's ledger entries in `currency`, newest first.
    fn history(
        &self,
        owner: &Owner,
        currency: Option<Currency>,
        limit: u32,
        before: Option<UnixMillis>,
    ) -> Result<Vec<LedgerEntry>, StoreError>;
    /// The sum of all balances in `currency` (zero when value is conserved).
    fn total_balance(&self, currency: Currency) -> Result<i64, StoreError>;
}

/// Whether a payment update should also settle it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Save the record only.
    No,
    /// Save it and move the money, recording `transfer_id` and `settled_at`; if the payer
    /// cannot cover it, save the payment as `FAILED` with `INSUFFICIENT_FUNDS` (flow A).
    OrFail,
    /// Move the money and save, or, if the payer cannot cover it, save nothing and fail with
    /// `InsufficientFunds` (flow B: a failed submission changes nothing, OMPP-FLB-009).
    OrAbort,
}
