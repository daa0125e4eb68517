//! Test helpers for crates that own schemas: an independent canonicalizer, a field shuffler,
//! and a round-trip check that uses both.
//!
//! The canonicalizer works on wire records, guided only by the schema (a descriptor set): it
//! parses a message into `(field number, value)` records, canonicalizes nested messages, sorts
//! the records by field number (keeping the order of a repeated field's elements) and writes
//! them back with minimal varints. Comparing its output with [`crate::encode`] checks the claim
//! that prost's encoding of our schemas is canonical.

use std::fmt::Debug;

use anyhow::{Context as _, bail};
use prost::{
    Message as _,
    bytes::Buf as _,
    encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint},
};
use prost_reflect::Kind;
pub use prost_reflect::{DescriptorPool, MessageDescriptor};
use rand::{Rng, RngExt as _};

use crate::{ProtoFmt, decode, encode};

enum Value {
    Varint(u64),
    I64([u8; 8]),
    I32([u8; 4]),
    Len(Vec<u8>),
}

struct Record {
    number: u32,
    value: Value,
}

fn parse(mut bytes: &[u8]) -> anyhow::Result<Vec<Record>> {
    let mut out = vec![];
    while !bytes.is_empty() {
        let (number, wire) = decode_key(&mut bytes)?;
        let value = match wire {
            WireType::Varint => Value::Varint(decode_varint(&mut bytes)?),
            WireType::SixtyFourBit => {
                anyhow::ensure!(bytes.len() >= 8, "truncated fixed64");
                let v = bytes[..8].try_into()?;
                bytes.advance(8);
                Value::I64(v)
            }
            WireType::ThirtyTwoBit => {
                anyhow::ensure!(bytes.len() >= 4, "truncated fixed32");
                let v = bytes[..4].try_into()?;
                bytes.advance(4);
                Value::I32(v)
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut bytes)?)?;
                anyhow::ensure!(bytes.len() >= len, "truncated length-delimited field");
                let v = bytes[..len].to_vec();
                bytes.advance(len);
                Value::Len(v)
            }
            WireType::StartGroup | WireType::EndGroup => bail!("groups are not supported"),
        };
        out.push(Record { number, value });
    }
    Ok(out)
}

fn emit(records: &[Record]) -> Vec<u8> {
    let mut out = vec![];
    for r in records {
        match &r.value {
            Value::Varint(v) => {
                encode_key(r.number, WireType::Varint, &mut out);
                encode_varint(*v, &mut out);
            }
            Value::I64(v) => {
                encode_key(r.number, WireType::SixtyFourBit, &mut out);
                out.extend_from_slice(v);
            }
            Value::I32(v) => {
                encode_key(r.number, WireType::ThirtyTwoBit, &mut out);
                out.extend_from_slice(v);
            }
            Value::Len(v) => {
                encode_key(r.number, WireType::LengthDelimited, &mut out);
                encode_varint(v.len() as u64, &mut out);
                out.extend_from_slice(v);
            }
        }
    }
    out
}

type NestedFn<'a> = dyn FnMut(&MessageDescriptor, &[u8]) -> anyhow::Result<Vec<u8>> + 'a;

/// Applies `f` to the bytes of every field of `desc` that holds a message.
fn map_nested(
    desc: &MessageDescriptor,
    records: &mut [Record],
    f: &mut NestedFn<'_>,
) -> anyhow::Result<()> {
    for r in records {
        let field = desc
            .get_field(r.number)
            .with_context(|| format!("{}: unknown field {}", desc.full_name(), r.number))?;
        if let (Kind::Message(m), Value::Len(bytes)) = (field.kind(), &mut r.value) {
            *bytes = f(&m, bytes).with_context(|| field.name().to_string())?;
        }
    }
    Ok(())
}

/// The canonical encoding (protocol.md 4.1) of a message given as any valid encoding.
pub fn canonicalize(desc: &MessageDescriptor, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut records = parse(bytes)?;
    map_nested(desc, &mut records, &mut |d, b| canonicalize(d, b))?;
    // Stable: the elements of a repeated field keep their order.
    records.sort_by_key(|r| r.number);
    Ok(emit(&records))
}

/// A valid non-canonical encoding of the same message: fields (recursively) in random order,
/// except that the elements of each repeated field keep their relative order.
pub fn shuffle(
    desc: &MessageDescriptor,
    bytes: &[u8],
    rng: &mut (impl Rng + ?Sized),
) -> anyhow::Result<Vec<u8>> {
    let mut records = parse(bytes)?;
    let mut sub_rngs: Vec<u64> = (0..records.len()).map(|_| rng.next_u64()).collect();
    map_nested(desc, &mut records, &mut |d, b| {
        let mut r =
            <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(sub_rngs.pop().unwrap_or(0));
        shuffle(d, b, &mut r)
    })?;
    // A random interleaving of the per-field queues.
    let mut queues: Vec<std::collections::VecDeque<Record>> = vec![];
    for r in records {
        match queues
            .iter_mut()
            .find(|q| q.front().is_some_and(|f| f.number == r.number))
        {
            Some(q) => q.push_back(r),
            None => queues.push([r].into()),
        }
    }
    let mut out = vec![];
    while !queues.is_empty() {
        let i = rng.random_range(0..queues.len());
        out.extend(queues[i].pop_front());
        if queues[i].is_empty() {
            queues.swap_remove(i);
        }
    }
    Ok(emit(&out))
}

/// The descriptor of `T`'s message in the descriptor set `descriptor_set`.
pub fn descriptor<T: ProtoFmt>(descriptor_set: &[u8]) -> MessageDescriptor
where
    T::Proto: prost::Name,
{
    let pool = DescriptorPool::decode(descriptor_set).expect("valid descriptor set");
    let name = <T::Proto as prost::Name>::full_name();
    pool.get_message_by_name(&name)
        .unwrap_or_else(|| panic!("{name} not in the descriptor set"))
}

/// Checks the encoding of `x`: it decodes back to `x`, equals the independent canonical form,
/// and a shuffled encoding decodes to `x` and re-encodes to the same bytes.
pub fn test_encode<T>(rng: &mut (impl Rng + ?Sized), descriptor_set: &[u8], x: &T)
where
    T: ProtoFmt + PartialEq + Debug,
    T::Proto: prost::Name,
{
    let desc = descriptor::<T>(descriptor_set);
    let bytes = encode(x);
    let back: T = decode(&bytes).unwrap_or_else(|e| panic!("decoding {x:?}: {e}"));
    assert_eq!(&back, x, "round trip");
    assert_eq!(
        canonicalize(&desc, &bytes).unwrap(),
        bytes,
        "encoding of {x:?} is not canonical"
    );
    let shuffled = shuffle(&desc, &bytes, rng).unwrap();
    let back: T = decode(&shuffled).unwrap();
    assert_eq!(&back, x, "shuffled round trip");
    assert_eq!(encode(&back), bytes, "re-encoding of a shuffled message");
    // The generated struct re-encodes identically too (no field dropped by `read`).
    assert_eq!(T::Proto::decode(&bytes[..]).unwrap().encode_to_vec(), bytes);
}
