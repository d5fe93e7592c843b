//! Live-target fuzz mode: `ompp-conformance fuzz`.
//!
//! The fuzzer sends mutated protobuf encodings (and some purely random byte strings) to every
//! unary public method of an operation center, over the suite's real mutual-TLS channels: the
//! merchant certificate for `MerchantPaymentService`, a paired device's certificate for
//! `DeviceService`, no client certificate for `RegistrationService` and `GatewayService`. The
//! bytes go out through a raw codec ([`RawCodec`]), so anything can be sent to any method path.
//!
//! # Inputs
//!
//! For every method the fuzzer builds a few valid requests from fixtures it provisions through
//! the system's own RPCs (customers with topped-up wallets, pending payments, an issued payee
//! code, an open checkout), encodes them with prost and mutates them with a seeded RNG
//! ([`Mutator`]): bit flips, byte insertion and deletion, truncation, a duplicated field,
//! splices of two seeds, random varint fields, over-long lengths, unknown field numbers,
//! mutations inside nested messages, and repeated fields grown to 70-100 KiB (beyond the
//! 64 KiB limit of OMPP-MSG-010). Methods are visited round-robin. The fixtures and seeds are
//! rebuilt at every periodic check, so that fresh pending payments keep being reachable.
//!
//! # Oracle
//!
//! Every call has a 10 s deadline. An OK answer passes. An error passes only when it is a
//! well-formed OMPP status ([`ProtocolError::from_status`]: the `ompp.v1` domain, a catalogued
//! reason, the catalogue's gRPC code). Anything else is a failure: a status without `ErrorInfo`
//! (including whatever the gRPC library answers by itself), a wrong code, a transport error, a
//! timeout. A request larger than 64 KiB on the wire must be rejected with `MESSAGE_TOO_LARGE`
//! (OMPP-MSG-010), whatever else is wrong with it. Each failure is classed by method, kind and
//! whether the bytes sent were a valid encoding of the request message (decided by the suite
//! from the bytes, never from the status message); the first [`EXAMPLES`] inputs of each class
//! are saved. After a transport error or a timeout the channel is rebuilt. Calls go out in
//! batches of `concurrency`; the inputs depend only on the seed and the fixtures' ids.
//!
//! Every `check_every` executions and at the end the fuzzer checks that the health service
//! reports every service `SERVING`, and that money is conserved:
//!
//! ```text
//! sum(suite wallets) + suite merchant balance
//!     == starting sum
//!      + top-ups answered OK (counted once per transfer id, amount from the answer)
//!      + flow C checkouts the gateway answered SUCCEEDED (money from a bank account)
//!      - flow B payments answered OK to a merchant other than the suite's
//! ```
//!
//! per currency. Payments between the suite's customers and the suite's merchant keep the
//! sum. Customers the fuzzer creates through `RegisterCustomer` are not in the sum: they start
//! empty and have no device the fuzzer can use, so they can neither pay nor be paid. Only the
//! suite's merchant creates payments addressed to the suite's customers (their ids are not
//! known elsewhere), so a `ConfirmPayment` can only pay the suite's merchant. Against a vendor
//! system the suite's merchant must therefore not be used by anyone else during the run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ompp::error::catalogue::wire_name;
use ompp::error::{NotAnOmppStatus, ProtocolError};
use ompp::proto::v1 as pb;
use ompp::proto::v1::merchant_payment_service_client::MerchantPaymentServiceClient;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::case::Checks;
use crate::target::{CURRENCY, Credential, Customer, InProcess, PASSWORD, Target, money};

/// The deadline of every fuzzed call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of executions between two health and conservation checks.
pub const CHECK_EVERY: u64 = 200;

/// Largest input the mutator produces.
const MAX_INPUT: usize = 110 * 1024;

/// How many customers the fuzzer owns, and what each is topped up with.
const CUSTOMERS: usize = 3;
const START_TOP_UP: i64 = 100_000;

/// The service a method belongs to, which decides the channel it is sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// `MerchantPaymentService`, with the merchant certificate.
    Merchant,
    /// `RegistrationService`, without a client certificate.
    Registration,
    /// `DeviceService` on the mobile endpoint, with a paired device's certificate.
    Device,
    /// `GatewayService`, without a client certificate.
    Gateway,
}

impl Service {
    /// The fully qualified gRPC service name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Merchant => "ompp.v1.MerchantPaymentService",
            Self::Registration => "ompp.v1.RegistrationService",
            Self::Device => "ompp.v1.DeviceService",
            Self::Gateway => "ompp.v1.GatewayService",
        }
    }
}

/// A unary method the fuzzer targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Method {
    /// Its service.
    pub service: Service,
    /// Its name, e.g. `CreatePayment`.
    pub name: &'static str,
}

impl Method {
    /// The gRPC path, e.g. `/ompp.v1.MerchantPaymentService/CreatePayment`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service.name(), self.name)
    }

    /// The method whose path is `path`.
    pub fn from_path(path: &str) -> Option<Self> {
        METHODS.iter().copied().find(|m| m.path() == path)
    }
}

const fn method(service: Service, name: &'static str) -> Method {
    Method { service, name }
}

/// Every unary public method of an operation center.
pub const METHODS: &[Method] = &[
    method(Service::Merchant, "CreatePayment"),
    method(Service::Merchant, "GetPayment"),
    method(Service::Merchant, "CancelPayment"),
    method(Service::Merchant, "GetReceipt"),
    method(Service::Merchant, "IssuePayeeCode"),
    method(Service::Merchant, "OpenCheckout"),
    method(Service::Merchant, "GetMerchantBalance"),
    method(Service::Registration, "RegisterMerchant"),
    method(Service::Registration, "RegisterCustomer"),
    method(Service::Registration, "PairDevice"),
    method(Service::Device, "ConfirmPayment"),
    method(Service::Device, "DeclinePayment"),
    method(Service::Device, "PreviewPayeeCode"),
    method(Service::Device, "SubmitPayeeCode"),
    method(Service::Device, "GetWalletBalance"),
    method(Service::Device, "ListWalletHistory"),
    method(Service::Device, "TopUpWallet"),
    method(Service::Gateway, "GetCheckoutStatus"),
    method(Service::Gateway, "SubmitPassword"),
    method(Service::Gateway, "SubmitAuthorizationCode"),
];

// ---------------------------------------------------------------------------------------------
// Raw codec

/// A gRPC codec that sends and receives message bodies as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

/// The encoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

/// The decoder of [`RawCodec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut body = vec![0; src.remaining()];
        src.copy_to_slice(&mut body);
        Ok(Some(body))
    }
}

/// What one call came back with.
#[derive(Debug)]
pub enum Outcome {
    /// An OK answer and its body.
    Ok(Vec<u8>),
    /// A gRPC status.
    Status(tonic::Status),
    /// The channel could not be used.
    Transport(String),
    /// No answer within [`CALL_TIMEOUT`].
    Timeout,
}

/// Sends `body` to `path` on `channel` once, with the [`CALL_TIMEOUT`] deadline.
pub async fn call(channel: Channel, path: &str, body: Vec<u8>) -> Outcome {
    let path = match PathAndQuery::try_from(path.to_owned()) {
        Ok(path) => path,
        Err(error) => return Outcome::Transport(format!("bad method path: {error}")),
    };
    let exchange = async move {
        let mut grpc = tonic::client::Grpc::new(channel);
        if let Err(error) = grpc.ready().await {
            return Outcome::Transport(format!("channel not ready: {error}"));
        }
        match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
            Ok(response) => Outcome::Ok(response.into_inner()),
            Err(status) => Outcome::Status(status),
        }
    };
    match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Timeout,
    }
}

// ---------------------------------------------------------------------------------------------
// Oracle

