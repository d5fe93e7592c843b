//! The specification's version against the last released one (OMPP-VER-008).
//!
//! The version lives in one place, the status line of `spec/README.md` (`**Status:** ...,
//! version X.Y.Z.`); the introduction repeats it and must agree. It is a semantic version
//! `MAJOR.MINOR.PATCH`: before 1.0.0 the package is `ompp.v1`; from 1.0.0 on MAJOR is the N of
//! the newest proto package `ompp.vN`, so the major version changes exactly with a new package.
//!
//! [`PATH`] records what the last released version defined: its version, package, requirement
//! ids (and which are withdrawn), RPCs, message fields and `ErrorReason` values. `cargo xtask
//! check` compares the tree with it: whatever was added or newly withdrawn since needs a greater
//! minor (or major) version than the recorded one, as does, before 1.0.0, a withdrawn or
//! replaced requirement (spec chapter 10); an RPC, field or reason is never removed within a
//! package. A patch version changes none of them, which is all a tool can tell of "editorial".
//!
//! Workflow: while preparing a release, raise the version in `spec/README.md` and
//! `spec/00-introduction.md` once, at the first addition; `cargo xtask release` then records
//! the tree as the new baseline, and refuses to when the check above fails, so it cannot hide
//! an addition. `cargo xtask generate` never writes the baseline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use prost_types::{DescriptorProto, FileDescriptorSet};

/// Where the baseline lives, from the repository root.
pub(crate) const PATH: &str = "spec/version-baseline.txt";

/// Where the version is written, and where it is repeated.
const README: &str = "spec/README.md";
const INTRODUCTION: &str = "spec/00-introduction.md";

/// A semantic version `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
}

impl Version {
    /// Parses `MAJOR.MINOR.PATCH`: three decimal numbers without leading zeros.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(|part| {
            let number = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if number { part.parse().ok() } else { None }
        });
        let version = Self {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }

    /// The next minor version: what an addition needs.
    fn next_minor(self) -> Self {
        Self {
            major: self.major,
            minor: self.minor + 1,
            patch: 0,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// What a version of the specification defines, in the kinds the baseline records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The version, as written (it may fail to parse).
    pub(crate) version: String,
    /// The newest proto package, `ompp.vN`.
    pub(crate) package: String,
    /// Per kind (`requirement`, `withdrawn`, `rpc`, `field`, `reason`), the names defined.
    pub(crate) sets: BTreeMap<&'static str, BTreeSet<String>>,
}

/// The kinds, in file order, with what each records.
const KINDS: [(&str, &str); 5] = [
    ("requirement", "a requirement id"),
    ("withdrawn", "a requirement id marked withdrawn"),
    ("rpc", "an RPC, `Service.Method`"),
    (
        "field",
        "a message field, `Message.field` (nested: `Outer.Inner.field`)",
    ),
    ("reason", "an `ErrorReason` value"),
];

fn kind(name: &str) -> Option<&'static str> {
    KINDS.iter().map(|(k, _)| *k).find(|k| *k == name)
}

impl Snapshot {
    fn set(&self, kind: &str) -> impl Iterator<Item = &String> {
        self.sets.get(kind).into_iter().flatten()
    }

    /// The baseline file's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# What the last released version of the specification defined (OMPP-VER-008).\n\
             # `cargo xtask check` fails when the tree adds to it, or withdraws a requirement,\n\
             # without a greater minor version in spec/README.md; `cargo xtask release` rewrites\n\
             # this file, and refuses to while that check fails. Not edited by hand.\n",
        );
        for (kind, what) in KINDS {
            out.push_str(&format!("# {kind}: {what}\n"));
        }
        out.push_str(&format!(
            "version {}\npackage {}\n",
            self.version, self.package
        ));
        for (kind, _) in KINDS {
            for name in self.set(kind) {
                out.push_str(&format!("{kind} {name}\n"));
            }
        }
        out
    }

    /// Reads a baseline file; `Err` names the first line that is not `kind value`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut snapshot = Self::default();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = || format!("{PATH}:{}: not `kind value`: {line}", number + 1);
            let (key, value) = line.split_once(' ').ok_or_else(bad)?;
            let value = value.trim().to_owned();
            match key {
                "version" => snapshot.version = value,
                "package" => snapshot.package = value,
                other => {
                    let kind = kind(other).ok_or_else(bad)?;
                    snapshot.sets.entry(kind).or_default().insert(value);
                }
            }
        }
        if snapshot.version.is_empty() || snapshot.package.is_empty() {
            return Err(format!("{PATH} records no version or no package"));
        }
        Ok(snapshot)
    }
}

