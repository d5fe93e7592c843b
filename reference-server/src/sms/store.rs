//! The SMS center's durable state: its own SQLite database in WAL mode with `synchronous=FULL`,
//! one connection behind a mutex, one transaction per operation (OMPP-SMS-003).
//!
//! Expiry is applied inside every transaction before anything is read, so a message past its
//! validity is never delivered and never reported `QUEUED`, whether or not the sweeper has run
//! (OMPP-SMS-005, OMPP-SMS-006).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use ompp::proto::v1 as pb;
use ompp::requests::sms::SubmitMessage;
use ompp::types::{HandsetId, PhoneNumber, SmsMessageId, UnixMillis};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// Version of `schema.sql`, stamped into the database (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const QUEUED: &str = "DELIVERY_STATUS_QUEUED";
const DELIVERED: &str = "DELIVERY_STATUS_DELIVERED";
const EXPIRED: &str = "DELIVERY_STATUS_EXPIRED";
const FAILED: &str = "DELIVERY_STATUS_FAILED";
const SMS_UNDELIVERABLE: &str = "ERROR_REASON_SMS_UNDELIVERABLE";
const UNKNOWN_HANDSET: &str = "ERROR_REASON_UNKNOWN_HANDSET";

/// A message's delivery report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) message_id: String,
    pub(crate) status: pb::DeliveryStatus,
    pub(crate) updated_at: UnixMillis,
    pub(crate) failure_reason: pb::ErrorReason,
}

impl Report {
    pub(crate) fn to_proto(&self) -> pb::DeliveryReport {
        pb::DeliveryReport {
            message_id: self.message_id.clone(),
            status: self.status.into(),
            updated_at: Some(self.updated_at.to_proto()),
            failure_reason: self.failure_reason.into(),
        }
    }
}

/// A queued message on its way to a handset. `Debug` leaves the text out.
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) message_id: String,
    pub(crate) sender: String,
    pub(crate) text: String,
    pub(crate) submitted_at: UnixMillis,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("message_id", &self.message_id)
            .field("submitted_at", &self.submitted_at)
            .finish_non_exhaustive()
    }
}

impl Outgoing {
    pub(crate) fn to_proto(&self) -> pb::ReceiveMessagesResponse {
        pb::ReceiveMessagesResponse {
            message_id: self.message_id.clone(),
            sender: self.sender.clone(),
            text: self.text.clone(),
            submitted_at: Some(self.submitted_at.to_proto()),
        }
    }
}

/// The outcome of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Submitted {
    /// Stored now, `QUEUED`.
    New(Report),
    /// Submitted before with the same content: its current report (OMPP-SMS-002).
    Retry(Report),
}

/// The outcome of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Acknowledged {
    /// Unknown handset id, replaced registration, or wrong token.
    UnknownHandset,
    /// No message with that id addressed to the handset's number.
    NotFound,
    /// The message is `DELIVERED`; `now` says whether this acknowledgement made it so.
    Delivered { report: Report, now: bool },
    /// The message expired or failed before it was acknowledged.
    Ended(Report),
}

/// A message that the expiry step just ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ended {
    pub(crate) message_id: String,
    pub(crate) recipient: String,
    pub(crate) status: String,
}

/// An authenticated handset's stream contents: its number and its backlog, oldest first.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) phone: String,
    pub(crate) backlog: Vec<Outgoing>,
}

