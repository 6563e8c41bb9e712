//! Keeps the layering of `src/` that `lib.rs`'s `# Layout` describes: every top-level module
//! imports (`crate::…`) only modules of lower layers, so no two modules import each other
//! through any path. The one known exception is listed in [`UPWARD`], and must still exist (so
//! the list shrinks when it is removed).
//!
//! The imports are read from the source text: every `crate::name` path, and every item of a
//! `crate::{…}` group, comments left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// The layers, from the bottom. A module may import the modules of the layers below its own.
const LAYERS: &[&[&str]] = &[
    // Leaves: nothing of the crate.
    &[
        "domain",
        "config",
        "metrics",
        "lifecycle",
        "serve",
        "shutdown",
        "web",
    ],
    &["store", "auth", "telemetry"],
    &["bus"],
    &["poller", "retention", "demo"],
    &["realtime"],
    &["group"],
    &["http"],
    &["startup"],
];

/// Imports that point up, with why they are still there (none left).
const UPWARD: &[(&str, &str, &str)] = &[];

/// `text` without its comments. String literals are kept as they are (a `//` or `/*` in one
/// is no comment); `'"'` is a character, not a string.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let skip = if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |n| n + 2);
            rest = &rest[end..];
            continue;
        } else if rest.starts_with("'\"'") {
            3
        } else if let Some(raw) = rest.strip_prefix("r#\"") {
            raw.find("\"#").map_or(rest.len(), |n| n + 5)
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut escaped = false;
            let close = body.find(|c: char| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            });
            close.map_or(rest.len(), |n| n + 2)
        } else {
            rest.chars().next().map_or(1, char::len_utf8)
        };
        out.push_str(&rest[..skip]);
        rest = &rest[skip..];
    }
    out
}

/// The first path segment of every `crate::` path in `text`, and of every item of a
/// `crate::{…}` group.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let after = &text[i + "crate::".len()..];
        if !after.starts_with('{') {
            found.insert(ident(after));
            continue;
        }
        // The items of the group at its top level (`a::{x, y}` counts as `a`).
        let (mut depth, mut item) = (0, String::new());
        for c in after.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth == 0 || (depth == 1 && c == ',') {
                found.insert(ident(&item));
                item.clear();
                if depth == 0 {
                    break;
                }
            } else if depth >= 1 && !(depth == 1 && c == '{') {
                item.push(c);
            }
        }
    }
    found.remove("");
    found
}

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// Top-level module → the top-level modules it imports (with a file that does).
fn imports(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut modules = BTreeMap::new();
    for entry in fs::read_dir(src).expect("src") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        modules.entry(name).or_insert_with(Vec::new).push(path);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .into_iter()
        .map(|(module, paths)| {
            let mut files = Vec::new();
            for p in &paths {
                rust_files(p, &mut files);
            }
            let mut uses = BTreeMap::new();
            for file in files {
                let text = strip_comments(&fs::read_to_string(&file).expect("read"));
                for used in crate_paths(&text) {
                    if used != module && names.contains(&used) {
                        let shown = file.strip_prefix(src).unwrap_or(&file);
                        uses.entry(used)
                            .or_insert_with(|| shown.display().to_string());
                    }
                }
            }
            (module, uses)
        })
        .collect()
}

#[test]
fn reads_grouped_and_nested_imports() {
    let text =
        "use crate::{\n    a::{self, B},\n    b,\n    c::d::{e, f},\n};\nfn x() { crate::g::h(); }";
    let got: Vec<String> = crate_paths(&strip_comments(text)).into_iter().collect();
    assert_eq!(got, ["a", "b", "c", "g"]);
    assert!(crate_paths(&strip_comments("// crate::z\n/* crate::y */")).is_empty());
    let kept = strip_comments("let u = \"http://x/*\"; // crate::z\nlet q = '\"'; crate::k::f();");
    assert!(
        kept.contains("http://x/*") && !kept.contains("crate::z"),
        "{kept}"
    );
    assert!(crate_paths(&kept).contains("k"), "{kept}");
}

#[test]
fn imports_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = imports(&src);
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i)))
        .collect();
    let unplaced: Vec<&String> = graph
        .keys()
        .filter(|m| !layer_of.contains_key(m.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules in no layer (add them to LAYERS and to lib.rs's # Layout): {unplaced:?}"
    );
    let mut wrong = Vec::new();
    let mut upward_seen = BTreeSet::new();
    for (module, uses) in &graph {
        for (used, file) in uses {
            let Some(&to) = layer_of.get(used.as_str()) else {
                continue;
            };
            if to < layer_of[module.as_str()] {
                continue;
            }
            if UPWARD.iter().any(|(a, b, _)| a == module && b == used) {
                upward_seen.insert((module.as_str(), used.as_str()));
                continue;
            }
            wrong.push(format!("{module} -> {used} ({file})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not point to a lower layer: {wrong:#?}"
    );
    for (a, b, why) in UPWARD {
        assert!(
            upward_seen.contains(&(*a, *b)),
            "{a} -> {b} is gone ({why}): remove it from UPWARD"
        );
    }
}
