//! The gRPC codec of every `ompp.v1` service: prost encoding, with two rules applied to a
//! request as it arrives, before any handler sees it (the generated code uses [`OmppCodec`]
//! through `codec_path` in `build.rs`, so servers and clients cannot forget them):
//!
//! - OMPP-MSG-010: a request larger than `MAX_REQUEST_BYTES` *as received* (unknown fields and
//!   repeated occurrences of a field count, although decoding drops them) is refused with
//!   `RESOURCE_EXHAUSTED` / `MESSAGE_TOO_LARGE` before it is decoded;
//! - OMPP-MSG-018: bytes that are not a valid encoding of the message are refused with
//!   `INVALID_ARGUMENT` / `INVALID_FIELD` naming the field the decoder was in, never with a
//!   bare `INTERNAL` (prost's default).
//!
//! Requests are told from responses by name: buf lint (STANDARD) requires every RPC's request
//! message to be named `<Method>Request` and its response `<Method>Response`, so the size
//! limit never applies to a response a client decodes.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

use crate::error::ProtocolError;
use crate::limits::MAX_REQUEST_BYTES;
use crate::validation::{FieldPath, ValidationError, Violation};

/// The codec: [`ProstEncoder`] out, [`OmppDecoder`] in.
#[derive(Debug, Clone)]
pub struct OmppCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for OmppCodec<T, U> {
    fn default() -> Self {
        Self {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for OmppCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = OmppDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        OmppDecoder { _type: PhantomData }
    }
}

/// Decodes `U`, applying OMPP-MSG-010 (to requests) and OMPP-MSG-018.
#[derive(Debug, Clone)]
pub struct OmppDecoder<U> {
    _type: PhantomData<U>,
}

/// Whether `U` is a request message (see the module documentation).
fn is_request<U>() -> bool {
    std::any::type_name::<U>().ends_with("Request")
}

impl<U: Message + Default> Decoder for OmppDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let size = prost::bytes::Buf::remaining(buf);
        if size > MAX_REQUEST_BYTES && is_request::<U>() {
            let error = ValidationError::single(
                FieldPath::root(""),
                Violation::MessageTooLarge {
                    max: MAX_REQUEST_BYTES,
                    actual: size,
                },
            );
            return Err(ProtocolError::from(error).to_status());
        }
        U::decode(buf)
            .map(Some)
            .map_err(|error| undecodable(&error).to_status())
    }
}

/// The `INVALID_FIELD` error for a decode failure (OMPP-MSG-018).
pub fn undecodable(error: &prost::DecodeError) -> ProtocolError {
    let (path, reason) = decode_error_parts(&error.to_string());
    ProtocolError::from(ValidationError::single(
        path,
        Violation::Undecodable { reason },
    ))
}

/// Splits prost's `failed to decode Protobuf message: Inner.field: Outer.inner: reason` (the
/// innermost field first) into the field path `inner.field` and the reason.
fn decode_error_parts(text: &str) -> (FieldPath, String) {
    let mut rest = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(text);
    let mut fields = Vec::new();
    while let Some((segment, tail)) = rest.split_once(": ") {
        let Some((_, field)) = segment.split_once('.') else {
            break;
        };
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            break;
        }
        fields.push(field);
        rest = tail;
    }
    let path = fields
        .iter()
        .rev()
        .fold(None, |path: Option<FieldPath>, field| {
            Some(match path {
                None => FieldPath::root(field),
                Some(p) => p.child(field),
            })
        })
        .unwrap_or_else(|| FieldPath::root(""));
    (path, rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;

    fn decode_error<M: Message + Default>(bytes: &[u8]) -> ProtocolError {
        match M::decode(bytes) {
            Ok(_) => panic!("decoded"),
            Err(error) => undecodable(&error),
        }
    }

    #[test]
    fn a_truncated_string_names_its_field() {
        // Field 1 (merchant_id), length 6, but no bytes follow.
        let error = decode_error::<pb::GetPaymentRequest>(&[0x0a, 0x06]);
        assert_eq!(error.reason, pb::ErrorReason::InvalidField);
        assert_eq!(
            error.metadata.get("field").map(String::as_str),
            Some("merchant_id")
        );
        assert_eq!(error.field_violations.len(), 1);
        assert!(
            error.field_violations[0]
                .description
                .contains("buffer underflow"),
            "{error:?}"
        );
        let status = error.to_status();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(ProtocolError::from_status(&status), Ok(error));
    }

    #[test]
    fn a_nested_field_gets_its_whole_path() {
        // CreatePaymentRequest.amount (field 3) holding Money.currency (field 1) that is not
        // UTF-8.
        let money = [0x0a, 0x02, 0xff, 0xfe];
        let mut bytes = vec![0x1a, u8::try_from(money.len()).expect("small")];
        bytes.extend_from_slice(&money);
        let error = decode_error::<pb::CreatePaymentRequest>(&bytes);
        assert_eq!(
            error.metadata.get("field").map(String::as_str),
            Some("amount.currency"),
            "{error:?}"
        );
    }

    #[test]
    fn an_invalid_wire_type_is_reported_on_the_message() {
        // Tag with wire type 7, which does not exist.
        let error = decode_error::<pb::GetPaymentRequest>(&[0x0f]);
        assert_eq!(error.reason, pb::ErrorReason::InvalidField);
        assert_eq!(error.metadata.get("field").map(String::as_str), Some(""));
    }

    #[test]
    fn requests_and_responses_are_told_apart() {
        assert!(is_request::<pb::CreatePaymentRequest>());
        assert!(!is_request::<pb::CreatePaymentResponse>());
        assert!(!is_request::<pb::SubscribeResponse>());
    }
}
