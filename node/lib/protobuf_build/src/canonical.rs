//! The check that a schema's prost encoding is canonical (protocol.md 4.1).
//!
//! prost writes the fields of a message in ascending tag order (a oneof as one unit), varints
//! minimally, and a present `optional` field even when it holds a zero value. So a message's
//! prost encoding is the canonical one when:
//! - the file is proto3 and has no groups, maps or `required` fields;
//! - every singular field has explicit presence (`optional`, or a oneof member);
//! - no repeated field is numeric (canonical form writes one element unpacked, prost packs);
//! - no oneof's tags interleave with other fields of the same message (prost would write the
//!   whole oneof at the position of its smallest tag).
//!
//! Schemas that break a rule fail the build with a message naming the field.

use anyhow::{Context as _, bail, ensure};
use prost_types::{
    DescriptorProto, FileDescriptorProto,
    field_descriptor_proto::{Label, Type},
};

/// Checks every message of a file.
pub fn check_file(file: &FileDescriptorProto) -> anyhow::Result<()> {
    ensure!(
        file.syntax() == "proto3",
        "{}: only proto3 is supported, got {:?}",
        file.name(),
        file.syntax()
    );
    for msg in &file.message_type {
        check_message(msg, &format!("{}.{}", file.package(), msg.name()))
            .with_context(|| file.name().to_string())?;
    }
    Ok(())
}

fn check_message(msg: &DescriptorProto, path: &str) -> anyhow::Result<()> {
    if msg.options.as_ref().is_some_and(|o| o.map_entry()) {
        bail!("{path}: map fields are not canonical");
    }
    for nested in &msg.nested_type {
        check_message(nested, &format!("{path}.{}", nested.name()))?;
    }
    // Real (non-synthetic) oneofs: indices of oneofs that are not `proto3_optional` wrappers.
    let mut real_oneofs = std::collections::BTreeSet::new();
    for field in &msg.field {
        let name = format!("{path}.{}", field.name());
        ensure!(
            field.r#type() != Type::Group,
            "{name}: groups are not supported"
        );
        match field.label() {
            Label::Required => bail!("{name}: `required` is not proto3"),
            Label::Repeated => ensure!(
                matches!(field.r#type(), Type::String | Type::Bytes | Type::Message),
                "{name}: repeated numeric fields are not canonical (prost packs a single \
                 element); use a repeated message"
            ),
            Label::Optional => {
                let explicit = field.proto3_optional() || field.oneof_index.is_some();
                ensure!(
                    explicit,
                    "{name}: singular fields need explicit presence (`optional` or a oneof)"
                );
                if !field.proto3_optional()
                    && let Some(i) = field.oneof_index
                {
                    real_oneofs.insert(i);
                }
            }
        }
    }
    // A oneof must occupy a contiguous run of tags among the message's fields.
    let mut by_tag: Vec<(i32, Option<i32>)> = msg
        .field
        .iter()
        .map(|f| {
            let oneof = f.oneof_index.filter(|i| real_oneofs.contains(i));
            (f.number(), oneof)
        })
        .collect();
    by_tag.sort();
    for oneof in real_oneofs {
        let positions: Vec<usize> = by_tag
            .iter()
            .enumerate()
            .filter(|(_, (_, o))| *o == Some(oneof))
            .map(|(i, _)| i)
            .collect();
        if let (Some(first), Some(last)) = (positions.first(), positions.last()) {
            ensure!(
                last - first + 1 == positions.len(),
                "{path}: oneof #{oneof} has tags interleaved with other fields; prost would not \
                 write them in tag order"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prost_types::{FieldDescriptorProto, OneofDescriptorProto};

    use super::*;

    fn field(name: &str, number: i32, label: Label, ty: Type) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(ty as i32),
            ..Default::default()
        }
    }

    fn file(msg: DescriptorProto) -> FileDescriptorProto {
        FileDescriptorProto {
            name: Some("t.proto".into()),
            package: Some("t".into()),
            syntax: Some("proto3".into()),
            message_type: vec![msg],
            ..Default::default()
        }
    }

    fn optional(name: &str, number: i32, ty: Type) -> FieldDescriptorProto {
        FieldDescriptorProto {
            proto3_optional: Some(true),
            oneof_index: None,
            ..field(name, number, Label::Optional, ty)
        }
    }

    #[test]
    fn accepts_canonical_schemas() {
        let msg = DescriptorProto {
            name: Some("M".into()),
            field: vec![
                optional("a", 1, Type::Uint64),
                field("b", 2, Label::Repeated, Type::Bytes),
                field("c", 3, Label::Repeated, Type::Message),
            ],
            ..Default::default()
        };
        check_file(&file(msg)).unwrap();
    }

    #[test]
    fn rejects_implicit_presence_repeated_scalars_and_interleaved_oneofs() {
        let implicit = DescriptorProto {
            name: Some("M".into()),
            field: vec![field("a", 1, Label::Optional, Type::Uint64)],
            ..Default::default()
        };
        let err = check_file(&file(implicit)).unwrap_err();
        assert!(format!("{err:#}").contains("t.M.a"), "{err:#}");

        let packed = DescriptorProto {
            name: Some("M".into()),
            field: vec![field("xs", 1, Label::Repeated, Type::Uint32)],
            ..Default::default()
        };
        assert!(check_file(&file(packed)).is_err());

        let in_oneof = |name: &str, number| FieldDescriptorProto {
            oneof_index: Some(0),
            ..field(name, number, Label::Optional, Type::Bytes)
        };
        let interleaved = DescriptorProto {
            name: Some("M".into()),
            field: vec![
                in_oneof("x", 1),
                optional("y", 2, Type::Uint64),
                in_oneof("z", 3),
            ],
            oneof_decl: vec![OneofDescriptorProto {
                name: Some("t".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let err = check_file(&file(interleaved)).unwrap_err();
        assert!(format!("{err:#}").contains("interleaved"), "{err:#}");

        let proto2 = FileDescriptorProto {
            syntax: Some("proto2".into()),
            ..file(DescriptorProto::default())
        };
        assert!(check_file(&proto2).is_err());
    }
}