/// The oracle's judgement of one execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An OK answer.
    Ok,
    /// A well-formed OMPP error: the gRPC code and the reason's wire name.
    Rejected {
        /// The gRPC code.
        code: tonic::Code,
        /// The OMPP reason.
        reason: &'static str,
    },
    /// Not acceptable.
    Failure {
        /// What kind of failure, for counting (no ids or messages in it).
        class: String,
        /// Why, in full.
        why: String,
    },
}

impl Verdict {
    /// Whether this is a failure.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failure { .. })
    }

    /// The key under which the summary counts it.
    pub fn key(&self) -> String {
        match self {
            Self::Ok => "OK".into(),
            Self::Rejected { code, reason } => format!("{code:?} {reason}"),
            Self::Failure { class, .. } => format!("FAILURE {class}"),
        }
    }
}

/// Judges a status: a failure unless it is a well-formed OMPP error.
pub fn judge_status(status: &tonic::Status) -> Verdict {
    match ProtocolError::from_status(status) {
        Ok(error) => Verdict::Rejected {
            code: status.code(),
            reason: wire_name(error.reason),
        },
        Err(why) => {
            let class = match &why {
                NotAnOmppStatus::NoErrorInfo => format!("{:?} without ErrorInfo", status.code()),
                NotAnOmppStatus::WrongDomain(_) => {
                    format!("{:?} with a foreign ErrorInfo domain", status.code())
                }
                NotAnOmppStatus::UnknownReason(_) => {
                    format!("{:?} with an unknown reason", status.code())
                }
                NotAnOmppStatus::WrongCode { expected, actual } => {
                    format!("{actual:?} where the catalogue says {expected:?}")
                }
                _ => format!("{:?} not an OMPP error", status.code()),
            };
            Verdict::Failure {
                class,
                why: format!(
                    "{:?} is not a well-formed OMPP error ({why}); message: {:?}",
                    status.code(),
                    status.message()
                ),
            }
        }
    }
}

/// Judges an outcome.
pub fn judge(outcome: &Outcome) -> Verdict {
    match outcome {
        Outcome::Ok(_) => Verdict::Ok,
        Outcome::Status(status) => judge_status(status),
        Outcome::Transport(error) => Verdict::Failure {
            class: "transport error".into(),
            why: format!("transport error: {error}"),
        },
        Outcome::Timeout => Verdict::Failure {
            class: "timeout".into(),
            why: format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
        },
    }
}

/// Judges the answer to `input`: [`judge`], and an input larger than `MAX_REQUEST_BYTES` must
/// be rejected with `MESSAGE_TOO_LARGE` (OMPP-MSG-010), whatever else is wrong with it.
pub fn judge_input(input: &[u8], outcome: &Outcome) -> Verdict {
    let verdict = judge(outcome);
    if input.len() <= ompp::limits::MAX_REQUEST_BYTES {
        return verdict;
    }
    let too_large = wire_name(ompp::proto::v1::ErrorReason::MessageTooLarge);
    match &verdict {
        Verdict::Rejected { reason, .. } if *reason == too_large => verdict,
        other => Verdict::Failure {
            class: format!(
                "oversized request not rejected with MESSAGE_TOO_LARGE (OMPP-MSG-010), {}",
                if matches!(other, Verdict::Failure { .. }) {
                    "answered without a valid OMPP error"
                } else {
                    "answered OK or with another OMPP error"
                }
            ),
            why: format!(
                "a {} byte request (limit {}) was answered {}",
                input.len(),
                ompp::limits::MAX_REQUEST_BYTES,
                match &verdict {
                    Verdict::Failure { why, .. } => why.clone(),
                    other => other.key(),
                }
            ),
        },
    }
}

/// Whether the channel should be rebuilt after this outcome.
fn broken(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok(_) => false,
        Outcome::Transport(_) | Outcome::Timeout => true,
        Outcome::Status(status) => {
            ProtocolError::from_status(status).is_err()
                && matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutator

/// One top-level protobuf field as it appears on the wire.
#[derive(Debug, Clone, Copy)]
struct Field {
    /// Byte range of the whole field (tag included).
    start: usize,
    end: usize,
    /// Field number and wire type.
    number: u64,
    wire_type: u8,
    /// Byte range of a length-delimited field's content.
    content: Option<(usize, usize)>,
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in 0..10 {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << (7 * shift);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_tag(out: &mut Vec<u8>, number: u64, wire_type: u8) {
    put_varint(out, (number << 3) | u64::from(wire_type));
}

/// The top-level fields of `bytes`, when it parses as a protobuf message.
fn parse_fields(bytes: &[u8]) -> Option<Vec<Field>> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let tag = read_varint(bytes, &mut at)?;
        let number = tag >> 3;
        let wire_type = (tag & 7) as u8;
        let mut content = None;
        match wire_type {
            0 => {
                read_varint(bytes, &mut at)?;
            }
            1 => at = at.checked_add(8)?,
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut at)?).ok()?;
                let end = at.checked_add(len)?;
                content = Some((at, end));
                at = end;
            }
            5 => at = at.checked_add(4)?,
            _ => return None,
        }
        if at > bytes.len() || number == 0 {
            return None;
        }
        fields.push(Field {
            start,
            end: at,
            number,
            wire_type,
            content,
        });
    }
    Some(fields)
}

/// A deterministic mutator of protobuf encodings.
#[derive(Debug)]
pub struct Mutator {
    rng: StdRng,
}

/// Interesting varint values.
const EDGE_VARINTS: &[u64] = &[
    0,
    1,
    0x7f,
    0x80,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
    u64::MAX - 1,
];

