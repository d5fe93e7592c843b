//! EMVCo data objects: two-digit id, two-digit decimal length, value (OMPP-CODE-001).

use super::error::DecodeError;

/// One data object as found in a payload or template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataObject<'a> {
    /// The two-digit id as a number.
    pub(crate) id: u8,
    /// Byte position of the id in the whole payload.
    pub(crate) position: usize,
    /// The value.
    pub(crate) value: &'a str,
    /// Byte position of the value in the whole payload.
    pub(crate) value_position: usize,
}

/// Reads the data objects of `text`, which starts at byte `base` of the payload and is the
/// value of `template` (`None` at the top level). Stops after the first error.
#[derive(Debug)]
pub(crate) struct Parser<'a> {
    text: &'a str,
    offset: usize,
    base: usize,
    template: Option<u8>,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, base: usize, template: Option<u8>) -> Self {
        Self {
            text,
            offset: 0,
            base,
            template,
        }
    }

    fn step(&mut self) -> Result<DataObject<'a>, DecodeError> {
        let template = self.template;
        let position = self.base + self.offset;
        let rest = self.text.as_bytes().get(self.offset..).unwrap_or_default();
        let truncated = DecodeError::Truncated { position, template };
        let (Some(&i0), Some(&i1)) = (rest.first(), rest.get(1)) else {
            return Err(truncated);
        };
        let id = two_digits(i0, i1).ok_or(DecodeError::BadId { position, template })?;
        let (Some(&l0), Some(&l1)) = (rest.get(2), rest.get(3)) else {
            return Err(truncated);
        };
        let bad_length = DecodeError::BadLength {
            position: position + 2,
            template,
        };
        let length = usize::from(two_digits(l0, l1).ok_or(bad_length.clone())?);
        if length == 0 {
            return Err(bad_length);
        }
        let start = self.offset + 4;
        let end = start + length;
        if end > self.text.len() {
            return Err(truncated);
        }
        // The payload is checked to be ASCII before parsing; a non-boundary is still an error,
        // never a panic.
        let value = self
            .text
            .get(start..end)
            .ok_or(DecodeError::BadCharacter { position })?;
        self.offset = end;
        Ok(DataObject {
            id,
            position,
            value,
            value_position: self.base + start,
        })
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<DataObject<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.text.len() {
            return None;
        }
        let item = self.step();
        if item.is_err() {
            self.offset = self.text.len();
        }
        Some(item)
    }
}

fn two_digits(a: u8, b: u8) -> Option<u8> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some((a - b'0') * 10 + (b - b'0'))
    } else {
        None
    }
}

/// Appends the data object `id` with `value` to `out`. The caller guarantees 1 to 99 characters.
pub(crate) fn push(out: &mut String, id: u8, value: &str) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(out, "{id:02}{:02}{value}", value.len());
}

/// The data object `id` with `value`, as text.
pub(crate) fn object(id: u8, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    push(&mut out, id, value);
    out
}
