//! What is generated, from what, and the staleness and citation checks.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ompp::requirements::{self, Requirement};
use prost::Message;
use schemars::JsonSchema;

/// A generated file: its path relative to the repository root, and its content.
pub(crate) struct Generated {
    pub(crate) path: PathBuf,
    pub(crate) content: String,
}

fn schema<T: JsonSchema>(name: &str) -> io::Result<Generated> {
    let schema = schemars::schema_for!(T);
    let mut content = serde_json::to_string_pretty(&schema).map_err(io::Error::other)?;
    content.push('\n');
    Ok(Generated {
        path: PathBuf::from(format!("spec/schemas/{name}.schema.json")),
        content,
    })
}

/// The JSON Schemas of the domain types and of the conformance formats.
fn schemas() -> io::Result<Vec<Generated>> {
    use ompp::conformance::{EvidenceIndex, Manifest, Report, Transcript};
    use ompp::money::{Amount, Money};
    use ompp::requests::common::LineItem;
    use ompp::types::{BankAccountRef, PartyIdentity, PhoneNumber};
    Ok(vec![
        schema::<Money>("money")?,
        schema::<Amount>("amount")?,
        schema::<LineItem>("line-item")?,
        schema::<BankAccountRef>("bank-account-ref")?,
        schema::<PhoneNumber>("phone-number")?,
        schema::<PartyIdentity>("party-identity")?,
        schema::<Vec<Requirement>>("requirements")?,
        schema::<Manifest>("conformance-manifest")?,
        schema::<Report>("conformance-report")?,
        schema::<Transcript>("conformance-transcript")?,
        schema::<EvidenceIndex>("conformance-evidence")?,
    ])
}

/// The hand-written spec chapters: `spec/*.md`, sorted, with their contents.
fn chapters(root: &Path) -> io::Result<Vec<(String, String)>> {
    let mut chapters = Vec::new();
    for entry in fs::read_dir(root.join("spec"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "md") {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            chapters.push((name, fs::read_to_string(&path)?));
        }
    }
    chapters.sort();
    Ok(chapters)
}

/// Every requirement of every chapter, in chapter order; a malformed item is an error.
pub(crate) fn extract_requirements(root: &Path) -> io::Result<Vec<Requirement>> {
    let mut all = Vec::new();
    for (name, text) in chapters(root)? {
        all.extend(requirements::extract(&name, &text).map_err(io::Error::other)?);
    }
    Ok(all)
}

pub(crate) fn descriptor_set() -> io::Result<prost_types::FileDescriptorSet> {
    prost_types::FileDescriptorSet::decode(ompp::proto::FILE_DESCRIPTOR_SET)
        .map_err(io::Error::other)
}

/// Every generated file with the content it should have now.
pub(crate) fn expected(root: &Path) -> io::Result<Vec<Generated>> {
    let requirements = extract_requirements(root)?;
    let fds = descriptor_set()?;
    let mut files = schemas()?;
    let mut registry = serde_json::to_string_pretty(&requirements).map_err(io::Error::other)?;
    registry.push('\n');
    files.push(Generated {
        path: PathBuf::from("spec/requirements.json"),
        content: registry,
    });
    files.push(Generated {
        path: PathBuf::from("spec/generated/requirements.md"),
        content: crate::requirements_md::render(&requirements),
    });
    files.push(Generated {
        path: PathBuf::from("spec/generated/errors.md"),
        content: crate::catalogue_md::render(&fds),
    });
    files.push(Generated {
        path: PathBuf::from("spec/generated/messages.md"),
        content: crate::messages_md::render(&fds),
    });
    Ok(files)
}

/// Writes every generated file; returns the paths written.
pub(crate) fn write_all(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in expected(root)? {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, &file.content)?;
        written.push(file.path);
    }
    let ledger_path = root.join(crate::ledger::PATH);
    let ledger = fs::read_to_string(&ledger_path).unwrap_or_default();
    let requirements = extract_requirements(root)?;
    let updated = crate::ledger::appended(&ledger, requirements.iter().map(|r| r.id.as_str()));
    if updated != ledger {
        fs::write(&ledger_path, updated)?;
        written.push(PathBuf::from(crate::ledger::PATH));
    }
    Ok(written)
}

/// Source files whose requirement citations must name defined ids.
fn cited_sources(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack: Vec<PathBuf> = [
        "src",
        "reference-server",
        "reference-clients",
        "conformance",
        "fuzz",
        "proto",
    ]
    .iter()
    .map(|d| root.join(d))
    .filter(|p| p.exists())
    .collect();
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && name != "snapshots" && name != "corpus" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every problem: stale generated files, requirement ids cited in code or spec text but defined
/// nowhere, issued ids dropped, and the specification's version against the released one
/// (OMPP-VER-008). Empty when all is well.
pub(crate) fn check_all(root: &Path) -> io::Result<Vec<String>> {
    let mut problems = Vec::new();
    for file in expected(root)? {
        let on_disk = fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        if on_disk != file.content {
            problems.push(format!(
                "stale: {} (run `cargo xtask generate`)",
                file.path.display()
            ));
        }
    }

    let requirements = extract_requirements(root)?;
    let mut defined = BTreeSet::new();
    for r in &requirements {
        if !defined.insert(r.id.as_str()) {
            problems.push(format!("{} is defined more than once", r.id));
        }
    }
    let mut cite = |origin: &str, text: &str| {
        for id in requirements::find_ids(text) {
            if !defined.contains(id) {
                problems.push(format!(
                    "{origin} cites {id}, which no spec chapter defines"
                ));
            }
        }
    };
    for path in cited_sources(root)? {
        let text = fs::read_to_string(&path)?;
        let origin = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        cite(&origin, &text);
    }
    for (name, text) in chapters(root)? {
        cite(&format!("spec/{name}"), &text);
    }
    let ledger = fs::read_to_string(root.join(crate::ledger::PATH)).unwrap_or_default();
    problems.extend(crate::ledger::problems(&ledger, &defined));
    problems.extend(crate::version::check(
        root,
        &requirements,
        &descriptor_set()?,
    )?);
    problems.sort();
    problems.dedup();
    Ok(problems)
}