impl Mutator {
    /// A mutator whose choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A random index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    fn random_bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.rng.random::<u8>()).collect()
    }

    fn varint_value(&mut self) -> u64 {
        if self.rng.random_bool(0.5) {
            EDGE_VARINTS[self.below(EDGE_VARINTS.len())]
        } else {
            self.rng.random::<u64>() >> self.below(64)
        }
    }

    /// A mutation that keeps `data` a valid protobuf encoding when it was one: a string field
    /// replaced by a troublesome valid UTF-8 string, an edge value in a varint field, a
    /// well-formed unknown field, or a field repeated past 64 KiB.
    fn mutate_structure(&mut self, mut data: Vec<u8>, choice: usize) -> Vec<u8> {
        let Some(fields) = parse_fields(&data) else {
            return data;
        };
        match choice {
            14..=16 => {
                let delimited: Vec<Field> =
                    fields.into_iter().filter(|f| f.content.is_some()).collect();
                if delimited.is_empty() {
                    return data;
                }
                let field = delimited[self.below(delimited.len())];
                let content = self.nasty_string().into_bytes();
                let mut out = data[..field.start].to_vec();
                put_tag(&mut out, field.number, 2);
                put_varint(&mut out, content.len() as u64);
                out.extend_from_slice(&content);
                out.extend_from_slice(&data[field.end..]);
                out
            }
            17 => {
                let number = 20 + self.below(10_000) as u64;
                if self.rng.random_bool(0.5) {
                    put_tag(&mut data, number, 0);
                    put_varint(&mut data, self.varint_value());
                } else {
                    let content = self.nasty_string().into_bytes();
                    put_tag(&mut data, number, 2);
                    put_varint(&mut data, content.len() as u64);
                    data.extend_from_slice(&content);
                }
                data
            }
            18 => {
                // Every top-level field given twice (the last one wins in proto3).
                let copy = data.clone();
                data.extend_from_slice(&copy);
                data
            }
            _ => {
                // A valid string repeated past 64 KiB in an existing field.
                let Some(field) = fields.get(self.below(fields.len())).copied() else {
                    return data;
                };
                if field.content.is_none() {
                    return data;
                }
                let element = vec![b'7'; 1 + self.below(200)];
                let target = 64 * 1024 + self.below(36 * 1024);
                while data.len() < target {
                    put_tag(&mut data, field.number, 2);
                    put_varint(&mut data, element.len() as u64);
                    data.extend_from_slice(&element);
                }
                data
            }
        }
    }

    /// A valid UTF-8 string that validation must cope with.
    fn nasty_string(&mut self) -> String {
        const NASTY: &[&str] = &[
            "",
            " ",
            "0",
            "-1",
            "EUR",
            "eur",
            "XXX",
            "+491500000000",
            "+0000",
            "../../etc/passwd",
            "a\u{0}b",
            "\u{7f}",
            "\u{200b}",
            "é",
            "🙂",
            "%s%n",
            "' OR 1=1 --",
            "pay_",
            "null",
            "99999999999999999999",
        ];
        match self.below(4) {
            0 => "x".repeat(1 + self.below(2000)),
            1 => {
                let len = 1 + self.below(80);
                (0..len)
                    .map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)).unwrap_or('?'))
                    .collect()
            }
            _ => NASTY[self.below(NASTY.len())].to_owned(),
        }
    }

    /// A new input for a method whose valid requests are `seeds`; `others` are the valid
    /// requests of every method, for splicing.
    pub fn input(&mut self, seeds: &[Vec<u8>], others: &[Vec<u8>]) -> Vec<u8> {
        if seeds.is_empty() || self.below(20) == 0 {
            return self.random_bytes(256);
        }
        let mut data = seeds[self.below(seeds.len())].clone();
        let rounds = 1 + self.below(3);
        for _ in 0..rounds {
            data = self.mutate(data, others, 0);
        }
        data.truncate(MAX_INPUT);
        data
    }

    /// One mutation of `data`.
    pub fn mutate(&mut self, mut data: Vec<u8>, others: &[Vec<u8>], depth: u32) -> Vec<u8> {
        let choice = self.below(20);
        if choice >= 14 {
            return self.mutate_structure(data, choice);
        }
        match choice {
            0 | 1 => {
                if !data.is_empty() {
                    for _ in 0..=self.below(8) {
                        let at = self.below(data.len());
                        data[at] ^= 1 << self.below(8);
                    }
                }
            }
            2 => {
                let at = self.below(data.len() + 1);
                let byte = self.rng.random::<u8>();
                data.insert(at, byte);
            }
            3 => {
                if !data.is_empty() {
                    let at = self.below(data.len());
                    let len = 1 + self.below((data.len() - at).min(8));
                    data.drain(at..at + len);
                }
            }
            4 => {
                let keep = self.below(data.len() + 1);
                data.truncate(keep);
            }
            5 => {
                if let Some(fields) = parse_fields(&data).filter(|f| !f.is_empty()) {
                    let field = fields[self.below(fields.len())];
                    let copy = data[field.start..field.end].to_vec();
                    data.extend_from_slice(&copy);
                }
            }
            6 => {
                if !others.is_empty() {
                    let other = &others[self.below(others.len())];
                    let cut = self.below(data.len() + 1);
                    let from = self.below(other.len() + 1);
                    data.truncate(cut);
                    data.extend_from_slice(&other[from..]);
                }
            }
            7 => {
                let number = 1 + self.below(20) as u64;
                let value = self.varint_value();
                put_tag(&mut data, number, 0);
                put_varint(&mut data, value);
            }
            8 => {
                // A length that runs past the end of the message.
                let number = 1 + self.below(20) as u64;
                put_tag(&mut data, number, 2);
                let len = if self.rng.random_bool(0.5) {
                    self.varint_value()
                } else {
                    64 + self.below(1 << 20) as u64
                };
                put_varint(&mut data, len);
                let tail = self.random_bytes(16);
                data.extend_from_slice(&tail);
            }
            9 => {
                // A field number the schema does not have, with any wire type (even invalid).
                let number = if self.rng.random_bool(0.5) {
                    50 + self.below(1000) as u64
                } else {
                    (1u64 << 29) - 1 - self.below(1000) as u64
                };
                let wire_type = self.below(8) as u8;
                put_tag(&mut data, number, wire_type);
                match wire_type {
                    0 => put_varint(&mut data, self.varint_value()),
                    1 => data.extend_from_slice(&self.rng.random::<u64>().to_le_bytes()),
                    5 => data.extend_from_slice(&self.rng.random::<u32>().to_le_bytes()),
                    _ => {
                        let content = self.random_bytes(32);
                        put_varint(&mut data, content.len() as u64);
                        data.extend_from_slice(&content);
                    }
                }
            }
            10 => {
                // A repeated (or repeatedly given) field grown past 64 KiB (OMPP-MSG-010).
                let number = match parse_fields(&data) {
                    Some(fields) if !fields.is_empty() && self.rng.random_bool(0.7) => {
                        fields[self.below(fields.len())].number
                    }
                    _ => 1 + self.below(8) as u64,
                };
                let target = 60 * 1024 + self.below(40 * 1024);
                let element = if self.rng.random_bool(0.5) {
                    vec![b'A'; 1 + self.below(64)]
                } else {
                    self.random_bytes(64)
                };
                while data.len() < target {
                    put_tag(&mut data, number, 2);
                    put_varint(&mut data, element.len() as u64);
                    data.extend_from_slice(&element);
                }
            }
            11 => {
                // Mutate inside a length-delimited field (a string, bytes or a nested message).
                if let Some(fields) = parse_fields(&data) {
                    let nested: Vec<Field> =
                        fields.into_iter().filter(|f| f.content.is_some()).collect();
                    if !nested.is_empty() && depth < 3 {
                        let field = nested[self.below(nested.len())];
                        if let Some((from, to)) = field.content {
                            let inner = self.mutate(data[from..to].to_vec(), others, depth + 1);
                            let mut out = data[..field.start].to_vec();
                            put_tag(&mut out, field.number, field.wire_type);
                            put_varint(&mut out, inner.len() as u64);
                            out.extend_from_slice(&inner);
                            out.extend_from_slice(&data[field.end..]);
                            data = out;
                        }
                    }
                }
            }
            12 => {
                // Replace a varint field's value with an edge value.
                if let Some(fields) = parse_fields(&data) {
                    let varints: Vec<Field> =
                        fields.into_iter().filter(|f| f.wire_type == 0).collect();
                    if !varints.is_empty() {
                        let field = varints[self.below(varints.len())];
                        let mut out = data[..field.start].to_vec();
                        put_tag(&mut out, field.number, 0);
                        put_varint(&mut out, self.varint_value());
                        out.extend_from_slice(&data[field.end..]);
                        data = out;
                    }
                }
            }
            _ => {
                // Replace a length-delimited field's content with random bytes.
                if let Some(fields) = parse_fields(&data) {
                    let delimited: Vec<Field> =
                        fields.into_iter().filter(|f| f.content.is_some()).collect();
                    if !delimited.is_empty() {
                        let field = delimited[self.below(delimited.len())];
                        let content = self.random_bytes(48);
                        let mut out = data[..field.start].to_vec();
                        put_tag(&mut out, field.number, 2);
                        put_varint(&mut out, content.len() as u64);
                        out.extend_from_slice(&content);
                        out.extend_from_slice(&data[field.end..]);
                        data = out;
                    }
                }
            }
        }
        data
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures and seeds

/// What the fuzzer provisioned for itself.
#[derive(Debug)]
struct Fixtures {
    customers: Vec<Customer>,
    /// `MerchantPaymentService` as the suite's merchant, for provisioning and balances.
    merchant: MerchantPaymentServiceClient<Channel>,
    /// A registered customer without a wallet top-up whose devices the fuzzer pairs.
    pairing_customer: String,
    csr_der: Vec<u8>,
    /// Per suite customer: a pending payment of the suite's merchant addressed to it.
    pending: Vec<Option<String>>,
    settled: Option<String>,
    payee_payload: Option<String>,
    payee_payment: Option<String>,
    checkout: Option<String>,
    round: u64,
}

/// A valid request and the suite customer whose device sends it (device methods only).
#[derive(Debug, Clone)]
struct Seed {
    customer: usize,
    bytes: Vec<u8>,
}

fn duration(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

async fn provision(target: &Target) -> Result<Fixtures, String> {
    let checks = Checks::new("OMPP-CONF-001");
    let why = |checks: &Checks, what: &str| {
        let last = checks
            .take()
            .into_iter()
            .rev()
            .find(|a| !a.passed)
            .map(|a| format!("{}: {}", a.description, a.actual))
            .unwrap_or_default();
        format!("{what}: {last}")
    };
    let mut customers = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(
            target
                .customer(&checks, START_TOP_UP)
                .await
                .map_err(|_| why(&checks, "provisioning a customer"))?,
        );
    }
    let (pairing_customer, _) = target
        .register(&checks, true, None)
        .await
        .map_err(|_| why(&checks, "registering the pairing customer"))?;
    let csr = ompp_server::pki::generate_csr("fuzz device").map_err(|e| format!("CSR: {e}"))?;
    let merchant = target
        .merchant(&checks)
        .await
        .map_err(|_| why(&checks, "connecting as the merchant"))?;
    let mut fixtures = Fixtures {
        customers,
        merchant,
        pairing_customer,
        csr_der: csr.csr_der,
        pending: vec![None; CUSTOMERS],
        settled: None,
        payee_payload: None,
        payee_payment: None,
        checkout: None,
        round: 0,
    };
    refresh(target, &mut fixtures).await;
    Ok(fixtures)
}

/// Creates fresh pending payments, a payee code and a checkout (best effort: what fails is
/// left out of the seeds).
async fn refresh(target: &Target, fixtures: &mut Fixtures) {
    fixtures.round += 1;
    let mut merchant = fixtures.merchant.clone();
    for (i, customer) in fixtures.customers.iter().enumerate() {
        let created = merchant
            .create_payment(pb::CreatePaymentRequest {
                merchant_id: target.merchant_id.clone(),
                customer_id: customer.customer_id.clone(),
                amount: Some(money(125)),
                items: vec![pb::LineItem {
                    product_code: "FUZZ-1".into(),
                    description: "fuzz item".into(),
                    quantity: 1,
                }],
                merchant_reference: format!("fuzz-{}-{i}", fixtures.round),
                expires_in: Some(duration(600)),
                idempotency_key: target.key("fuzz-pay"),
            })
            .await;
        fixtures.pending[i] = created
            .ok()
            .and_then(|r| r.into_inner().payment)
            .map(|p| p.payment_id);
    }
    if fixtures.settled.is_none() {
        fixtures.settled = settle(target, &mut merchant, fixtures).await;
    }
    if let Ok(issued) = merchant
        .issue_payee_code(pb::IssuePayeeCodeRequest {
            merchant_id: target.merchant_id.clone(),
            amount: Some(money(80)),
            currency: String::new(),
            merchant_reference: format!("fuzz-code-{}", fixtures.round),
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-code"),
        })
        .await
    {
        let issued = issued.into_inner();
        fixtures.payee_payload = Some(issued.payload);
        fixtures.payee_payment = Some(issued.payment_id);
    }
    if let Ok(opened) = merchant
        .open_checkout(pb::OpenCheckoutRequest {
            merchant_id: target.merchant_id.clone(),
            amount: Some(money(90)),
            merchant_reference: format!("fuzz-checkout-{}", fixtures.round),
            items: vec![],
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-checkout"),
        })
        .await
    {
        fixtures.checkout = opened.into_inner().payment.map(|p| p.payment_id);
    }
}

/// A payment of the suite's merchant that the first customer paid, for `GetReceipt`.
async fn settle(
    target: &Target,
    merchant: &mut MerchantPaymentServiceClient<Channel>,
    fixtures: &mut Fixtures,
) -> Option<String> {
    let customer = fixtures.customers.first_mut()?;
    let payment = merchant
        .create_payment(pb::CreatePaymentRequest {
            merchant_id: target.merchant_id.clone(),
            customer_id: customer.customer_id.clone(),
            amount: Some(money(100)),
            items: vec![],
            merchant_reference: "fuzz-settled".into(),
            expires_in: Some(duration(600)),
            idempotency_key: target.key("fuzz-settle"),
        })
        .await
        .ok()?
        .into_inner()
        .payment?;
    customer
        .device
        .confirm_payment(pb::ConfirmPaymentRequest {
            payment_id: payment.payment_id.clone(),
            amount: Some(money(100)),
            password: PASSWORD.into(),
        })
        .await
        .ok()?;
    Some(payment.payment_id)
}

fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

/// The valid requests of `method`.
fn seeds(target: &Target, fixtures: &Fixtures, method: &Method, n: u64) -> Vec<Seed> {
    let merchant_id = target.merchant_id.clone();
    let any_payment = || {
        fixtures
            .pending
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_else(|| "pay_0000000000000000".into())
    };
    let payments: Vec<String> = [
        Some(any_payment()),
        fixtures.settled.clone(),
        fixtures.payee_payment.clone(),
        fixtures.checkout.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let checkout = fixtures.checkout.clone().unwrap_or_else(any_payment);
    let payload = fixtures.payee_payload.clone().unwrap_or_default();
    let key = |label: &str| format!("fuzz-{label}-{}-{n}", fixtures.round);
    let plain = |bytes: Vec<Vec<u8>>| -> Vec<Seed> {
        bytes
            .into_iter()
            .map(|bytes| Seed { customer: 0, bytes })
            .collect()
    };
    let per_customer = |build: &dyn Fn(usize) -> Vec<u8>| -> Vec<Seed> {
        (0..fixtures.customers.len())
            .map(|customer| Seed {
                customer,
                bytes: build(customer),
            })
            .collect()
    };
    match method.name {
        "CreatePayment" => per_customer(&|c| {
            encode(&pb::CreatePaymentRequest {
                merchant_id: merchant_id.clone(),
                customer_id: fixtures.customers[c].customer_id.clone(),
                amount: Some(money(150)),
                items: vec![pb::LineItem {
                    product_code: "SKU-1".into(),
                    description: "coffee".into(),
                    quantity: 2,
                }],
                merchant_reference: format!("order-{c}"),
                expires_in: Some(duration(300)),
                idempotency_key: key("create"),
            })
        }),
        "GetPayment" | "CancelPayment" | "GetReceipt" => plain(
            payments
                .iter()
                .map(|payment_id| {
                    encode(&pb::GetPaymentRequest {
                        merchant_id: merchant_id.clone(),
                        payment_id: payment_id.clone(),
                    })
                })
                .collect(),
        ),
        "IssuePayeeCode" => plain(vec![
            encode(&pb::IssuePayeeCodeRequest {
                merchant_id: merchant_id.clone(),
                amount: Some(money(50)),
                currency: String::new(),
                merchant_reference: "table 4".into(),
                expires_in: Some(duration(120)),
                idempotency_key: key("code"),
            }),
            encode(&pb::IssuePayeeCodeRequest {
                merchant_id: merchant_id.clone(),
                amount: None,
                currency: CURRENCY.into(),
                merchant_reference: "open amount".into(),
                expires_in: None,
                idempotency_key: key("open-code"),
            }),
        ]),
        "OpenCheckout" => plain(vec![encode(&pb::OpenCheckoutRequest {
            merchant_id: merchant_id.clone(),
            amount: Some(money(70)),
            merchant_reference: "cart 9".into(),
            items: vec![pb::LineItem {
                product_code: "SKU-2".into(),
                description: String::new(),
                quantity: 1,
            }],
            expires_in: Some(duration(300)),
            idempotency_key: key("checkout"),
        })]),
        "GetMerchantBalance" => plain(vec![encode(&pb::GetMerchantBalanceRequest {
            merchant_id: merchant_id.clone(),
        })]),
        "RegisterMerchant" => plain(vec![encode(&pb::RegisterMerchantRequest {
            enrollment_token: "not-a-real-enrollment-token".into(),
            display_name: "Fuzz Merchant".into(),
            csr_der: fixtures.csr_der.clone(),
            settlement_currencies: vec![CURRENCY.into()],
            bank_account: Some(pb::BankAccountRef {
                bank_id: "bank".into(),
                account_number: "ACC1".into(),
            }),
            idempotency_key: key("merchant"),
        })]),
        "RegisterCustomer" => plain(vec![encode(&pb::RegisterCustomerRequest {
            display_name: "Fuzz Customer".into(),
            phone_number: target.phone(),
            password: PASSWORD.into(),
            wallet_currencies: vec![CURRENCY.into()],
            bank_account: None,
            idempotency_key: key("register"),
        })]),
        "PairDevice" => plain(vec![encode(&pb::PairDeviceRequest {
            customer_id: fixtures.pairing_customer.clone(),
            password: PASSWORD.into(),
            device_name: "fuzz device".into(),
            csr_der: fixtures.csr_der.clone(),
            idempotency_key: key("pair"),
        })]),
        "ConfirmPayment" => per_customer(&|c| {
            encode(&pb::ConfirmPaymentRequest {
                payment_id: fixtures.pending[c].clone().unwrap_or_else(any_payment),
                amount: Some(money(125)),
                password: PASSWORD.into(),
            })
        }),
        "DeclinePayment" => per_customer(&|c| {
            encode(&pb::DeclinePaymentRequest {
                payment_id: fixtures.pending[c].clone().unwrap_or_else(any_payment),
            })
        }),
        "PreviewPayeeCode" => per_customer(&|_| {
            encode(&pb::PreviewPayeeCodeRequest {
                payload: payload.clone(),
            })
        }),
        "SubmitPayeeCode" => per_customer(&|_| {
            encode(&pb::SubmitPayeeCodeRequest {
                payload: payload.clone(),
                amount: Some(money(80)),
                password: PASSWORD.into(),
                idempotency_key: key("submit"),
            })
        }),
        "GetWalletBalance" => per_customer(&|_| encode(&pb::GetWalletBalanceRequest {})),
        "ListWalletHistory" => per_customer(&|_| {
            encode(&pb::ListWalletHistoryRequest {
                currency: CURRENCY.into(),
                page_size: 5,
                page_token: String::new(),
            })
        }),
        "TopUpWallet" => per_customer(&|_| {
            encode(&pb::TopUpWalletRequest {
                amount: Some(money(500)),
                password: PASSWORD.into(),
                idempotency_key: key("topup"),
            })
        }),
        "GetCheckoutStatus" => plain(vec![encode(&pb::GetCheckoutStatusRequest {
            payment_id: checkout.clone(),
        })]),
        "SubmitPassword" => plain(vec![encode(&pb::SubmitPasswordRequest {
            payment_id: checkout.clone(),
            phone_number: fixtures
                .customers
                .first()
                .map(|c| c.phone.clone())
                .unwrap_or_default(),
            password: PASSWORD.into(),
        })]),
        "SubmitAuthorizationCode" => plain(vec![encode(&pb::SubmitAuthorizationCodeRequest {
            payment_id: checkout.clone(),
            session_token: "fuzz-session-token".into(),
            authorization_code: "123456".into(),
        })]),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Channels

/// The channels the fuzzer sends on.
#[derive(Debug)]
struct Channels {
    merchant: Channel,
    public: Channel,
    devices: Vec<Channel>,
}

async fn connect(
    target: &Target,
    url: &str,
    identity: Option<&Credential>,
) -> Result<Channel, String> {
    target
        .channel(url, identity)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))
}

impl Channels {
    async fn open(target: &Target, customers: &[Customer]) -> Result<Self, String> {
        let mut devices = Vec::new();
        for customer in customers {
            devices.push(connect(target, &target.mobile_url, Some(&customer.credential)).await?);
        }
        Ok(Self {
            merchant: connect(target, &target.network_url, Some(&target.merchant)).await?,
            public: connect(target, &target.network_url, None).await?,
            devices,
        })
    }

    fn for_method(&self, service: Service, customer: usize) -> Option<Channel> {
        match service {
            Service::Merchant => Some(self.merchant.clone()),
            Service::Registration | Service::Gateway => Some(self.public.clone()),
            Service::Device => self.devices.get(customer).cloned(),
        }
    }

    async fn reconnect(
        &mut self,
        target: &Target,
        customers: &[Customer],
        service: Service,
        customer: usize,
    ) -> Result<(), String> {
        match service {
            Service::Merchant => {
                self.merchant =
                    connect(target, &target.network_url, Some(&target.merchant)).await?;
            }
            Service::Registration | Service::Gateway => {
                self.public = connect(target, &target.network_url, None).await?;
            }
            Service::Device => {
                if let (Some(slot), Some(c)) =
                    (self.devices.get_mut(customer), customers.get(customer))
                {
                    *slot = connect(target, &target.mobile_url, Some(&c.credential)).await?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Conservation

/// Balances per currency.
type Sums = BTreeMap<String, i64>;

fn add(sums: &mut Sums, m: &pb::Money, sign: i64) {
    let entry = sums.entry(m.currency.clone()).or_insert(0);
    *entry = entry.saturating_add(m.minor_units.saturating_mul(sign));
}

/// The money the run expects to have moved into or out of the suite's accounts.
#[derive(Debug, Default)]
struct Ledger {
    start: Sums,
    delta: Sums,
    top_ups: BTreeSet<String>,
    checkouts: BTreeSet<String>,
    outflows: BTreeSet<String>,
}

impl Ledger {
    fn expected(&self) -> Sums {
        let mut sums = self.start.clone();
        for (currency, amount) in &self.delta {
            let entry = sums.entry(currency.clone()).or_insert(0);
            *entry = entry.saturating_add(*amount);
        }
        sums.retain(|_, v| *v != 0);
        sums
    }

    /// Learns from an OK answer what it did to the suite's money.
    fn observe(&mut self, method: &Method, request: &[u8], response: &[u8], merchant_id: &str) {
        match method.name {
            "TopUpWallet" => {
                let entry = pb::TopUpWalletResponse::decode(response)
                    .ok()
                    .and_then(|r| r.entry);
                match entry {
                    Some(entry) => {
                        if self.top_ups.insert(entry.transfer_id.clone())
                            && let Some(delta) = &entry.delta
                        {
                            add(&mut self.delta, delta, 1);
                        }
                    }
                    None => {
                        if let Some(amount) = pb::TopUpWalletRequest::decode(request)
                            .ok()
                            .and_then(|r| r.amount)
                        {
                            add(&mut self.delta, &amount, 1);
                        }
                    }
                }
            }
            "SubmitAuthorizationCode" => {
                if let Some(checkout) = pb::SubmitAuthorizationCodeResponse::decode(response)
                    .ok()
                    .and_then(|r| r.checkout)
                    && settled_or_settling(checkout.status)
                    && self.checkouts.insert(checkout.payment_id.clone())
                    && let Some(amount) = &checkout.amount
                {
                    add(&mut self.delta, amount, 1);
                }
            }
            "SubmitPayeeCode" => {
                if let Some(payment) = pb::SubmitPayeeCodeResponse::decode(response)
                    .ok()
                    .and_then(|r| r.payment)
                    && payment.merchant_id != merchant_id
                    && settled_or_settling(payment.status)
                    && self.outflows.insert(payment.payment_id.clone())
                    && let Some(amount) = &payment.amount
                {
                    add(&mut self.delta, amount, -1);
                }
            }
            _ => {}
        }
    }
}

/// Whether a payment in `status` moved (or is moving) money.
fn settled_or_settling(status: i32) -> bool {
    status == pb::PaymentStatus::Confirmed as i32 || status == pb::PaymentStatus::Settled as i32
}

async fn balances(target: &Target, fixtures: &mut Fixtures) -> Result<Sums, String> {
    let mut sums = Sums::new();
    for (i, customer) in fixtures.customers.iter_mut().enumerate() {
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            customer
                .device
                .get_wallet_balance(pb::GetWalletBalanceRequest {}),
        )
        .await
        .map_err(|_| format!("GetWalletBalance of customer {i}: no answer"))?
        .map_err(|s| format!("GetWalletBalance of customer {i}: {s}"))?;
        for m in &answer.into_inner().balances {
            add(&mut sums, m, 1);
        }
    }
    let answer = tokio::time::timeout(
        CALL_TIMEOUT,
        fixtures
            .merchant
            .get_merchant_balance(pb::GetMerchantBalanceRequest {
                merchant_id: target.merchant_id.clone(),
            }),
    )
    .await
    .map_err(|_| "GetMerchantBalance: no answer".to_owned())?
    .map_err(|s| format!("GetMerchantBalance: {s}"))?;
    for m in &answer.into_inner().balances {
        add(&mut sums, m, 1);
    }
    sums.retain(|_, v| *v != 0);
    Ok(sums)
}

async fn health(target: &Target, device: Option<&Credential>) -> Result<(), String> {
    let mut problems = Vec::new();
    let network = connect(target, &target.network_url, None).await?;
    let mut checks: Vec<(Channel, Service)> = vec![
        (network.clone(), Service::Merchant),
        (network.clone(), Service::Registration),
        (network, Service::Gateway),
    ];
    if let Some(device) = device {
        checks.push((
            connect(target, &target.mobile_url, Some(device)).await?,
            Service::Device,
        ));
    }
    for (channel, service) in checks {
        let mut client = HealthClient::new(channel);
        let answer = tokio::time::timeout(
            CALL_TIMEOUT,
            client.check(tonic_health::pb::HealthCheckRequest {
                service: service.name().into(),
            }),
        )
        .await;
        match answer {
            Err(_) => problems.push(format!("{}: no health answer", service.name())),
            Ok(Err(status)) => problems.push(format!("{}: {status}", service.name())),
            Ok(Ok(response)) => {
                let status = response.into_inner().status;
                if status != ServingStatus::Serving as i32 {
                    problems.push(format!(
                        "{}: health status {:?}",
                        service.name(),
                        ServingStatus::try_from(status)
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// How to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// The vendor manifest; without it the in-process reference is fuzzed.
    pub manifest: Option<PathBuf>,
    /// How long to fuzz.
    pub duration: Duration,
    /// The RNG seed.
    pub seed: u64,
    /// Where failing inputs are written.
    pub out: PathBuf,
    /// Executions between two health and conservation checks (rounded up to whole batches).
    pub check_every: u64,
    /// How many calls are in flight at once (one batch; the inputs do not depend on it).
    pub concurrency: usize,
    /// Print progress to stderr every second.
    pub progress: bool,
}

impl Default for FuzzOptions {
    fn default() -> Self {
        Self {
            manifest: None,
            duration: Duration::from_secs(60),
            seed: 0,
            out: PathBuf::from("fuzz-findings"),
            check_every: CHECK_EVERY,
            concurrency: 8,
            progress: false,
        }
    }
}

/// One failure worth showing: the first few of each kind per method, and every failed check.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The method path, or `health`/`conservation` for a periodic check.
    pub method: String,
    /// The kind of failure (the key of [`FuzzReport::failure_classes`]).
    pub class: String,
    /// Why it failed.
    pub why: String,
    /// The saved input, when there is one.
    pub input: Option<PathBuf>,
}

/// What a fuzz run found.
#[derive(Debug, Clone, Default)]
pub struct FuzzReport {
    /// Executions performed.
    pub executions: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Executions per method path.
    pub per_method: BTreeMap<String, u64>,
    /// Total time spent waiting for answers, per method path.
    pub latency: BTreeMap<String, Duration>,
    /// Answers seen: `OK`, `<code> <REASON>`, or `FAILURE <class>` for a status that is not a
    /// valid OMPP error, with counts (the size rule of OMPP-MSG-010 is only in the failures).
    pub statuses: BTreeMap<String, u64>,
    /// How many executions and checks failed.
    pub failures: u64,
    /// Failures by kind: `<method path>: <class>; <whether the input was a valid encoding of
    /// the request message>`.
    pub failure_classes: BTreeMap<String, u64>,
    /// Examples (at most [`EXAMPLES`] per class) and every failed check.
    pub findings: Vec<Finding>,
    /// Conservation checks performed.
    pub conservation_checks: u64,
    /// Health checks performed.
    pub health_checks: u64,
    /// Reconnections after a broken channel.
    pub reconnects: u64,
    /// The seed used.
    pub seed: u64,
}

/// How many failing inputs of one class are saved.
pub const EXAMPLES: usize = 3;

impl FuzzReport {
    /// The summary printed at the end of a run.
    pub fn summary(&self, out: &Path) -> String {
        let mut text = String::new();
        let secs = self.elapsed.as_secs_f64().max(0.001);
        let _ = writeln!(
            text,
            "fuzz: {} executions in {:.1} s ({:.0} exec/s), seed {}, {} failures, {} health checks, {} conservation checks, {} reconnects",
            self.executions,
            secs,
            self.executions as f64 / secs,
            self.seed,
            self.failures,
            self.health_checks,
            self.conservation_checks,
            self.reconnects
        );
        let _ = writeln!(text, "per method:");
        for (method, count) in &self.per_method {
            let total = self.latency.get(method).copied().unwrap_or_default();
            let mean = total.as_secs_f64() * 1000.0 / (*count).max(1) as f64;
            let _ = writeln!(text, "  {count:>8}  {method}  (mean {mean:.1} ms)");
        }
        let _ = writeln!(text, "answers (gRPC code, OMPP reason):");
        for (status, count) in &self.statuses {
            let _ = writeln!(text, "  {count:>8}  {status}");
        }
        if self.failures > 0 {
            let _ = writeln!(text, "failures by kind:");
            for (class, count) in &self.failure_classes {
                let _ = writeln!(text, "  {count:>8}  {class}");
            }
            let _ = writeln!(text, "examples:");
            for finding in &self.findings {
                let _ = writeln!(
                    text,
                    "  {} {}\n      {}",
                    finding.method,
                    finding
                        .input
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    finding.why
                );
            }
            let _ = writeln!(
                text,
                "replay one with: ompp-conformance fuzz --replay {}/<file>.bin --method <path> [--manifest vendor.toml]",
                out.display()
            );
        }
        text
    }
}

async fn target_for(manifest: Option<&Path>) -> Result<(Option<InProcess>, Target), String> {
    match manifest {
        Some(path) => {
            let manifest = crate::runner::load_manifest(path).map_err(|e| e.to_string())?;
            let base = path.parent().unwrap_or(Path::new("."));
            Ok((None, Target::from_manifest(&manifest, base)?))
        }
        None => {
            let (running, target) = InProcess::start().await?;
            Ok((Some(running), target))
        }
    }
}

/// Fuzzes the system the options describe (or the in-process reference) and reports.
pub async fn run(options: &FuzzOptions) -> Result<FuzzReport, String> {
    let (running, target) = target_for(options.manifest.as_deref()).await?;
    let result = fuzz(options, &target).await;
    if let Some(running) = running {
        running.stop().await;
    }
    result
}

/// Whether `bytes` is a valid encoding of `method`'s request message.
pub fn decodes(method: &Method, bytes: &[u8]) -> bool {
    fn ok<M: Message + Default>(bytes: &[u8]) -> bool {
        M::decode(bytes).is_ok()
    }
    match method.name {
        "CreatePayment" => ok::<pb::CreatePaymentRequest>(bytes),
        "GetPayment" => ok::<pb::GetPaymentRequest>(bytes),
        "CancelPayment" => ok::<pb::CancelPaymentRequest>(bytes),
        "GetReceipt" => ok::<pb::GetReceiptRequest>(bytes),
        "IssuePayeeCode" => ok::<pb::IssuePayeeCodeRequest>(bytes),
        "OpenCheckout" => ok::<pb::OpenCheckoutRequest>(bytes),
        "GetMerchantBalance" => ok::<pb::GetMerchantBalanceRequest>(bytes),
        "RegisterMerchant" => ok::<pb::RegisterMerchantRequest>(bytes),
        "RegisterCustomer" => ok::<pb::RegisterCustomerRequest>(bytes),
        "PairDevice" => ok::<pb::PairDeviceRequest>(bytes),
        "ConfirmPayment" => ok::<pb::ConfirmPaymentRequest>(bytes),
        "DeclinePayment" => ok::<pb::DeclinePaymentRequest>(bytes),
        "PreviewPayeeCode" => ok::<pb::PreviewPayeeCodeRequest>(bytes),
        "SubmitPayeeCode" => ok::<pb::SubmitPayeeCodeRequest>(bytes),
        "GetWalletBalance" => ok::<pb::GetWalletBalanceRequest>(bytes),
        "ListWalletHistory" => ok::<pb::ListWalletHistoryRequest>(bytes),
        "TopUpWallet" => ok::<pb::TopUpWalletRequest>(bytes),
        "GetCheckoutStatus" => ok::<pb::GetCheckoutStatusRequest>(bytes),
        "SubmitPassword" => ok::<pb::SubmitPasswordRequest>(bytes),
        "SubmitAuthorizationCode" => ok::<pb::SubmitAuthorizationCodeRequest>(bytes),
        _ => false,
    }
}

/// The suffix of a failure class that says whether the input was a valid request encoding.
pub const UNDECODABLE: &str = "input is not a valid encoding of the request message";
/// See [`UNDECODABLE`].
pub const DECODABLE: &str = "input is a valid encoding of the request message";

/// The state of one run.
struct Run<'a> {
    options: &'a FuzzOptions,
    report: FuzzReport,
    ledger: Ledger,
    examples: BTreeMap<String, usize>,
}

impl Run<'_> {
    fn fail(&mut self, method: &str, class: &str, why: String, input: Option<&[u8]>) {
        let key = format!("{method}: {class}");
        self.report.failures += 1;
        *self.report.failure_classes.entry(key.clone()).or_insert(0) += 1;
        let shown = self.examples.entry(key).or_insert(0);
        if input.is_some() && *shown >= EXAMPLES {
            return;
        }
        *shown += 1;
        let mut path = None;
        if let Some(input) = input {
            let name = method.rsplit('/').next().unwrap_or("input").to_owned();
            let n = self.report.failures;
            let bin = self.options.out.join(format!("{name}-{n}.bin"));
            let txt = self.options.out.join(format!("{name}-{n}.txt"));
            let note = format!(
                "method: {method}\nclass: {class}\nverdict: {why}\nseed: {}\nreplay: ompp-conformance fuzz --replay {} --method {method}\n",
                self.options.seed,
                bin.display()
            );
            let written = std::fs::create_dir_all(&self.options.out)
                .and_then(|()| std::fs::write(&bin, input))
                .and_then(|()| std::fs::write(&txt, note));
            if written.is_ok() {
                path = Some(bin);
            }
        }
        self.report.findings.push(Finding {
            method: method.to_owned(),
            class: class.to_owned(),
            why,
            input: path,
        });
    }

    async fn check(&mut self, target: &Target, fixtures: &mut Fixtures) {
        self.report.health_checks += 1;
        if let Err(why) = health(target, fixtures.customers.first().map(|c| &c.credential)).await {
            self.fail("health", "not SERVING", why, None);
        }
        self.report.conservation_checks += 1;
        match balances(target, fixtures).await {
            Err(why) => self.fail("conservation", "balances unreadable", why, None),
            Ok(actual) => {
                let expected = self.ledger.expected();
                if actual != expected {
                    self.fail(
                        "conservation",
                        "money not conserved",
                        format!(
                            "suite balances {actual:?}, expected {expected:?} (start {:?} + observed {:?}) after {} executions",
                            self.ledger.start, self.ledger.delta, self.report.executions
                        ),
                        None,
                    );
                    // Report a leak once, then follow the system's books.
                    self.ledger.start = actual;
                    self.ledger.delta.clear();
                }
            }
        }
    }
}

/// One planned execution.
struct Planned {
    method: Method,
    customer: usize,
    input: Vec<u8>,
}

async fn fuzz(options: &FuzzOptions, target: &Target) -> Result<FuzzReport, String> {
    let mut fixtures = provision(target).await?;
    let mut channels = Channels::open(target, &fixtures.customers).await?;
    let mut run = Run {
        options,
        report: FuzzReport {
            seed: options.seed,
            ..FuzzReport::default()
        },
        ledger: Ledger::default(),
        examples: BTreeMap::new(),
    };
    run.ledger.start = balances(target, &mut fixtures).await?;
    let mut mutator = Mutator::new(options.seed);
    let build = |fixtures: &Fixtures, n: u64| -> Vec<Vec<Seed>> {
        METHODS
            .iter()
            .map(|m| seeds(target, fixtures, m, n))
            .collect()
    };
    let mut corpus = build(&fixtures, 0);
    let mut all: Vec<Vec<u8>> = corpus.iter().flatten().map(|s| s.bytes.clone()).collect();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let every = options.check_every.max(1);
    let batch = options.concurrency.max(1);
    let mut next = 0usize;
    let mut since_check = 0u64;
    while started.elapsed() < options.duration {
        let mut planned = Vec::with_capacity(batch);
        for _ in 0..batch {
            let index = next % METHODS.len();
            next += 1;
            let method = METHODS[index];
            let seeds = &corpus[index];
            let customer = if seeds.is_empty() {
                mutator.below(fixtures.customers.len())
            } else {
                seeds[mutator.below(seeds.len())].customer
            };
            let same_customer: Vec<Vec<u8>> = seeds
                .iter()
                .filter(|s| s.customer == customer || method.service != Service::Device)
                .map(|s| s.bytes.clone())
                .collect();
            let input = mutator.input(&same_customer, &all);
            planned.push(Planned {
                method,
                customer,
                input,
            });
        }
        let mut calls = tokio::task::JoinSet::new();
        for (i, p) in planned.iter().enumerate() {
            let Some(channel) = channels.for_method(p.method.service, p.customer) else {
                return Err(format!("no channel for {}", p.method.path()));
            };
            let path = p.method.path();
            let input = p.input.clone();
            calls.spawn(async move {
                let sent = Instant::now();
                let outcome = call(channel, &path, input).await;
                (i, outcome, sent.elapsed())
            });
        }
        let mut outcomes: Vec<Option<(Outcome, Duration)>> = planned.iter().map(|_| None).collect();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok((i, outcome, took)) => {
                    if let Some(slot) = outcomes.get_mut(i) {
                        *slot = Some((outcome, took));
                    }
                }
                Err(error) => return Err(format!("a call task failed: {error}")),
            }
        }
        for (p, outcome) in planned.iter().zip(outcomes) {
            let (outcome, took) =
                outcome.unwrap_or((Outcome::Transport("no outcome".into()), Duration::ZERO));
            let path = p.method.path();
            *run.report.latency.entry(path.clone()).or_default() += took;
            let verdict = judge_input(&p.input, &outcome);
            run.report.executions += 1;
            *run.report.per_method.entry(path.clone()).or_insert(0) += 1;
            *run.report
                .statuses
                .entry(judge(&outcome).key())
                .or_insert(0) += 1;
            if let Outcome::Ok(response) = &outcome {
                run.ledger
                    .observe(&p.method, &p.input, response, &target.merchant_id);
            }
            if let Verdict::Failure { class, why } = verdict {
                let decodable = if decodes(&p.method, &p.input) {
                    DECODABLE
                } else {
                    UNDECODABLE
                };
                run.fail(&path, &format!("{class}; {decodable}"), why, Some(&p.input));
            }
            if broken(&outcome) {
                run.report.reconnects += 1;
                if let Err(why) = channels
                    .reconnect(target, &fixtures.customers, p.method.service, p.customer)
                    .await
                {
                    run.fail(p.method.service.name(), "reconnect failed", why, None);
                }
            }
        }
        since_check += planned.len() as u64;
        if since_check >= every {
            since_check = 0;
            run.check(target, &mut fixtures).await;
            refresh(target, &mut fixtures).await;
            corpus = build(&fixtures, run.report.executions);
            all = corpus.iter().flatten().map(|s| s.bytes.clone()).collect();
        }
        if options.progress && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(0.001);
            eprintln!(
                "fuzz: {:>8} executions  {:>6.0} exec/s  {} failures  {:>4.0} s",
                run.report.executions,
                run.report.executions as f64 / secs,
                run.report.failures,
                secs
            );
        }
    }
    run.check(target, &mut fixtures).await;
    run.report.elapsed = started.elapsed();
    Ok(run.report)
}

/// Sends `input` to `path` once on the right channel (provisioning a customer for
/// `DeviceService`) and judges the answer.
pub async fn replay(
    manifest: Option<&Path>,
    path: &str,
    input: Vec<u8>,
) -> Result<(Verdict, String), String> {
    let method = Method::from_path(path).ok_or_else(|| format!("unknown method path {path}"))?;
    let (running, target) = target_for(manifest).await?;
    let result = async {
        let channel = match method.service {
            Service::Merchant => {
                connect(&target, &target.network_url, Some(&target.merchant)).await?
            }
            Service::Registration | Service::Gateway => {
                connect(&target, &target.network_url, None).await?
            }
            Service::Device => {
                let checks = Checks::new("OMPP-CONF-001");
                let customer = target
                    .customer(&checks, START_TOP_UP)
                    .await
                    .map_err(|_| "provisioning a customer".to_owned())?;
                connect(&target, &target.mobile_url, Some(&customer.credential)).await?
            }
        };
        let input_len_probe = input.clone();
        let outcome = call(channel, path, input).await;
        let shown = match &outcome {
            Outcome::Ok(body) => format!("OK, {} bytes", body.len()),
            Outcome::Status(status) => format!("{status:?}"),
            Outcome::Transport(error) => format!("transport error: {error}"),
            Outcome::Timeout => "timeout".into(),
        };
        Ok((judge_input(&input_len_probe, &outcome), shown))
    }
    .await;
    if let Some(running) = running {
        running.stop().await;
    }
    result
}

/// Reads `60s`, `2m`, `500ms`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?} (try 60s, 2m, 500ms)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(number)),
        "ms" => Ok(Duration::from_millis(number)),
        "m" | "min" => Ok(Duration::from_secs(number.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(number.saturating_mul(3600))),
        _ => Err(format!("not a duration: {text:?} (try 60s, 2m, 500ms)")),
    }
}

/// The `fuzz` subcommand: fuzzes (or, with `replay`, sends one saved input to the method
/// path) and prints the summary. Exit status: 0 no failure, 1 failures, 2 could not run.
pub fn command(options: &FuzzOptions, replay_input: Option<(&Path, &str)>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ompp-conformance: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some((file, path)) = replay_input {
        let input = match std::fs::read(file) {
            Ok(input) => input,
            Err(error) => {
                eprintln!("ompp-conformance: {}: {error}", file.display());
                return ExitCode::from(2);
            }
        };
        return match runtime.block_on(replay(options.manifest.as_deref(), path, input)) {
            Err(error) => {
                eprintln!("ompp-conformance: replay not performed: {error}");
                ExitCode::from(2)
            }
            Ok((verdict, shown)) => {
                println!("{path}: {shown}");
                match verdict {
                    Verdict::Failure { why, .. } => {
                        println!("FAILURE: {why}");
                        ExitCode::from(1)
                    }
                    other => {
                        println!("pass: {}", other.key());
                        ExitCode::SUCCESS
                    }
                }
            }
        };
    }
    match runtime.block_on(run(options)) {
        Err(error) => {
            eprintln!("ompp-conformance: fuzz run not performed: {error}");
            ExitCode::from(2)
        }
        Ok(report) => {
            print!("{}", report.summary(&options.out));
            if report.failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ompp::proto::v1::ErrorReason;

    #[test]
    fn a_status_without_error_info_is_a_failure() {
        let verdict = judge_status(&tonic::Status::internal("failed to decode"));
        assert!(verdict.is_failure(), "{verdict:?}");
        let verdict = judge(&Outcome::Status(tonic::Status::unknown("boom")));
        assert!(verdict.is_failure(), "{verdict:?}");
        assert!(judge(&Outcome::Timeout).is_failure());
        assert!(judge(&Outcome::Transport("reset".into())).is_failure());
    }

    #[test]
    fn a_well_formed_ompp_status_is_not_a_failure() {
        let reason = ErrorReason::NotFound;
        let status = ProtocolError::new(reason, "no such payment").to_status();
        let verdict = judge_status(&status);
        assert_eq!(
            verdict,
            Verdict::Rejected {
                code: status.code(),
                reason: wire_name(reason),
            }
        );
        assert_eq!(judge(&Outcome::Ok(vec![])), Verdict::Ok);
    }

    #[test]
    fn a_wrong_code_is_a_failure() {
        let good = ProtocolError::new(ErrorReason::NotFound, "x").to_status();
        let bad =
            tonic::Status::with_details(tonic::Code::Internal, "x", good.details().to_vec().into());
        assert!(judge_status(&bad).is_failure());
    }

    #[test]
    fn an_oversized_request_must_be_rejected_as_too_large() {
        let big = vec![0u8; ompp::limits::MAX_REQUEST_BYTES + 1];
        assert!(judge_input(&big, &Outcome::Ok(vec![])).is_failure());
        let other = ProtocolError::new(ErrorReason::InvalidField, "x").to_status();
        assert!(judge_input(&big, &Outcome::Status(other.clone())).is_failure());
        assert!(!judge_input(&[1], &Outcome::Status(other)).is_failure());
        let too_large = ProtocolError::new(ErrorReason::MessageTooLarge, "x").to_status();
        assert!(!judge_input(&big, &Outcome::Status(too_large)).is_failure());
    }

    #[test]
    fn the_mutator_is_deterministic_for_a_seed() {
        let seeds = vec![
            encode(&pb::CreatePaymentRequest {
                merchant_id: "m1".into(),
                customer_id: "c1".into(),
                amount: Some(money(5)),
                ..Default::default()
            }),
            encode(&pb::TopUpWalletRequest {
                amount: Some(money(500)),
                password: PASSWORD.into(),
                idempotency_key: "k".into(),
            }),
        ];
        let produce = |seed| {
            let mut mutator = Mutator::new(seed);
            (0..500)
                .map(|_| mutator.input(&seeds, &seeds))
                .collect::<Vec<_>>()
        };
        let a = produce(7);
        assert_eq!(a, produce(7));
        assert_ne!(a, produce(8));
        assert!(a.iter().any(|i| i.len() > 64 * 1024), "no oversized input");
        assert!(a.iter().all(|i| i.len() <= MAX_INPUT));
        assert!(a.iter().any(|i| !seeds.contains(i)));
    }

    #[test]
    fn field_parsing_round_trips_a_valid_encoding() {
        let bytes = encode(&pb::ConfirmPaymentRequest {
            payment_id: "p".into(),
            amount: Some(money(125)),
            password: "pw".into(),
        });
        let fields = parse_fields(&bytes).unwrap_or_default();
        assert_eq!(
            fields.iter().map(|f| f.number).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(fields.last().map(|f| f.end), Some(bytes.len()));
    }

    #[test]
    fn every_method_path_is_known() {
        for method in METHODS {
            assert_eq!(Method::from_path(&method.path()), Some(*method));
        }
        assert_eq!(METHODS.len(), 20);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
    }
}
