//! Keeps `docs/configuration.md` and the CLI in sync. The settings table must list every long
//! flag and `SIGNALGATE_*` environment variable of the root command and its subcommands, with
//! clap's default and the subcommands the flag belongs to; and every `--flag` or `SIGNALGATE_*`
//! name the page mentions must exist in the CLI, so a removed flag cannot linger in the docs.
//!
//! Arguments are walked generically through clap's `CommandFactory`, never through `Config`'s
//! fields, so regrouping the settings (`#[command(flatten)]`) does not touch this test.

use std::collections::{BTreeMap, BTreeSet};

use clap::{Arg, Command, CommandFactory};
use signalgate::config::Cli;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");

/// Flags clap adds by itself; the docs may mention them (`signalgate --help`).
const BUILT_IN: [&str; 2] = ["help", "version"];

/// One long flag as the CLI defines it.
#[derive(Debug)]
struct CliFlag {
    env: Option<String>,
    /// `None` when clap has no default; `Some("off")` for a boolean switch.
    default: Option<String>,
    /// Subcommands that define the flag; empty for a global flag of the root command.
    subcommands: BTreeSet<String>,
}

/// One row of the settings table.
#[derive(Debug)]
struct DocRow {
    env: Option<String>,
    default: Option<String>,
    subcommands: BTreeSet<String>,
}

fn describe_default(arg: &Arg) -> Option<String> {
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !arg.get_action().takes_values() {
        // Switches (`--demo`): clap's implicit default is "false".
        return Some("off".to_owned());
    }
    (!values.is_empty()).then(|| values.join(","))
}

fn collect(cmd: &Command, sub: Option<&str>, out: &mut BTreeMap<String, CliFlag>) {
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if BUILT_IN.contains(&long) {
            continue;
        }
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        let entry = out.entry(format!("--{long}")).or_insert_with(|| CliFlag {
            env: env.clone(),
            default: describe_default(arg),
            subcommands: BTreeSet::new(),
        });
        assert_eq!(
            entry.env, env,
            "--{long}: different environment variables in different subcommands"
        );
        if let Some(sub) = sub {
            entry.subcommands.insert(sub.to_owned());
        }
    }
    if sub.is_none() {
        for subcommand in cmd.get_subcommands() {
            collect(subcommand, Some(subcommand.get_name()), out);
        }
    }
}

fn cli_flags() -> BTreeMap<String, CliFlag> {
    let mut out = BTreeMap::new();
    collect(&Cli::command(), None, &mut out);
    assert!(out.len() > 10, "the CLI walk found too few flags: {out:?}");
    out
}

/// Splits a Markdown table row at unescaped `|`.
fn cells(row: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = row.trim().trim_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(s) = out.last_mut() {
                    s.push('|');
                }
            }
            '|' => out.push(String::new()),
            c => {
                if let Some(s) = out.last_mut() {
                    s.push(c);
                }
            }
        }
    }
    out.iter().map(|s| s.trim().to_owned()).collect()
}

/// The text of the first `code span` in `cell`, if the cell starts with one.
fn leading_code(cell: &str) -> Option<String> {
    let rest = cell.strip_prefix('`')?;
    rest.split('`').next().map(str::to_owned)
}

