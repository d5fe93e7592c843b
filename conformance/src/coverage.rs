//! Requirement coverage (OMPP-CONF-016): which cases check each requirement of the spec, and
//! the ratchet that keeps it from going backwards.
//!
//! Every non-audit `MUST` requirement is to be checked by at least one case. Until the suite
//! gets there, the ones still without a case are listed in `conformance/uncovered-must.txt`;
//! `ompp-conformance coverage --check` (run by CI) fails when a `MUST` id without a case is
//! missing from that list, when a listed id has a case (so the list only shrinks), and when a
//! case names an id the spec does not define.
//!
//! Requirements whose subject is not a system the suite certifies (the suite itself, revisions
//! of the specification) cannot have a case; `conformance/self-checks.toml` names the project's
//! own tests or CI steps that check each of them, and [`self_check_problems`] verifies that the
//! named tests exist.

use std::collections::BTreeSet;
use std::path::Path;

use ompp::requirements::Level;
use serde::{Deserialize, Serialize};

use crate::case::Case;

/// The `MUST` requirements still without a case, one id per line (`#` starts a comment).
pub const UNCOVERED_MUST: &str = include_str!("../uncovered-must.txt");

/// The requirements no case can check, with the project's tests that check them.
pub const SELF_CHECKS: &str = include_str!("../self-checks.toml");

/// What a self-checked requirement constrains.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// The conformance suite itself (area `CONF`).
    Suite,
    /// A revision of the specification or its wire contract (area `VER`).
    Revision,
    /// A client (merchant terminal, device, handset): the suite certifies servers only, so the
    /// reference clients' tests check it. Only for a requirement whose statement is about
    /// a client.
    Client,
}

impl Subject {
    /// Why `requirement` cannot have this subject, if it cannot.
    fn mismatch(self, requirement: &ompp::requirements::Requirement) -> Option<String> {
        let fits = match self {
            Self::Suite => requirement.id.starts_with("OMPP-CONF-"),
            Self::Revision => requirement.id.starts_with("OMPP-VER-"),
            Self::Client => requirement.statement.to_lowercase().contains("client"),
        };
        (!fits).then(|| match self {
            Self::Suite => "only OMPP-CONF-* ids are about the suite".to_owned(),
            Self::Revision => "only OMPP-VER-* ids are about revisions".to_owned(),
            Self::Client => "its statement says nothing about a client".to_owned(),
        })
    }
}

/// One entry of `conformance/self-checks.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfCheck {
    /// The requirement id.
    pub requirement: String,
    /// What it constrains.
    pub subject: Subject,
    /// The tests (`path::name`) and CI steps (`ci:text`) that check it.
    pub by: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelfChecks {
    check: Vec<SelfCheck>,
}

/// Parses a self-check table.
pub fn parse_self_checks(text: &str) -> Result<Vec<SelfCheck>, String> {
    toml::from_str::<SelfChecks>(text)
        .map(|t| t.check)
        .map_err(|e| format!("conformance/self-checks.toml: {e}"))
}

/// One requirement and the cases that check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The requirement id.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Whether it is an *(audit)* requirement (no case may check it, OMPP-CONF-005).
    pub audit: bool,
    /// Whether it is withdrawn (no case may check it).
    pub withdrawn: bool,
    /// The chapter that states it.
    pub chapter: String,
    /// The ids of the cases that check it.
    pub cases: Vec<&'static str>,
    /// The project's own tests and CI steps that check it, for a requirement no case can check.
    pub self_checks: Vec<String>,
}

/// Whether a requirement is marked *(audit)*.
pub fn is_audit(statement: &str) -> bool {
    statement.starts_with("*(audit)*")
}

/// Whether a requirement is withdrawn: its id stays in the text, no case checks it (OMPP-VER-009).
pub fn is_withdrawn(statement: &str) -> bool {
    statement.starts_with("*(withdrawn")
}

/// Whether the suite must check a requirement: level `MUST`, neither audit nor withdrawn.
pub fn must_check(requirement: &ompp::requirements::Requirement) -> bool {
    requirement.level == Level::Must
        && !is_audit(&requirement.statement)
        && !is_withdrawn(&requirement.statement)
}

