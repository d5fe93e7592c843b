-- OMPP reference operation center: durable state. Amounts are integer minor units.
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token        TEXT PRIMARY KEY,          -- single-use merchant enrollment token
    merchant_id  TEXT NOT NULL,             -- the merchant id it registers
    used_at      INTEGER                    -- ms since epoch; NULL while unused
);

CREATE TABLE IF NOT EXISTS merchants (
    merchant_id     TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    bank_id         TEXT,
    account_number  TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS customers (
    customer_id     TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    phone_number    TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,          -- argon2id PHC string; the password itself is never stored
    bank_id         TEXT,
    account_number  TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS devices (
    device_id    TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(customer_id),
    device_name  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_by_customer ON devices(customer_id);

-- Ledger accounts: wallets of customers and merchants, and the operator's float.
CREATE TABLE IF NOT EXISTS accounts (
    account_id      INTEGER PRIMARY KEY,
    owner_kind      TEXT NOT NULL,          -- 'customer' | 'merchant' | 'operator'
    owner_id        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    balance         INTEGER NOT NULL DEFAULT 0,
    allow_negative  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (owner_kind, owner_id, currency)
);

-- Every movement of value: one debit, one credit, same amount (debits equal credits).
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id      TEXT PRIMARY KEY,
    debit_account    INTEGER NOT NULL REFERENCES accounts(account_id),
    credit_account   INTEGER NOT NULL REFERENCES accounts(account_id),
    currency         TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    payment_id       TEXT,
    booked_at        INTEGER NOT NULL,
    debit_balance    INTEGER NOT NULL,      -- debit account's balance after the transfer
    credit_balance   INTEGER NOT NULL       -- credit account's balance after the transfer
);
CREATE INDEX IF NOT EXISTS transfers_by_debit ON transfers(debit_account, booked_at);
CREATE INDEX IF NOT EXISTS transfers_by_credit ON transfers(credit_account, booked_at);

CREATE TABLE IF NOT EXISTS payments (
    payment_id          TEXT PRIMARY KEY,
    flow                INTEGER NOT NULL,   -- ompp.v1.PaymentFlow
    merchant_id         TEXT NOT NULL REFERENCES merchants(merchant_id),
    customer_id         TEXT,               -- NULL until known (a dynamic payee code before a scan)
    currency            TEXT NOT NULL,
    amount              INTEGER NOT NULL CHECK (amount > 0),
    items               BLOB NOT NULL,      -- encoded repeated ompp.v1.LineItem (a Payment with only items)
    merchant_reference  TEXT NOT NULL,
    status              INTEGER NOT NULL,   -- ompp.v1.PaymentStatus
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    attempts_left       INTEGER NOT NULL,
    failure_reason      INTEGER,            -- ompp.v1.ErrorReason
    transfer_id         TEXT,
    settled_at          INTEGER,
    -- Flow C only (NULL otherwise): the checkout step, the current authorization code's keyed
    -- hash and validity, and the digest of the session token. Never the code itself.
    checkout_step       INTEGER,            -- ompp.v1.CheckoutStep
    code_mac            BLOB,
    code_issued_at      INTEGER,
    code_expires_at     INTEGER,
    token_digest        BLOB
);
CREATE INDEX IF NOT EXISTS payments_pending ON payments(customer_id, status);
-- The expiry sweeper (due_payments) and the transfer-recovery sweeper (processing_checkouts)
-- run every half second: without these they scan every payment ever stored.
CREATE INDEX IF NOT EXISTS payments_due ON payments(status, expires_at);
CREATE INDEX IF NOT EXISTS payments_by_flow_status ON payments(flow, status);

-- Payee codes issued (flow B). A dynamic code has a payment; a static one does not.
CREATE TABLE IF NOT EXISTS payee_codes (
    code_id      TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(merchant_id),
    payload      TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,          -- Unix seconds, as in the code
    payment_id   TEXT REFERENCES payments(payment_id)
);

-- Idempotency: the first request under a key and what it produced.
CREATE TABLE IF NOT EXISTS idempotency (
    scope       TEXT NOT NULL,              -- e.g. 'create_payment/M-1042'
    key         TEXT NOT NULL,
    request     BLOB NOT NULL,              -- the encoded request, compared byte for byte on retry
    result_id   TEXT NOT NULL,              -- the id of what the first request created
    PRIMARY KEY (scope, key)
);

-- Wallet top-ups whose bank transfer was sent (OMPP-LEDGER-010/011). The row binds the device's
-- key to one bank transfer while its outcome is unknown; a REJECTED transfer deletes it (the key
-- is unbound again, OMPP-IDEM-006); a COMPLETED one is booked in `transfers` under the same id.
CREATE TABLE IF NOT EXISTS top_ups (
    device_id    TEXT NOT NULL,             -- the idempotency scope (OMPP-IDEM-002)
    key          TEXT NOT NULL,
    digest       BLOB NOT NULL,             -- SHA-256 of the request without key and password
    customer_id  TEXT NOT NULL REFERENCES customers(customer_id),
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    transfer_id  TEXT NOT NULL UNIQUE,      -- the bank transfer's id, and the ledger transfer's
    request      BLOB NOT NULL,             -- the encoded ExecuteTransferRequest, resent as it was
    booked       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (device_id, key)
);
CREATE INDEX IF NOT EXISTS top_ups_pending ON top_ups(booked, created_at);
