//! Repository chores: everything in `spec/` that is generated, and the checks that keep it
//! current.
//!
//! ```text
//! cargo xtask generate   # write spec/schemas/*.json, spec/requirements.json, spec/generated/*.md
//! cargo xtask check      # fail if any of them is stale, if code cites an undefined requirement,
//!                        # or if the spec's version does not follow what changed (OMPP-VER-008)
//! cargo xtask release    # record the tree as the released spec version (spec/version-baseline.txt)
//! ```
//!
//! The generators themselves live in [`generate`]; they are pure functions from the repository's
//! inputs to file contents, so the tests below check staleness the same way `check` does.
//! `generate` never writes `spec/version-baseline.txt`: only `release` does, and it refuses to
//! while `check` reports a version problem, so recording a baseline cannot hide an addition
//! ([`version`]).

mod catalogue_md;
mod generate;
mod ledger;
mod messages_md;
mod requirements_md;
mod version;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn repo_root() -> PathBuf {
    // xtask/ sits directly under the repository root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

const USAGE: &str = "usage: cargo xtask <generate|check|release>
  generate  write spec/schemas/*.json, spec/requirements.json and spec/generated/*.md
  check     exit 1 if any generated file is stale, code cites an undefined requirement id, or
            the spec's version (spec/README.md) does not follow what was added since the
            released one (spec/version-baseline.txt, OMPP-VER-008)
  release   record the tree as the released spec version in spec/version-baseline.txt;
            refused while the version check fails";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["generate"] => generate::write_all(&root).map(|written| {
            for path in written {
                println!("wrote {}", path.display());
            }
            true
        }),
        ["check"] => generate::check_all(&root).map(|problems| {
            for problem in &problems {
                eprintln!("{problem}");
            }
            if problems.is_empty() {
                println!(
                    "generated files are current; every cited requirement id is defined; the \
                     spec's version follows what changed since the released one"
                );
            }
            problems.is_empty()
        }),
        ["release"] => generate::extract_requirements(&root).and_then(|requirements| {
            let fds = generate::descriptor_set()?;
            Ok(match version::release(&root, &requirements, &fds)? {
                Ok(true) => {
                    println!("wrote {}", version::PATH);
                    true
                }
                Ok(false) => {
                    println!("{} is already current", version::PATH);
                    true
                }
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{problem}");
                    }
                    eprintln!("not released: {} unchanged", version::PATH);
                    false
                }
            })
        }),
        ["--help"] | ["-h"] | ["help"] => {
            println!("{USAGE}");
            Ok(true)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_files_are_current_and_cited_ids_are_defined() {
        let problems = generate::check_all(&repo_root()).unwrap();
        assert!(
            problems.is_empty(),
            "run `cargo xtask generate`, then fix what remains:\n{}",
            problems.join("\n")
        );
    }
}