/// Every requirement of the spec, in registry order, with the cases and self-checks that check
/// it.
pub fn rows(cases: &[Case], self_checks: &[SelfCheck]) -> Vec<Row> {
    ompp::requirements::all()
        .iter()
        .map(|r| Row {
            id: r.id.clone(),
            level: r.level,
            audit: is_audit(&r.statement),
            withdrawn: is_withdrawn(&r.statement),
            chapter: r.chapter.clone(),
            cases: cases
                .iter()
                .filter(|c| c.requirements.contains(&r.id.as_str()))
                .map(|c| c.id)
                .collect(),
            self_checks: self_checks
                .iter()
                .filter(|s| s.requirement == r.id)
                .flat_map(|s| s.by.iter().cloned())
                .collect(),
        })
        .collect()
}

/// The ids listed in an uncovered-`MUST` list.
pub fn parse_list(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What is wrong with the coverage, one line per problem; empty when it is as it should be.
pub fn problems(
    cases: &[Case],
    self_checks: &[SelfCheck],
    uncovered: &BTreeSet<String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for check in self_checks {
        match ompp::requirements::get(&check.requirement) {
            None => problems.push(format!(
                "conformance/self-checks.toml names {}, which the spec does not define",
                check.requirement
            )),
            Some(r) if is_audit(&r.statement) || is_withdrawn(&r.statement) => {
                problems.push(format!(
                    "conformance/self-checks.toml names the audit or withdrawn requirement {}",
                    check.requirement
                ));
            }
            Some(r) if check.subject.mismatch(r).is_some() => {
                problems.push(format!(
                    "conformance/self-checks.toml: {} cannot have the subject {:?}: {}",
                    check.requirement,
                    check.subject,
                    check.subject.mismatch(r).unwrap_or_default()
                ));
            }
            Some(_) if check.by.is_empty() => problems.push(format!(
                "conformance/self-checks.toml: {} names no test",
                check.requirement
            )),
            Some(_) => {}
        }
    }
    for case in cases {
        for id in case.requirements {
            match ompp::requirements::get(id) {
                None => problems.push(format!(
                    "case {} names {id}, which the spec does not define",
                    case.id
                )),
                Some(r) if is_audit(&r.statement) => problems.push(format!(
                    "case {} names the audit requirement {id} (OMPP-CONF-005)",
                    case.id
                )),
                Some(r) if is_withdrawn(&r.statement) => problems.push(format!(
                    "case {} names the withdrawn requirement {id} (OMPP-CONF-016)",
                    case.id
                )),
                Some(_) => {}
            }
        }
    }
    let rows = rows(cases, self_checks);
    for row in &rows {
        let must = row.level == Level::Must && !row.audit && !row.withdrawn;
        let listed = uncovered.contains(&row.id);
        let checked = !row.cases.is_empty() || !row.self_checks.is_empty();
        if must && !checked && !listed {
            problems.push(format!(
                "{} ({}) is a MUST requirement without a case (OMPP-CONF-016)",
                row.id, row.chapter
            ));
        }
        if listed && checked {
            let by: Vec<&str> = row
                .cases
                .iter()
                .copied()
                .chain(row.self_checks.iter().map(String::as_str))
                .collect();
            problems.push(format!(
                "{} is listed as uncovered but {} checks it: remove it from conformance/uncovered-must.txt",
                row.id,
                by.join(", ")
            ));
        }
        if listed && !must {
            problems.push(format!(
                "{} is listed as uncovered but is not a non-audit MUST requirement",
                row.id
            ));
        }
    }
    for id in uncovered {
        if ompp::requirements::get(id).is_none() {
            problems.push(format!(
                "conformance/uncovered-must.txt lists {id}, which the spec does not define"
            ));
        }
    }
    problems
}

/// The self-check references that do not resolve in the source tree at `root`: a `path::name`
/// whose file has no `fn name(`, a `ci:text` that no line of `.ci/run` contains.
pub fn self_check_problems(self_checks: &[SelfCheck], root: &Path) -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_default();
    let ci = read(".ci/run");
    let mut problems = Vec::new();
    for check in self_checks {
        for by in &check.by {
            let found = match by.strip_prefix("ci:") {
                Some(text) => ci
                    .lines()
                    .any(|l| !l.trim_start().starts_with('#') && l.contains(text)),
                None => match by.split_once("::") {
                    Some((path, name)) => read(path).contains(&format!("fn {name}(")),
                    None => false,
                },
            };
            if !found {
                problems.push(format!(
                    "conformance/self-checks.toml: {} is checked by `{by}`, which does not exist",
                    check.requirement
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked_in() -> Vec<SelfCheck> {
        parse_self_checks(SELF_CHECKS).expect("the checked-in table parses")
    }

    fn repository() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    #[test]
    fn the_checked_in_coverage_has_no_problems() {
        let problems = problems(
            &crate::cases::all(),
            &checked_in(),
            &parse_list(UNCOVERED_MUST),
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn every_self_check_names_a_test_or_ci_step_that_exists() {
        let checks = checked_in();
        assert!(checks.len() >= 10, "{checks:?}");
        let problems = self_check_problems(&checks, repository());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_self_check_naming_a_missing_test_is_a_problem() {
        let checks = vec![SelfCheck {
            requirement: "OMPP-CONF-003".into(),
            subject: Subject::Suite,
            by: vec![
                "conformance/src/runner.rs::no_such_test".into(),
                "ci:no such step".into(),
                "conformance/src/runner.rs::conformance_follows_levels_and_verdicts".into(),
            ],
        }];
        let problems = self_check_problems(&checks, repository());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("no_such_test"), "{problems:?}");
        assert!(problems[1].contains("no such step"), "{problems:?}");
    }

    #[test]
    fn a_self_check_outside_its_subject_area_is_a_problem() {
        // A requirement on an operation center cannot be moved out of the suite's reach.
        let covered = crate::cases::all()[0].requirements[0];
        let mut checks = checked_in();
        checks.push(SelfCheck {
            requirement: covered.into(),
            subject: Subject::Suite,
            by: vec!["ci:coverage --check".into()],
        });
        let problems = problems(&crate::cases::all(), &checks, &parse_list(UNCOVERED_MUST));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(covered), "{problems:?}");
    }

    #[test]
    fn a_client_subject_needs_a_statement_about_a_client() {
        let client = ompp::requirements::get("OMPP-ERR-007").expect("defined");
        let server = ompp::requirements::get("OMPP-FLA-003").expect("defined");
        assert_eq!(Subject::Client.mismatch(client), None);
        assert!(Subject::Client.mismatch(server).is_some());
        assert!(Subject::Suite.mismatch(client).is_some());
        assert!(Subject::Revision.mismatch(client).is_some());
    }

    #[test]
    fn a_must_id_without_a_case_and_not_listed_is_a_problem() {
        let catalogue = crate::cases::all();
        let dropped = catalogue[0].requirements[0];
        let without: Vec<Case> = crate::cases::all()
            .into_iter()
            .filter(|c| !c.requirements.contains(&dropped))
            .collect();
        let found = problems(&without, &checked_in(), &parse_list(UNCOVERED_MUST));
        assert!(found.iter().any(|p| p.starts_with(dropped)), "{found:?}");
        let without_self_check: Vec<SelfCheck> = checked_in()
            .into_iter()
            .filter(|s| s.requirement != "OMPP-CONF-003")
            .collect();
        let problems = problems(&catalogue, &without_self_check, &parse_list(UNCOVERED_MUST));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("OMPP-CONF-003"), "{problems:?}");
    }

    #[test]
    fn a_listed_id_that_has_a_case_is_a_problem() {
        let mut listed = parse_list(UNCOVERED_MUST);
        let covered = crate::cases::all()[0].requirements[0];
        listed.insert(covered.to_owned());
        let problems = problems(&crate::cases::all(), &checked_in(), &listed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(covered), "{problems:?}");
    }

    #[test]
    fn a_case_naming_an_audit_requirement_is_a_problem() {
        let audit = ompp::requirements::all()
            .iter()
            .find(|r| is_audit(&r.statement))
            .expect("the spec has audit requirements");
        let mut catalogue = crate::cases::all();
        catalogue.truncate(1);
        let audit_id: &'static str = Box::leak(audit.id.clone().into_boxed_str());
        let requirements: &'static [&'static str] = Box::leak(Box::new([audit_id]));
        catalogue[0].requirements = requirements;
        let problems = problems(&catalogue, &[], &BTreeSet::new());
        assert!(
            problems
                .iter()
                .any(|p| p.contains(audit_id) && p.contains("OMPP-CONF-005")),
            "{problems:?}"
        );
    }
}
