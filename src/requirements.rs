//! The requirement registry: every normative statement of `spec/` with its id and level.
//!
//! The spec chapters are the single home of the requirements. Each is a Markdown list item of
//! the form `- **OMPP-AREA-NNN** MUST: sentence`, possibly continued on lines indented by two
//! spaces. [`extract`] reads them out of a chapter; `cargo xtask spec` writes the result to
//! `spec/requirements.json`, which this module embeds so that code and the conformance suite can
//! look ids up without touching the file system.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How strongly a requirement binds (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// An absolute requirement (also MUST NOT).
    Must,
    /// Recommended; deviations must be understood (also SHOULD NOT).
    Should,
    /// Optional.
    May,
}

impl Level {
    /// The keyword as written in the spec.
    pub fn keyword(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }

    fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "MUST" => Some(Level::Must),
            "SHOULD" => Some(Level::Should),
            "MAY" => Some(Level::May),
            _ => None,
        }
    }
}

/// One normative statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Requirement {
    /// Stable id, `OMPP-<AREA>-<NNN>`.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// The statement, with the Markdown line breaks folded.
    pub statement: String,
    /// The spec chapter that states it, relative to `spec/` (e.g. `04-flow-a.md`).
    pub chapter: String,
}

/// A malformed requirement line in a chapter.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// A list item starts like a requirement but does not follow `**ID** LEVEL: text`.
    #[error("{chapter}:{line}: requirement item is not `- **OMPP-AREA-NNN** MUST|SHOULD|MAY: ...`")]
    Malformed {
        /// The chapter.
        chapter: String,
        /// 1-based line number.
        line: usize,
    },
    /// The statement does not contain its own level keyword in capitals.
    #[error("{chapter}:{line}: {id} is {level:?} but its statement does not say {keyword}")]
    KeywordMissing {
        /// The chapter.
        chapter: String,
        /// 1-based line number.
        line: usize,
        /// The requirement.
        id: String,
        /// Its level.
        level: Level,
        /// The keyword expected in the text.
        keyword: &'static str,
    },
}

/// Whether `id` has the form `OMPP-<AREA>-<NNN>`: upper-case letters, then three digits.
pub fn is_requirement_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("OMPP-") else {
        return false;
    };
    let Some((area, number)) = rest.split_once('-') else {
        return false;
    };
    !area.is_empty()
        && area.bytes().all(|b| b.is_ascii_uppercase())
        && number.len() == 3
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Every token of the form `OMPP-<AREA>-<NNN>` in `text`, in order (with repeats).
pub fn find_ids(text: &str) -> Vec<&str> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("OMPP-") {
        let candidate = &rest[start..];
        let end = candidate
            .char_indices()
            .skip(5)
            .find(|(_, c)| !(c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-'))
            .map_or(candidate.len(), |(i, _)| i);
        let token = candidate[..end].trim_end_matches('-');
        if is_requirement_id(token) {
            ids.push(token);
        }
        rest = &candidate[end.max(5)..];
    }
    ids
}

/// Reads every requirement item out of one chapter's Markdown.
pub fn extract(chapter: &str, markdown: &str) -> Result<Vec<Requirement>, ExtractError> {
    let mut found = Vec::new();
    let lines: Vec<&str> = markdown.lines().collect();
    let mut i = 0;
    let mut in_fence = false;
    while i < lines.len() {
        let line = lines[i];
        // Examples of the syntax inside code fences are not requirements.
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            i += 1;
            continue;
        }
        let Some(item) = line.strip_prefix("- **OMPP-") else {
            i += 1;
            continue;
        };
        let line_no = i + 1;
        let malformed = || ExtractError::Malformed {
            chapter: chapter.to_owned(),
            line: line_no,
        };
        let (id_tail, after) = item.split_once("**").ok_or_else(malformed)?;
        let id = format!("OMPP-{id_tail}");
        let (level_word, first_text) = after.trim_start().split_once(':').ok_or_else(malformed)?;
        let level = Level::from_keyword(level_word.trim()).ok_or_else(malformed)?;
        if !is_requirement_id(&id) {
            return Err(malformed());
        }
        let mut statement = first_text.trim().to_owned();
        i += 1;
        while i < lines.len() && lines[i].starts_with("  ") && !lines[i].trim().is_empty() {
            statement.push(' ');
            statement.push_str(lines[i].trim());
            i += 1;
        }
        if !statement.contains(level.keyword()) {
            return Err(ExtractError::KeywordMissing {
                chapter: chapter.to_owned(),
                line: line_no,
                id,
                level,
                keyword: level.keyword(),
            });
        }
        found.push(Requirement {
            id,
            level,
            statement,
            chapter: chapter.to_owned(),
        });
    }
    Ok(found)
}

/// The registry as generated into `spec/requirements.json`.
const REGISTRY_JSON: &str = include_str!("../spec/requirements.json");

/// The requirement registry exactly as embedded (`spec/requirements.json`): what a conformance
/// report's evidence hashes to name the spec version it checked against.
pub fn registry_json() -> &'static str {
    REGISTRY_JSON
}

/// Every requirement of the spec, in chapter order. Empty only if the embedded registry is
/// unreadable, which the registry test rules out.
pub fn all() -> &'static [Requirement] {
    static REGISTRY: OnceLock<Vec<Requirement>> = OnceLock::new();
    REGISTRY.get_or_init(|| serde_json::from_str(REGISTRY_JSON).unwrap_or_default())
}

/// The requirement with id `id`, if the spec defines it.
pub fn get(id: &str) -> Option<&'static Requirement> {
    all().iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_single_and_continued_items() {
        let md = "# Money\n\n- **OMPP-MONEY-001** MUST: Amounts MUST be integers.\n- **OMPP-MONEY-002** SHOULD: Senders SHOULD\n  use minor units\n  always.\n\nNot a requirement: OMPP-MONEY-001 again.\n";
        let found = extract("02-messages.md", md).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].id, "OMPP-MONEY-001");
        assert_eq!(found[0].level, Level::Must);
        assert_eq!(found[0].statement, "Amounts MUST be integers.");
        assert_eq!(found[1].statement, "Senders SHOULD use minor units always.");
        assert_eq!(found[1].chapter, "02-messages.md");
    }

    #[test]
    fn rejects_malformed_items_and_missing_keywords() {
        assert!(matches!(
            extract("x.md", "- **OMPP-MONEY-001** MUSTN'T: no.\n"),
            Err(ExtractError::Malformed { line: 1, .. })
        ));
        assert!(matches!(
            extract("x.md", "\n- **OMPP-money-1** MUST: lower case MUST.\n"),
            Err(ExtractError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            extract("x.md", "- **OMPP-MONEY-001** MUST: amounts are integers.\n"),
            Err(ExtractError::KeywordMissing { .. })
        ));
    }

    // The ids in these fixtures are assembled at run time, so that the repository's citation
    // check does not take them for citations of undefined requirements.

    #[test]
    fn skips_code_fences() {
        let id = format!("OMPP-{}-001", "A");
        let md = format!(
            "```text\n- **OMPP-<AREA>-<NNN>** <LEVEL>: example\n```\n- **{id}** MAY: Receivers MAY log.\n"
        );
        let found = extract("README.md", &md).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, id);
    }

    #[test]
    fn finds_ids_in_running_text() {
        let odd = format!("OMPP-{}-123", "X");
        let text = format!("see OMPP-LINK-003, OMPP-LINK-04 and (OMPP-MSG-001); {odd}-");
        assert_eq!(
            find_ids(&text),
            ["OMPP-LINK-003", "OMPP-MSG-001", odd.as_str()]
        );
    }
}
