//! The mutator: seeded changes to valid protobuf encodings.

use super::*;

/// One top-level protobuf field as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    /// Byte range of the whole field (tag included).
    pub(super) start: usize,
    pub(super) end: usize,
    /// Field number and wire type.
    pub(super) number: u64,
    pub(super) wire_type: u8,
    /// Byte range of a length-delimited field's content.
    pub(super) content: Option<(usize, usize)>,
}

pub(super) fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
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

pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
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

pub(super) fn put_tag(out: &mut Vec<u8>, number: u64, wire_type: u8) {
    put_varint(out, (number << 3) | u64::from(wire_type));
}

/// The top-level fields of `bytes`, when it parses as a protobuf message.
pub(super) fn parse_fields(bytes: &[u8]) -> Option<Vec<Field>> {
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
    pub(super) rng: StdRng,
}

/// Interesting varint values.
pub(super) const EDGE_VARINTS: &[u64] = &[
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

    pub(super) fn random_bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.rng.random::<u8>()).collect()
    }

    pub(super) fn varint_value(&mut self) -> u64 {
        if self.rng.random_bool(0.5) {
            EDGE_VARINTS[self.below(EDGE_VARINTS.len())]
        } else {
            self.rng.random::<u64>() >> self.below(64)
        }
    }

    /// A mutation that keeps `data` a valid protobuf encoding when it was one: a string field
    /// replaced by a troublesome valid UTF-8 string, an edge value in a varint field, a
    /// well-formed unknown field, or a field repeated past 64 KiB.
    pub(super) fn mutate_structure(&mut self, mut data: Vec<u8>, choice: usize) -> Vec<u8> {
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
    pub(super) fn nasty_string(&mut self) -> String {
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