/// The version in the README's status line (`... version X.Y.Z.`), as written.
pub(crate) fn written_version(readme: &str) -> Option<String> {
    let status = readme
        .lines()
        .find(|l| l.trim_start().starts_with("**Status:**"))?;
    let after = status.split("version ").nth(1)?;
    let token = after.split_whitespace().next()?;
    Some(token.strip_suffix('.').unwrap_or(token).to_owned())
}

/// The packages of the proto files under `proto/` (`package x;` lines).
fn proto_packages(root: &Path) -> io::Result<BTreeSet<String>> {
    let mut packages = BTreeSet::new();
    let mut stack = vec![root.join("proto")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                let text = fs::read_to_string(&path)?;
                for line in text.lines() {
                    if let Some(rest) = line.trim().strip_prefix("package ") {
                        packages.insert(rest.trim_end_matches(';').trim().to_owned());
                    }
                }
            }
        }
    }
    Ok(packages)
}

/// N of `ompp.vN`.
fn package_major(package: &str) -> Option<u64> {
    let n = package.strip_prefix("ompp.v")?;
    Version::parse(&format!("{n}.0.0")).map(|v| v.major)
}

/// The newest `ompp.vN` of `packages`, or a problem.
fn newest_package(packages: &BTreeSet<String>) -> Result<String, String> {
    let mut newest: Option<(u64, &String)> = None;
    for package in packages {
        let n = package_major(package)
            .ok_or_else(|| format!("proto package `{package}` is not `ompp.vN` (OMPP-VER-008)"))?;
        if newest.is_none_or(|(m, _)| n > m) {
            newest = Some((n, package));
        }
    }
    newest
        .map(|(_, p)| p.clone())
        .ok_or_else(|| "no proto file declares a package".to_owned())
}

/// Whether a requirement statement marks it withdrawn (as `ompp-conformance` reads it).
fn is_withdrawn(statement: &str) -> bool {
    statement.starts_with("*(withdrawn")
}

fn fields(prefix: &str, message: &DescriptorProto, into: &mut BTreeSet<String>) {
    let name = if prefix.is_empty() {
        message.name().to_owned()
    } else {
        format!("{prefix}.{}", message.name())
    };
    for field in &message.field {
        into.insert(format!("{name}.{}", field.name()));
    }
    for nested in &message.nested_type {
        fields(&name, nested, into);
    }
}

/// The snapshot of the tree: `version` as written, the requirements, and the wire contract.
pub(crate) fn snapshot(
    version: String,
    package: String,
    requirements: &[ompp::requirements::Requirement],
    fds: &FileDescriptorSet,
) -> Snapshot {
    let mut sets: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for (kind, _) in KINDS {
        sets.insert(kind, BTreeSet::new());
    }
    let mut add = |kind: &'static str, name: String| {
        sets.entry(kind).or_default().insert(name);
    };
    for r in requirements {
        add("requirement", r.id.clone());
        if is_withdrawn(&r.statement) {
            add("withdrawn", r.id.clone());
        }
    }
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                add("rpc", format!("{}.{}", service.name(), method.name()));
            }
        }
        let mut names = BTreeSet::new();
        for message in &file.message_type {
            fields("", message, &mut names);
        }
        for name in names {
            add("field", name);
        }
        for e in file.enum_type.iter().filter(|e| e.name() == "ErrorReason") {
            for value in &e.value {
                add("reason", value.name().to_owned());
            }
        }
    }
    Snapshot {
        version,
        package,
        sets,
    }
}

/// The names of `kind` in `a` and not in `b`, as `kind name`.
fn difference(a: &Snapshot, b: &Snapshot, kind: &str) -> Vec<String> {
    let in_b: BTreeSet<&String> = b.set(kind).collect();
    a.set(kind)
        .filter(|n| !in_b.contains(n))
        .map(|n| format!("{kind} {n}"))
        .collect()
}

