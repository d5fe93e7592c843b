-- OMPP reference bank processor: durable state. Amounts are integer minor units.
PRAGMA foreign_keys = ON;

-- Bookkeeping: `seeded` is set once the configured accounts were created (first start only).
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- The accounts this bank holds. Balances never go below zero (no overdrafts).
CREATE TABLE IF NOT EXISTS accounts (
    account_number   TEXT PRIMARY KEY,                 -- 1 to 34 characters of A-Z 0-9
    currency         TEXT NOT NULL,                    -- ISO 4217 alphabetic code
    opening_balance  INTEGER NOT NULL,                 -- balance when the account was created
    balance          INTEGER NOT NULL CHECK (balance >= 0),
    blocked          INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1))
);

-- Every transfer ever decided, with the request content it was decided for (idempotency,
-- OMPP-BANK-003/004). Never updated or deleted.
CREATE TABLE IF NOT EXISTS transfers (
    transfer_id      TEXT PRIMARY KEY,
    debit_bank_id    TEXT NOT NULL,
    debit_account    TEXT NOT NULL,
    credit_bank_id   TEXT NOT NULL,
    credit_account   TEXT NOT NULL,
    currency         TEXT NOT NULL,
    minor_units      INTEGER NOT NULL CHECK (minor_units > 0),
    remittance_info  TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('COMPLETED', 'REJECTED')),
    reject_reason    TEXT,                              -- ErrorReason wire name when REJECTED
    bank_reference   TEXT UNIQUE,                       -- set when COMPLETED
    decided_at       INTEGER NOT NULL,                  -- ms since epoch
    CHECK ((status = 'COMPLETED' AND reject_reason IS NULL AND bank_reference IS NOT NULL)
        OR (status = 'REJECTED' AND reject_reason IS NOT NULL AND bank_reference IS NULL))
);

-- The two legs of every completed transfer: balance = opening_balance + SUM(delta).
CREATE TABLE IF NOT EXISTS postings (
    transfer_id     TEXT NOT NULL REFERENCES transfers(transfer_id),
    account_number  TEXT NOT NULL REFERENCES accounts(account_number),
    delta           INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    PRIMARY KEY (transfer_id, account_number)
);