fn doc_rows(doc: &str) -> BTreeMap<String, DocRow> {
    let mut out = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `--")) {
        let c = cells(line);
        assert_eq!(c.len(), 4, "table row should have 4 cells: {line}");
        let code = leading_code(&c[0]).unwrap_or_default();
        let flag = code
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let subcommands = c[0]
            .rsplit_once('(')
            .filter(|_| c[0].ends_with(')'))
            .map(|(_, s)| {
                s.trim_end_matches(')')
                    .split(',')
                    .map(|x| x.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let env = leading_code(&c[1]);
        let default = match leading_code(&c[2]) {
            Some(v) => Some(v),
            None if c[2] == "off" => Some("off".to_owned()),
            None => {
                assert!(
                    c[2].starts_with("none"),
                    "{flag}: default cell must be `value`, off or none…, got '{}'",
                    c[2]
                );
                None
            }
        };
        let row = DocRow {
            env,
            default,
            subcommands,
        };
        assert!(
            out.insert(flag.clone(), row).is_none(),
            "{flag} appears twice in the table"
        );
    }
    out
}

/// Every `--name` and `SIGNALGATE_NAME` token in `text`.
fn mentioned_names(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let is_flag_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let mut flags = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let before = text[..i].chars().next_back();
        let name: String = text[i + 2..]
            .chars()
            .take_while(|&c| is_flag_char(c))
            .collect();
        let name = name.trim_end_matches('-');
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '-')
            && name.starts_with(|c: char| c.is_ascii_lowercase())
        {
            flags.insert(format!("--{name}"));
        }
    }
    let mut envs = BTreeSet::new();
    for (i, _) in text.match_indices("SIGNALGATE_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let name = name.trim_end_matches('_');
        if name.len() > "SIGNALGATE_".len() {
            envs.insert(name.to_owned());
        }
    }
    (flags, envs)
}

fn read_doc() -> String {
    std::fs::read_to_string(DOC_PATH).unwrap_or_else(|e| panic!("cannot read {DOC_PATH}: {e}"))
}

#[test]
fn every_cli_flag_is_documented_with_its_env_default_and_subcommands() {
    let doc = read_doc();
    let rows = doc_rows(&doc);
    let mut problems = Vec::new();
    for (flag, cli) in cli_flags() {
        let Some(row) = rows.get(&flag) else {
            problems.push(format!(
                "{flag}: missing from the settings table in docs/configuration.md"
            ));
            continue;
        };
        if row.env != cli.env {
            problems.push(format!(
                "{flag}: docs say environment variable {:?}, the CLI has {:?}",
                row.env, cli.env
            ));
        }
        if row.default != cli.default {
            problems.push(format!(
                "{flag}: docs say default {:?}, clap's default is {:?}",
                row.default, cli.default
            ));
        }
        if row.subcommands != cli.subcommands {
            problems.push(format!(
                "{flag}: docs mark it for subcommands {:?}, the CLI defines it in {:?} (empty = global)",
                row.subcommands, cli.subcommands
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_documented_flag_and_env_var_exists_in_the_cli() {
    let doc = read_doc();
    let cli = cli_flags();
    let mut known_flags: BTreeSet<String> = cli.keys().cloned().collect();
    known_flags.extend(BUILT_IN.iter().map(|f| format!("--{f}")));
    let known_envs: BTreeSet<String> = cli.values().filter_map(|f| f.env.clone()).collect();

    let mut problems = Vec::new();
    for flag in doc_rows(&doc).keys() {
        if !cli.contains_key(flag) {
            problems.push(format!(
                "{flag}: row in the settings table, but the CLI has no such flag"
            ));
        }
    }
    let (flags, envs) = mentioned_names(&doc);
    for flag in flags.difference(&known_flags) {
        problems.push(format!(
            "{flag}: mentioned in docs/configuration.md, but the CLI has no such flag"
        ));
    }
    for env in envs.difference(&known_envs) {
        problems.push(format!(
            "{env}: mentioned in docs/configuration.md, but no CLI flag reads it"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_doc_parsers_find_what_they_should() {
    // Guards the checks above against a parser that silently finds nothing.
    let row =
        "| `--log-format <text\\|json>` (serve, demo) | `SIGNALGATE_LOG_FORMAT` | `text` | x |";
    let rows = doc_rows(row);
    let r = &rows["--log-format"];
    assert_eq!(r.env.as_deref(), Some("SIGNALGATE_LOG_FORMAT"));
    assert_eq!(r.default.as_deref(), Some("text"));
    assert_eq!(
        r.subcommands,
        BTreeSet::from(["serve".to_owned(), "demo".to_owned()])
    );
    let (flags, envs) =
        mentioned_names("use `--no-migrate`, not x--y or ---; SIGNALGATE_DEMO=1, SIGNALGATE_*");
    assert_eq!(flags, BTreeSet::from(["--no-migrate".to_owned()]));
    assert_eq!(envs, BTreeSet::from(["SIGNALGATE_DEMO".to_owned()]));
    assert!(
        doc_rows(&read_doc()).len() > 10,
        "the settings table was not found"
    );
}

/// The adoption statements the gateway prints when it refuses design-document tables are the
/// ones docs/schema.md shows, byte for byte.
#[test]
fn the_printed_adoption_steps_are_the_documented_ones() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.md");
    let doc = std::fs::read_to_string(path).expect("docs/schema.md");
    for (name, sql) in [
        ("mysql", include_str!("../src/store/adopt/mysql.sql")),
        ("postgres", include_str!("../src/store/adopt/postgres.sql")),
    ] {
        assert!(
            doc.contains(&format!("```sql\n{sql}```")),
            "docs/schema.md must show src/store/adopt/{name}.sql verbatim"
        );
    }
}
