-- OMPP reference SMS center: durable state (its own SQLite file, sms-center.sqlite3).
-- Times are milliseconds since the Unix epoch. Statuses and reasons are the proto enum names.

-- Every submitted message, kept after delivery or expiry so that its report stays available
-- and a retried submission is answered, not queued again (OMPP-SMS-002, OMPP-SMS-007).
CREATE TABLE IF NOT EXISTS sms_messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: oldest first on delivery
    message_id      TEXT NOT NULL UNIQUE,               -- chosen by the network server
    recipient       TEXT NOT NULL,                      -- E.164 phone number
    sender          TEXT NOT NULL,
    text            TEXT,                               -- NULL once delivered, expired or failed: it carries an authorization code
    validity_ms     INTEGER NOT NULL,
    content_sha256  BLOB NOT NULL,                      -- digest of recipient, sender, text, validity: the idempotency check
    submitted_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,                   -- submitted_at + validity_ms
    status          TEXT NOT NULL,                      -- DELIVERY_STATUS_*
    failure_reason  TEXT,                               -- ERROR_REASON_*, for EXPIRED and FAILED
    updated_at      INTEGER NOT NULL                    -- when status last changed
);
CREATE INDEX IF NOT EXISTS sms_messages_by_status ON sms_messages(status, expires_at);
CREATE INDEX IF NOT EXISTS sms_messages_by_recipient ON sms_messages(recipient, status, seq);

-- Handset registrations. A second registration for a number replaces the first
-- (OMPP-SMS-009): the old row stays, with replaced_at set, and no longer authenticates.
CREATE TABLE IF NOT EXISTS sms_handsets (
    handset_id    TEXT PRIMARY KEY,
    phone_number  TEXT NOT NULL,
    token_sha256  BLOB NOT NULL,                        -- SHA-256 of the token; the token itself is never stored
    registered_at INTEGER NOT NULL,
    replaced_at   INTEGER                               -- NULL while this is the number's current handset
);
CREATE UNIQUE INDEX IF NOT EXISTS sms_handsets_current
    ON sms_handsets(phone_number) WHERE replaced_at IS NULL;
CREATE INDEX IF NOT EXISTS sms_handsets_by_number ON sms_handsets(phone_number, registered_at);