/// `items`, shortened for a message.
fn list(items: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// The version rules for `current` alone: a semantic version, and its major version against
/// its package. `None` when the version does not parse (nothing else can be compared).
fn own_problems(current: &Snapshot, problems: &mut Vec<String>) -> Option<Version> {
    let Some(version) = Version::parse(&current.version) else {
        problems.push(format!(
            "the specification's version `{}` ({README}) is not a semantic version \
             MAJOR.MINOR.PATCH (OMPP-VER-008)",
            current.version
        ));
        return None;
    };
    if version.major == 0 && current.package != "ompp.v1" {
        problems.push(format!(
            "the specification's version {version} is before 1.0.0, whose package is ompp.v1, \
             but the newest proto package is {} (OMPP-VER-008)",
            current.package
        ));
    }
    if version.major >= 1 && package_major(&current.package) != Some(version.major) {
        problems.push(format!(
            "the specification's version {version}: from 1.0.0 on the major version is the N \
             of the newest proto package ompp.vN, here {} (OMPP-VER-008)",
            current.package
        ));
    }
    Some(version)
}

/// Every problem of `current` against the last released `baseline`; empty when all is well.
pub(crate) fn problems(current: &Snapshot, baseline: &Snapshot) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(now) = own_problems(current, &mut problems) else {
        return problems;
    };
    let Some(then) = Version::parse(&baseline.version) else {
        problems.push(format!(
            "{PATH} records version `{}`, not MAJOR.MINOR.PATCH",
            baseline.version
        ));
        return problems;
    };
    if now < then {
        problems.push(format!(
            "the specification's version {now} is older than the released {then} ({PATH})"
        ));
        return problems;
    }
    if current.package != baseline.package {
        // A new package starts a new contract; nothing is compared with the old one.
        if now.major <= then.major {
            problems.push(format!(
                "the proto package changed from {} to {} but the major version did not: \
                 {now} after {then} (OMPP-VER-008)",
                baseline.package, current.package
            ));
        }
        return problems;
    }
    if now.major > then.major && then.major >= 1 {
        problems.push(format!(
            "the major version changed ({then} to {now}) without a new proto package; it \
             changes only with one (OMPP-VER-008)"
        ));
    }
    // Within a package nothing is removed (OMPP-VER-001); requirement ids are the ledger's
    // (spec/issued-ids.txt, OMPP-VER-009).
    let removed: Vec<String> = ["rpc", "field", "reason"]
        .into_iter()
        .flat_map(|kind| difference(baseline, current, kind))
        .collect();
    if !removed.is_empty() {
        problems.push(format!(
            "removed since {then} within {}: {}; a removal needs a new package and major \
             version (OMPP-VER-001, OMPP-VER-008)",
            current.package,
            list(&removed)
        ));
    }
    let added: Vec<String> = ["requirement", "withdrawn", "rpc", "field", "reason"]
        .into_iter()
        .flat_map(|kind| difference(current, baseline, kind))
        .collect();
    if !added.is_empty() && (now.major, now.minor) == (then.major, then.minor) {
        problems.push(format!(
            "added or withdrawn since the released {then}, but the specification's version is \
             {now}: {}; that needs version {} or later in {README} and {INTRODUCTION} \
             (OMPP-VER-008)",
            list(&added),
            then.next_minor()
        ));
    }
    problems
}

/// The tree's snapshot, or the problems that keep it from being taken.
pub(crate) fn current(
    root: &Path,
    requirements: &[ompp::requirements::Requirement],
    fds: &FileDescriptorSet,
) -> io::Result<Result<Snapshot, Vec<String>>> {
    let mut problems = Vec::new();
    let readme = fs::read_to_string(root.join(README))?;
    let Some(version) = written_version(&readme) else {
        return Ok(Err(vec![format!(
            "{README} has no status line `**Status:** ... version X.Y.Z.`: the specification's \
             version is written there (OMPP-VER-008)"
        )]));
    };
    let introduction = fs::read_to_string(root.join(INTRODUCTION))?;
    if !introduction.contains(&format!("specification version {version}")) {
        problems.push(format!(
            "{INTRODUCTION} does not say `specification version {version}`, the version of \
             {README}"
        ));
    }
    let package = match newest_package(&proto_packages(root)?) {
        Ok(package) => package,
        Err(problem) => {
            problems.push(problem);
            return Ok(Err(problems));
        }
    };
    let snapshot = snapshot(version, package, requirements, fds);
    if problems.is_empty() {
        Ok(Ok(snapshot))
    } else {
        Ok(Err(problems))
    }
}