/// The SMS center's SQLite store.
#[derive(Debug)]
pub(crate) struct SmsStore {
    conn: Mutex<Connection>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// SHA-256 of a handset token; only this is stored.
pub(crate) fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two digests without an early exit.
fn same_digest(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Digest of what makes two submissions "the same content" (OMPP-SMS-002). Each field is
/// length-prefixed so that no two different submissions share an encoding.
fn content_digest(message: &SubmitMessage) -> Vec<u8> {
    let mut hash = Sha256::new();
    for field in [
        message.recipient.as_str(),
        message.sender.as_str(),
        message.text.as_str(),
    ] {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    hash.update(millis(message.validity).to_be_bytes());
    hash.finalize().to_vec()
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn status_of(name: &str) -> Result<pb::DeliveryStatus, StoreError> {
    pb::DeliveryStatus::from_str_name(name).ok_or_else(|| corrupt(format!("status {name:?}")))
}

fn reason_of(name: Option<&str>) -> Result<pb::ErrorReason, StoreError> {
    match name {
        None => Ok(pb::ErrorReason::Unspecified),
        Some(name) => pb::ErrorReason::from_str_name(name)
            .ok_or_else(|| corrupt(format!("failure reason {name:?}"))),
    }
}

/// Ends every `QUEUED` message whose validity is over: `EXPIRED` with `SMS_UNDELIVERABLE` when a
/// handset was registered for the number by then (OMPP-SMS-005), otherwise `FAILED` with
/// `UNKNOWN_HANDSET` (OMPP-SMS-006). The report's time is the end of validity. The text is
/// dropped: it will never be delivered.
fn expire(tx: &Transaction<'_>, now: UnixMillis) -> Result<Vec<Ended>, StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE sms_messages SET
             status = CASE WHEN EXISTS (
                 SELECT 1 FROM sms_handsets h
                 WHERE h.phone_number = sms_messages.recipient
                   AND h.registered_at <= sms_messages.expires_at
             ) THEN ?2 ELSE ?3 END,
             failure_reason = CASE WHEN EXISTS (
                 SELECT 1 FROM sms_handsets h
                 WHERE h.phone_number = sms_messages.recipient
                   AND h.registered_at <= sms_messages.expires_at
             ) THEN ?4 ELSE ?5 END,
             updated_at = expires_at,
             text = NULL
         WHERE status = ?6 AND expires_at <= ?1
         RETURNING message_id, recipient, status",
    )?;
    let rows = stmt.query_map(
        params![
            now.0,
            EXPIRED,
            FAILED,
            SMS_UNDELIVERABLE,
            UNKNOWN_HANDSET,
            QUEUED
        ],
        |row| {
            Ok(Ended {
                message_id: row.get(0)?,
                recipient: row.get(1)?,
                status: row.get(2)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// The stored row of a message: its report and its recipient.
fn read_message(
    tx: &Transaction<'_>,
    message_id: &str,
) -> Result<Option<(Report, String)>, StoreError> {
    let row: Option<(String, i64, Option<String>, String)> = tx
        .query_row(
            "SELECT status, updated_at, failure_reason, recipient
             FROM sms_messages WHERE message_id = ?1",
            params![message_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .optional()?;
    row.map(|(status, updated_at, reason, recipient)| {
        Ok((
            Report {
                message_id: message_id.to_owned(),
                status: status_of(&status)?,
                updated_at: UnixMillis(updated_at),
                failure_reason: reason_of(reason.as_deref())?,
            },
            recipient,
        ))
    })
    .transpose()
}

/// The phone number of `handset_id` if it is a current registration and `token_sha256` is its
/// token's digest (OMPP-SMS-009, OMPP-SMS-010).
fn authenticate(
    tx: &Transaction<'_>,
    handset_id: &HandsetId,
    token_sha256: &[u8],
) -> Result<Option<String>, StoreError> {
    let row: Option<(String, Vec<u8>)> = tx
        .query_row(
            "SELECT phone_number, token_sha256 FROM sms_handsets
             WHERE handset_id = ?1 AND replaced_at IS NULL",
            params![handset_id.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(phone, digest)| same_digest(&digest, token_sha256).then_some(phone)))
}

impl SmsStore {
    /// Opens (creating if needed) the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // A message is on disk before SubmitMessage answers (OMPP-SMS-003).
        crate::store::prepare_database(&conn, include_str!("schema.sql"), SCHEMA_VERSION)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock rolls its transaction back on drop: still usable.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores `message` as `QUEUED`, or answers a retry with the current report; other content
    /// under a used id is `IdempotencyConflict` (OMPP-SMS-002, OMPP-SMS-003).
    pub(crate) fn submit(
        &self,
        message: &SubmitMessage,
        now: UnixMillis,
    ) -> Result<(Submitted, Vec<Ended>), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ended = expire(&tx, now)?;
        let digest = content_digest(message);
        let id = message.message_id.as_str();
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT content_sha256 FROM sms_messages WHERE message_id = ?1",
                params![id],
                |row| row.get(0),
            )
            .optional()?;
        let outcome = match existing {
            Some(stored) if same_digest(&stored, &digest) => {
                let (report, _) = read_message(&tx, id)?.ok_or(StoreError::NotFound("message"))?;
                Submitted::Retry(report)
            }
            Some(_) => return Err(StoreError::IdempotencyConflict),
            None => {
                let validity = millis(message.validity);
                tx.execute(
                    "INSERT INTO sms_messages (message_id, recipient, sender, text, validity_ms,
                         content_sha256, submitted_at, expires_at, status, failure_reason,
                         updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?7)",
                    params![
                        id,
                        message.recipient.as_str(),
                        message.sender.as_str(),
                        message.text.as_str(),
                        validity,
                        digest,
                        now.0,
                        now.0.saturating_add(validity),
                        QUEUED,
                    ],
                )?;
                Submitted::New(Report {
                    message_id: id.to_owned(),
                    status: pb::DeliveryStatus::Queued,
                    updated_at: now,
                    failure_reason: pb::ErrorReason::Unspecified,
                })
            }
        };
        tx.commit()?;
        Ok((outcome, ended))
    }

    /// The current report of `message_id` (OMPP-SMS-007).
    pub(crate) fn report(
        &self,
        message_id: &SmsMessageId,
        now: UnixMillis,
    ) -> Result<(Option<Report>, Vec<Ended>), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ended = expire(&tx, now)?;
        let report = read_message(&tx, message_id.as_str())?.map(|(report, _)| report);
        tx.commit()?;
        Ok((report, ended))
    }

    /// Registers `handset_id` with the digest of its token as the current handset of `phone`,
    /// replacing any earlier one (OMPP-SMS-008, OMPP-SMS-009) unless `replace` is false (only
    /// a broken variant of the conformance suite's own tests). Returns the replaced ids.
    pub(crate) fn register(
        &self,
        handset_id: &HandsetId,
        phone: &PhoneNumber,
        token_sha256: &[u8],
        now: UnixMillis,
        replace: bool,
    ) -> Result<Vec<String>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let replaced = if !replace {
            Vec::new()
        } else {
            let mut stmt = tx.prepare_cached(
                "UPDATE sms_handsets SET replaced_at = ?2
                 WHERE phone_number = ?1 AND replaced_at IS NULL
                 RETURNING handset_id",
            )?;
            let rows = stmt.query_map(params![phone.as_str(), now.0], |row| row.get(0))?;
            rows.collect::<Result<Vec<String>, _>>()?
        };
        tx.execute(
            "INSERT INTO sms_handsets (handset_id, phone_number, token_sha256, registered_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![handset_id.as_str(), phone.as_str(), token_sha256, now.0],
        )?;
        tx.commit()?;
        Ok(replaced)
    }

    /// For an authenticated handset: its number and every message addressed to it that is
    /// `QUEUED` and within its validity, oldest first (OMPP-SMS-004). `None`: unknown handset.
    pub(crate) fn open_stream(
        &self,
        handset_id: &HandsetId,
        token_sha256: &[u8],
        now: UnixMillis,
    ) -> Result<(Option<Opened>, Vec<Ended>), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ended = expire(&tx, now)?;
        let Some(phone) = authenticate(&tx, handset_id, token_sha256)? else {
            tx.commit()?;
            return Ok((None, ended));
        };
        let queued = {
            let mut stmt = tx.prepare_cached(
                "SELECT message_id, sender, text, submitted_at FROM sms_messages
                 WHERE recipient = ?1 AND status = ?2 AND expires_at > ?3
                 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![phone, QUEUED, now.0], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?;
            let mut queued = Vec::new();
            for row in rows {
                let (message_id, sender, text, submitted_at) = row?;
                let text = text.ok_or_else(|| corrupt("queued message without text"))?;
                queued.push(Outgoing {
                    message_id,
                    sender,
                    text,
                    submitted_at: UnixMillis(submitted_at),
                });
            }
            queued
        };
        tx.commit()?;
        Ok((
            Some(Opened {
                phone,
                backlog: queued,
            }),
            ended,
        ))
    }

    /// Acknowledges `message_id` for an authenticated handset: `QUEUED` becomes `DELIVERED`; a
    /// `DELIVERED` message gives the same report again (OMPP-SMS-010, OMPP-SMS-011).
    pub(crate) fn acknowledge(
        &self,
        handset_id: &HandsetId,
        token_sha256: &[u8],
        message_id: &SmsMessageId,
        now: UnixMillis,
    ) -> Result<(Acknowledged, Vec<Ended>), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ended = expire(&tx, now)?;
        let outcome = match authenticate(&tx, handset_id, token_sha256)? {
            None => Acknowledged::UnknownHandset,
            Some(phone) => match read_message(&tx, message_id.as_str())? {
                Some((report, recipient)) if recipient == phone => match report.status {
                    pb::DeliveryStatus::Queued => {
                        // The report's time must move even within the same millisecond.
                        let updated_at = UnixMillis(now.0.max(report.updated_at.0 + 1));
                        tx.execute(
                            "UPDATE sms_messages SET status = ?2, updated_at = ?3, text = NULL
                             WHERE message_id = ?1",
                            params![message_id.as_str(), DELIVERED, updated_at.0],
                        )?;
                        Acknowledged::Delivered {
                            report: Report {
                                status: pb::DeliveryStatus::Delivered,
                                updated_at,
                                ..report
                            },
                            now: true,
                        }
                    }
                    pb::DeliveryStatus::Delivered => Acknowledged::Delivered { report, now: false },
                    _ => Acknowledged::Ended(report),
                },
                _ => Acknowledged::NotFound,
            },
        };
        tx.commit()?;
        Ok((outcome, ended))
    }

    /// Ends every message whose validity is over (the sweeper).
    pub(crate) fn expire_due(&self, now: UnixMillis) -> Result<Vec<Ended>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let ended = expire(&tx, now)?;
        tx.commit()?;
        Ok(ended)
    }
}
