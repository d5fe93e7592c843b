//! `spec/issued-ids.txt`: every requirement id ever issued, in the order issued. A requirement
//! id is never reused and never removed from the text; a withdrawn one stays, marked as such
//! (OMPP-VER-009). `cargo xtask generate` appends the ids the chapters newly define; `cargo
//! xtask check` fails when an issued id is no longer defined or a defined one is not recorded.

use std::collections::BTreeSet;

/// Where the ledger lives, from the repository root.
pub(crate) const PATH: &str = "spec/issued-ids.txt";

/// The ids recorded in `ledger` (one per line; `#` starts a comment).
pub(crate) fn parse(ledger: &str) -> Vec<&str> {
    ledger
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The problems of `ledger` against the ids the chapters define now.
pub(crate) fn problems(ledger: &str, defined: &BTreeSet<&str>) -> Vec<String> {
    let issued = parse(ledger);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for id in &issued {
        if !seen.insert(*id) {
            problems.push(format!("{PATH} records {id} twice"));
        }
        if !defined.contains(id) {
            problems.push(format!(
                "{id} was issued but no chapter defines it any more: a requirement id stays in \
                 the text for good, marked withdrawn if it no longer applies (OMPP-VER-009)"
            ));
        }
    }
    for id in defined {
        if !seen.contains(id) {
            problems.push(format!(
                "{id} is defined but not recorded in {PATH} (run `cargo xtask generate`)"
            ));
        }
    }
    problems
}

/// `ledger` with the defined ids it lacks appended, in `order`; nothing is ever removed.
pub(crate) fn appended<'a>(ledger: &str, order: impl IntoIterator<Item = &'a str>) -> String {
    let issued: BTreeSet<&str> = parse(ledger).into_iter().collect();
    let mut out = ledger.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for id in order {
        if !issued.contains(id) && !out.lines().any(|l| l.trim() == id) {
            out.push_str(id);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_requirement_ids_are_never_dropped() {
        let defined: BTreeSet<&str> = ["OMPP-A-001", "OMPP-A-002"].into_iter().collect();
        assert!(problems("# ledger\nOMPP-A-001\nOMPP-A-002\n", &defined).is_empty());
        // A removed requirement: issued, no longer defined.
        let dropped = problems("OMPP-A-001\nOMPP-A-002\nOMPP-A-003\n", &defined);
        assert_eq!(dropped.len(), 1, "{dropped:?}");
        assert!(
            dropped[0].starts_with("OMPP-A-003 was issued"),
            "{dropped:?}"
        );
        // A new requirement not yet recorded, and a duplicate entry.
        let new = problems("OMPP-A-001\nOMPP-A-001\n", &defined);
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new[0].contains("records OMPP-A-001 twice"), "{new:?}");
        assert!(new[1].starts_with("OMPP-A-002 is defined"), "{new:?}");
    }

    #[test]
    fn generate_appends_and_never_removes() {
        let ledger = "# ledger\nOMPP-A-001\nOMPP-Z-009\n";
        let out = appended(ledger, ["OMPP-A-001", "OMPP-A-002"]);
        assert_eq!(out, "# ledger\nOMPP-A-001\nOMPP-Z-009\nOMPP-A-002\n");
    }
}
