//! ARCHITECTURE.md's table of allowed module dependencies, held to the code: every
//! `crate::…` path in `src/` must name the module itself or one its row allows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The table between the `allowed-dependencies` markers: module → what it may import.
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string("ARCHITECTURE.md").expect("ARCHITECTURE.md");
    let start = text
        .find("<!-- allowed-dependencies")
        .expect("the table's start marker");
    let end = text
        .find("<!-- end allowed-dependencies -->")
        .expect("the table's end marker");
    text[start..end]
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let module = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let targets = cells
                .get(2)?
                .split(',')
                .map(|target| target.trim().trim_matches('`').to_owned())
                .filter(|target| !target.is_empty())
                .collect();
            Some((module.to_owned(), targets))
        })
        .collect()
}

/// The top-level modules each `crate::` path names, in text without `//` comments.
fn imported_modules(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first segment of each top-level item.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.remove("");
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_in_src_is_one_architecture_md_allows() {
    let allowed = allowed();
    assert!(
        allowed.contains_key("core"),
        "the table was read: {allowed:?}"
    );
    let mut files = Vec::new();
    sources(Path::new("src"), &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix("src").unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(permitted) = allowed.get(&module) else {
            violations.push(format!("{module} has no row in ARCHITECTURE.md"));
            continue;
        };
        let source = std::fs::read_to_string(&file).unwrap();
        for imported in imported_modules(&source) {
            if imported != module && !permitted.contains(&imported) {
                violations.push(format!("{} imports crate::{imported}", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_import_reader_sees_grouped_and_nested_paths() {
    let found = imported_modules(
        "use crate::{api, store::{Hook, HookId}};\n// crate::ui\nlet x = crate::core::Core::new();",
    );
    assert_eq!(
        found,
        ["api", "core", "store"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}
