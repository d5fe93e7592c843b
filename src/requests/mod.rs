//! Every inbound request message, parsed into a validated domain value.
//!
//! "Parse, don't validate": a service handler calls [`Request::parse`] on the proto message it
//! received and works only with the domain value, or answers the [`ValidationError`] (which maps
//! to `INVALID_ARGUMENT` / `INVALID_FIELD` with every offending field named, OMPP-MSG-001).
//! [`Request::to_proto`] goes the other way, for clients; `parse(to_proto(x)) == x`.
//!
//! One module per service: [`registration`], [`merchant`], [`device`], [`link`], [`gateway`],
//! [`bank`], [`sms`]; shared pieces (line items, enums, currencies) in [`common`].

pub mod bank;
pub mod common;
pub mod device;
pub mod gateway;
pub mod link;
pub mod merchant;
pub mod registration;
pub mod sms;

use crate::limits::MAX_REQUEST_BYTES;
use crate::validation::{FieldPath, ValidationError, Validator, Violation};

/// A request message with a validated domain form.
pub trait Request: Sized {
    /// The wire message.
    type Proto: prost::Message + Default + Clone;

    /// Parses `proto`, reporting field errors into `v` with paths under `path` (so a relay can
    /// nest a device request under `request`). Returns `None` if any field was invalid.
    fn parse_at(v: &mut Validator, path: &FieldPath, proto: &Self::Proto) -> Option<Self>;

    /// The wire form of this value.
    fn to_proto(&self) -> Self::Proto;

    /// Parses a whole request message. A message larger than `MAX_REQUEST_BYTES` is refused
    /// before any field is looked at (OMPP-MSG-010).
    fn parse(proto: &Self::Proto) -> Result<Self, ValidationError> {
        let size = prost::Message::encoded_len(proto);
        if size > MAX_REQUEST_BYTES {
            return Err(ValidationError::single(
                FieldPath::root(""),
                Violation::MessageTooLarge {
                    max: MAX_REQUEST_BYTES,
                    actual: size,
                },
            ));
        }
        let mut v = Validator::new();
        match Self::parse_at(&mut v, &FieldPath::root(""), proto) {
            Some(value) => v.finish(value),
            None => Err(v.into_error()),
        }
    }
}
