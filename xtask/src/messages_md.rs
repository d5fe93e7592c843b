//! `spec/generated/messages.md`: the message reference, from the proto doc comments.

use std::collections::HashMap;
use std::fmt::Write as _;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    FileDescriptorSet,
};

// Field numbers inside descriptor.proto that source-info paths are made of.
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_ONEOF: i32 = 8;
const ENUM_VALUE: i32 = 2;
const SERVICE_METHOD: i32 = 2;

/// Leading comments of one file, by source-info path.
pub(crate) struct Comments(HashMap<Vec<i32>, String>);

impl Comments {
    pub(crate) fn of(file: &FileDescriptorProto) -> Self {
        let mut map = HashMap::new();
        if let Some(info) = &file.source_code_info {
            for location in &info.location {
                if let Some(comment) = &location.leading_comments {
                    let text = comment
                        .lines()
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" ")
                        .trim()
                        .to_owned();
                    map.insert(location.path.clone(), text);
                }
            }
        }
        Self(map)
    }

    pub(crate) fn get(&self, path: &[i32]) -> &str {
        self.0.get(path).map_or("", String::as_str)
    }
}

/// Escapes text for a Markdown table cell.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn type_name(field: &FieldDescriptorProto) -> String {
    let base = match field.r#type() {
        Type::Message | Type::Enum => {
            let name = field.type_name();
            let short = name
                .strip_prefix(".ompp.v1.")
                .unwrap_or(name.trim_start_matches('.'));
            if name.starts_with(".ompp.v1.") {
                format!("[`{short}`](#{})", short.to_lowercase())
            } else {
                format!("`{short}`")
            }
        }
        Type::String => "`string`".into(),
        Type::Bytes => "`bytes`".into(),
        Type::Bool => "`bool`".into(),
        Type::Int32 => "`int32`".into(),
        Type::Int64 => "`int64`".into(),
        Type::Uint32 => "`uint32`".into(),
        Type::Uint64 => "`uint64`".into(),
        other => format!(
            "`{}`",
            other
                .as_str_name()
                .trim_start_matches("TYPE_")
                .to_lowercase()
        ),
    };
    if field.label() == Label::Repeated {
        format!("repeated {base}")
    } else {
        base
    }
}

fn render_message(out: &mut String, message: &DescriptorProto, index: usize, comments: &Comments) {
    let path = [FILE_MESSAGE, i32::try_from(index).unwrap_or(i32::MAX)];
    let _ = writeln!(out, "### `{}`\n\n{}\n", message.name(), comments.get(&path));
    if message.field.is_empty() {
        out.push_str("No fields.\n\n");
        return;
    }
    out.push_str("| # | field | type | meaning |\n|---|---|---|---|\n");
    for (i, field) in message.field.iter().enumerate() {
        let mut field_path = path.to_vec();
        field_path.extend([MESSAGE_FIELD, i32::try_from(i).unwrap_or(i32::MAX)]);
        let mut meaning = cell(comments.get(&field_path));
        if let Some(oneof) = field.oneof_index {
            let name = message
                .oneof_decl
                .get(usize::try_from(oneof).unwrap_or(usize::MAX))
                .map_or("", |o| o.name());
            let _ = write!(meaning, " (one of `{name}`)");
        }
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            field.number(),
            field.name(),
            type_name(field),
            meaning
        );
    }
    for (i, oneof) in message.oneof_decl.iter().enumerate() {
        let mut oneof_path = path.to_vec();
        oneof_path.extend([MESSAGE_ONEOF, i32::try_from(i).unwrap_or(i32::MAX)]);
        let _ = writeln!(
            out,
            "\nOne of `{}`: {}",
            oneof.name(),
            comments.get(&oneof_path)
        );
    }
    out.push('\n');
}

fn render_enum(out: &mut String, e: &EnumDescriptorProto, index: usize, comments: &Comments) {
    let path = [FILE_ENUM, i32::try_from(index).unwrap_or(i32::MAX)];
    let _ = writeln!(out, "### `{}`\n\n{}\n", e.name(), comments.get(&path));
    out.push_str("| number | value | meaning |\n|---|---|---|\n");
    for (i, value) in e.value.iter().enumerate() {
        let mut value_path = path.to_vec();
        value_path.extend([ENUM_VALUE, i32::try_from(i).unwrap_or(i32::MAX)]);
        let _ = writeln!(
            out,
            "| {} | `{}` | {} |",
            value.number(),
            value.name(),
            cell(comments.get(&value_path))
        );
    }
    out.push('\n');
}

/// The whole reference, one section per `ompp/v1` file.
pub(crate) fn render(fds: &FileDescriptorSet) -> String {
    let mut out = String::from(
        "<!-- Generated by `cargo xtask generate` from proto/ompp/v1/*.proto. Do not edit. -->\n\n\
         # Message reference (`ompp.v1`)\n\n\
         Every service, RPC, message, field and enum value of the wire contract, with its doc \
         comment from `proto/`. Field numbers are the wire tags.\n\n",
    );
    let mut files: Vec<&FileDescriptorProto> = fds
        .file
        .iter()
        .filter(|f| f.name().starts_with("ompp/v1/"))
        .collect();
    files.sort_by_key(|f| f.name().to_owned());
    for file in files {
        let comments = Comments::of(file);
        let _ = writeln!(out, "## `{}`\n", file.name());
        for (si, service) in file.service.iter().enumerate() {
            let path = [FILE_SERVICE, i32::try_from(si).unwrap_or(i32::MAX)];
            let _ = writeln!(
                out,
                "### service `{}`\n\n{}\n",
                service.name(),
                comments.get(&path)
            );
            out.push_str("| RPC | request | response | meaning |\n|---|---|---|---|\n");
            for (mi, method) in service.method.iter().enumerate() {
                let mut method_path = path.to_vec();
                method_path.extend([SERVICE_METHOD, i32::try_from(mi).unwrap_or(i32::MAX)]);
                let link = |name: &str, streaming: bool| {
                    let short = name.trim_start_matches(".ompp.v1.");
                    let stream = if streaming { "stream " } else { "" };
                    format!("{stream}[`{short}`](#{})", short.to_lowercase())
                };
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    method.name(),
                    link(method.input_type(), method.client_streaming()),
                    link(method.output_type(), method.server_streaming()),
                    cell(comments.get(&method_path))
                );
            }
            out.push('\n');
        }
        for (i, message) in file.message_type.iter().enumerate() {
            render_message(&mut out, message, i, &comments);
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            render_enum(&mut out, e, i, &comments);
        }
    }
    out
}