/// Every version problem of the tree at `root`.
pub(crate) fn check(
    root: &Path,
    requirements: &[ompp::requirements::Requirement],
    fds: &FileDescriptorSet,
) -> io::Result<Vec<String>> {
    let current = match current(root, requirements, fds)? {
        Ok(current) => current,
        Err(problems) => return Ok(problems),
    };
    let Ok(text) = fs::read_to_string(root.join(PATH)) else {
        let mut problems = Vec::new();
        own_problems(&current, &mut problems);
        problems.push(format!(
            "{PATH} is missing: `cargo xtask release` records the released version"
        ));
        return Ok(problems);
    };
    match Snapshot::parse(&text) {
        Ok(baseline) => Ok(problems(&current, &baseline)),
        Err(problem) => Ok(vec![problem]),
    }
}

/// `cargo xtask release`: records the tree as the released version, unless the version check
/// fails. Returns the problems (nothing written) or whether the file changed.
pub(crate) fn release(
    root: &Path,
    requirements: &[ompp::requirements::Requirement],
    fds: &FileDescriptorSet,
) -> io::Result<Result<bool, Vec<String>>> {
    let current = match current(root, requirements, fds)? {
        Ok(current) => current,
        Err(problems) => return Ok(Err(problems)),
    };
    let problems = match fs::read_to_string(root.join(PATH)) {
        Ok(text) => match Snapshot::parse(&text) {
            Ok(baseline) => problems(&current, &baseline),
            Err(problem) => vec![problem],
        },
        // The first release: only the version's own rules apply.
        Err(_) => {
            let mut problems = Vec::new();
            own_problems(&current, &mut problems);
            problems
        }
    };
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let text = current.render();
    let path = root.join(PATH);
    if fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(Ok(false));
    }
    fs::write(path, text)?;
    Ok(Ok(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot at `version` of package `package`, with `requirements` (a `-` suffix marks one
    /// withdrawn) and one RPC, field and reason.
    fn at(version: &str, package: &str, requirements: &[&str]) -> Snapshot {
        let mut sets: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
        for r in requirements {
            let id = r.trim_end_matches('-').to_owned();
            if r.ends_with('-') {
                sets.entry("withdrawn").or_default().insert(id.clone());
            }
            sets.entry("requirement").or_default().insert(id);
        }
        sets.entry("rpc")
            .or_default()
            .insert("PayService.Pay".into());
        sets.entry("field")
            .or_default()
            .insert("PayRequest.amount".into());
        sets.entry("reason")
            .or_default()
            .insert("ERROR_REASON_DECLINED".into());
        Snapshot {
            version: version.into(),
            package: package.into(),
            sets,
        }
    }

    #[test]
    fn a_version_that_is_not_semver_is_a_problem() {
        for bad in [
            "0.1",
            "v0.1.0",
            "0.1.0.1",
            "01.0.0",
            "0.01.0",
            "1.0.0-rc.1",
            "1.0.x",
            "",
            "1..0",
        ] {
            assert_eq!(Version::parse(bad), None, "{bad:?}");
            let found = problems(&at(bad, "ompp.v1", &[]), &at("0.1.0", "ompp.v1", &[]));
            assert_eq!(found.len(), 1, "{bad:?}: {found:?}");
            assert!(
                found[0].contains("is not a semantic version MAJOR.MINOR.PATCH"),
                "{found:?}"
            );
        }
        assert_eq!(
            Version::parse("10.0.20"),
            Some(Version {
                major: 10,
                minor: 0,
                patch: 20
            })
        );
        assert_eq!(
            written_version("# OMPP\n\n**Status:** Draft, `ompp.v1`, version 0.1.0.\n").as_deref(),
            Some("0.1.0")
        );
    }

    #[test]
    fn additions_without_a_minor_version_are_a_problem() {
        let released = at("0.1.0", "ompp.v1", &["OMPP-A-001"]);
        // Unchanged: nothing to say.
        assert!(problems(&released, &released).is_empty());
        // A new requirement, at the same version or a patch version.
        for version in ["0.1.0", "0.1.1"] {
            let found = problems(
                &at(version, "ompp.v1", &["OMPP-A-001", "OMPP-A-002"]),
                &released,
            );
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(
                found[0].contains("requirement OMPP-A-002")
                    && found[0].contains("needs version 0.2.0 or later"),
                "{found:?}"
            );
        }
        // A requirement withdrawn, before 1.0.0 and after.
        let found = problems(&at("0.1.0", "ompp.v1", &["OMPP-A-001-"]), &released);
        assert!(found[0].contains("withdrawn OMPP-A-001"), "{found:?}");
        let found = problems(
            &at("1.2.3", "ompp.v1", &["OMPP-A-001-"]),
            &at("1.2.0", "ompp.v1", &["OMPP-A-001"]),
        );
        assert!(
            found[0].contains("needs version 1.3.0 or later"),
            "{found:?}"
        );
        // A new RPC, field or reason.
        let mut more = released.clone();
        for (kind, name) in [
            ("rpc", "PayService.Refund"),
            ("field", "PayRequest.tip"),
            ("reason", "ERROR_REASON_TOO_LATE"),
        ] {
            more.sets.entry(kind).or_default().insert(name.into());
        }
        let found = problems(&more, &released);
        assert_eq!(found.len(), 1, "{found:?}");
        for item in [
            "rpc PayService.Refund",
            "field PayRequest.tip",
            "reason ERROR_REASON_TOO_LATE",
        ] {
            assert!(found[0].contains(item), "{item}: {found:?}");
        }
        // A removal within the package, whatever the version.
        let mut fewer = at("0.2.0", "ompp.v1", &["OMPP-A-001"]);
        fewer.sets.entry("field").or_default().clear();
        let found = problems(&fewer, &released);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("removed since 0.1.0 within ompp.v1: field PayRequest.amount")
        );
    }

    #[test]
    fn the_major_version_is_the_package_from_1_0_0_on() {
        // From 1.0.0 on, MAJOR is N of ompp.vN.
        let found = problems(&at("2.0.0", "ompp.v1", &[]), &at("1.4.0", "ompp.v1", &[]));
        assert!(
            found
                .iter()
                .any(|p| p.contains("major version is the N of the newest proto package")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("without a new proto package")),
            "{found:?}"
        );
        let found = problems(&at("1.5.0", "ompp.v2", &[]), &at("1.4.0", "ompp.v1", &[]));
        assert!(
            found
                .iter()
                .any(|p| p.contains("major version is the N of the newest proto package")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("major version did not")),
            "{found:?}"
        );
        // Before 1.0.0 the package is ompp.v1.
        let found = problems(&at("0.3.0", "ompp.v2", &[]), &at("0.2.0", "ompp.v1", &[]));
        assert!(
            found[0].contains("before 1.0.0, whose package is ompp.v1"),
            "{found:?}"
        );
        // A new package with its major version: a new contract, compared with nothing.
        assert!(
            problems(
                &at("2.0.0", "ompp.v2", &["OMPP-B-001"]),
                &at("1.4.0", "ompp.v1", &[])
            )
            .is_empty()
        );
        // Versions never go back.
        let found = problems(&at("0.1.0", "ompp.v1", &[]), &at("0.2.0", "ompp.v1", &[]));
        assert!(
            found[0].contains("is older than the released 0.2.0"),
            "{found:?}"
        );
    }

    #[test]
    fn a_bumped_version_may_add_and_withdraw() {
        let released = at("0.1.0", "ompp.v1", &["OMPP-A-001", "OMPP-A-002"]);
        let next = at(
            "0.2.0",
            "ompp.v1",
            &["OMPP-A-001-", "OMPP-A-002", "OMPP-A-003"],
        );
        assert!(problems(&next, &released).is_empty());
        // 0.x to 1.0.0 keeps ompp.v1.
        let one = at(
            "1.0.0",
            "ompp.v1",
            &["OMPP-A-001-", "OMPP-A-002", "OMPP-A-003"],
        );
        assert!(problems(&one, &released).is_empty());
        let later = at(
            "1.1.0",
            "ompp.v1",
            &["OMPP-A-001-", "OMPP-A-002", "OMPP-A-003", "OMPP-A-004"],
        );
        assert!(problems(&later, &one).is_empty());
        // A patch version with nothing added.
        let patched = at(
            "1.1.1",
            "ompp.v1",
            &["OMPP-A-001-", "OMPP-A-002", "OMPP-A-003", "OMPP-A-004"],
        );
        assert!(problems(&patched, &later).is_empty());
    }

    /// A scratch repository: a README and introduction at `version`, one proto file.
    fn scratch(name: &str, version: &str) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("xtask-version-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("spec")).unwrap();
        fs::create_dir_all(root.join("proto/ompp/v1")).unwrap();
        fs::write(
            root.join(README),
            format!("# OMPP\n\n**Status:** Draft, `ompp.v1`, version {version}.\n"),
        )
        .unwrap();
        fs::write(
            root.join(INTRODUCTION),
            format!("It specifies package `ompp.v1`, specification version {version}. More.\n"),
        )
        .unwrap();
        fs::write(
            root.join("proto/ompp/v1/pay.proto"),
            "syntax = \"proto3\";\npackage ompp.v1;\n",
        )
        .unwrap();
        root
    }

    fn requirements(ids: &[&str]) -> Vec<ompp::requirements::Requirement> {
        let chapter: String = ids
            .iter()
            .map(|id| format!("- **{id}** MUST: A party MUST do {id}.\n\n"))
            .collect();
        ompp::requirements::extract("01-x.md", &chapter).unwrap()
    }

    #[test]
    fn release_records_only_what_check_accepts() {
        let root = scratch("release", "0.1.0");
        let fds = FileDescriptorSet::default();
        let one = requirements(&["OMPP-A-001"]);
        let two = requirements(&["OMPP-A-001", "OMPP-A-002"]);
        // No baseline yet: check says so; the first release records it.
        let found = check(&root, &one, &fds).unwrap();
        assert!(found[0].contains("is missing"), "{found:?}");
        assert_eq!(release(&root, &one, &fds).unwrap(), Ok(true));
        assert!(check(&root, &one, &fds).unwrap().is_empty());
        assert_eq!(release(&root, &one, &fds).unwrap(), Ok(false));
        // A requirement added at the released version: check fails, release refuses and leaves
        // the baseline alone.
        let recorded = fs::read_to_string(root.join(PATH)).unwrap();
        let found = check(&root, &two, &fds).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("requirement OMPP-A-002"), "{found:?}");
        assert!(release(&root, &two, &fds).unwrap().is_err());
        assert_eq!(fs::read_to_string(root.join(PATH)).unwrap(), recorded);
        // The introduction must repeat the README's version.
        fs::write(
            root.join(README),
            "**Status:** Draft, `ompp.v1`, version 0.2.0.\n",
        )
        .unwrap();
        let found = check(&root, &two, &fds).unwrap();
        assert!(
            found[0].contains("does not say `specification version 0.2.0`"),
            "{found:?}"
        );
        // With the minor version raised in both, check passes and release records 0.2.0.
        let root = scratch("release", "0.2.0");
        fs::write(root.join(PATH), &recorded).unwrap();
        assert!(check(&root, &two, &fds).unwrap().is_empty());
        assert_eq!(release(&root, &two, &fds).unwrap(), Ok(true));
        let released = Snapshot::parse(&fs::read_to_string(root.join(PATH)).unwrap()).unwrap();
        assert_eq!(released.version, "0.2.0");
        // A version that is not semver.
        let root = scratch("release", "0.2");
        let found = check(&root, &two, &fds).unwrap();
        assert!(found.iter().any(|p| p.contains("`0.2`")), "{found:?}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_baseline_file_reads_back() {
        let snapshot = at("0.1.0", "ompp.v1", &["OMPP-A-001", "OMPP-A-002-"]);
        let text = snapshot.render();
        assert_eq!(Snapshot::parse(&text), Ok(snapshot));
        assert!(Snapshot::parse("version 0.1.0\n").is_err());
        assert!(Snapshot::parse("version 0.1.0\npackage ompp.v1\nthing x\n").is_err());
    }
}
