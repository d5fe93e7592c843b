//! Requirement coverage (OMPP-CONF-002): which cases check each requirement of the spec, and
//! the ratchet that keeps it from going backwards.
//!
//! Every non-audit `MUST` requirement is to be checked by at least one case. Until the suite
//! gets there, the ones still without a case are listed in `conformance/uncovered-must.txt`;
//! `ompp-conformance coverage --check` (run by CI) fails when a `MUST` id without a case is
//! missing from that list, when a listed id has a case (so the list only shrinks), and when a
//! case names an id the spec does not define.

use std::collections::BTreeSet;

use ompp::requirements::Level;
use serde::Serialize;

use crate::case::Case;

/// The `MUST` requirements still without a case, one id per line (`#` starts a comment).
pub const UNCOVERED_MUST: &str = include_str!("../uncovered-must.txt");

/// One requirement and the cases that check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The requirement id.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// Whether it is an *(audit)* requirement (no case may check it, OMPP-CONF-005).
    pub audit: bool,
    /// The chapter that states it.
    pub chapter: String,
    /// The ids of the cases that check it.
    pub cases: Vec<&'static str>,
}

/// Whether a requirement is marked *(audit)*.
pub fn is_audit(statement: &str) -> bool {
    statement.starts_with("*(audit)*")
}

/// Every requirement of the spec, in registry order, with the cases that check it.
pub fn rows(cases: &[Case]) -> Vec<Row> {
    ompp::requirements::all()
        .iter()
        .map(|r| Row {
            id: r.id.clone(),
            level: r.level,
            audit: is_audit(&r.statement),
            chapter: r.chapter.clone(),
            cases: cases
                .iter()
                .filter(|c| c.requirements.contains(&r.id.as_str()))
                .map(|c| c.id)
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
pub fn problems(cases: &[Case], uncovered: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
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
                Some(_) => {}
            }
        }
    }
    let rows = rows(cases);
    for row in &rows {
        let must = row.level == Level::Must && !row.audit;
        let listed = uncovered.contains(&row.id);
        if must && row.cases.is_empty() && !listed {
            problems.push(format!(
                "{} ({}) is a MUST requirement without a case (OMPP-CONF-002)",
                row.id, row.chapter
            ));
        }
        if listed && !row.cases.is_empty() {
            problems.push(format!(
                "{} is listed as uncovered but {} checks it: remove it from conformance/uncovered-must.txt",
                row.id,
                row.cases.join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_coverage_has_no_problems() {
        let problems = problems(&crate::cases::all(), &parse_list(UNCOVERED_MUST));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn a_must_id_without_a_case_and_not_listed_is_a_problem() {
        let mut listed = parse_list(UNCOVERED_MUST);
        let first = listed
            .iter()
            .next()
            .cloned()
            .expect("the list is not empty yet");
        listed.remove(&first);
        let problems = problems(&crate::cases::all(), &listed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(&first), "{problems:?}");
    }

    #[test]
    fn a_listed_id_that_has_a_case_is_a_problem() {
        let mut listed = parse_list(UNCOVERED_MUST);
        let covered = crate::cases::all()[0].requirements[0];
        listed.insert(covered.to_owned());
        let problems = problems(&crate::cases::all(), &listed);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with(covered), "{problems:?}");
    }
}
