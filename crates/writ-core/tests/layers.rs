//! The shape of writ-core, checked: arrows only point down.
//!
//! Rust allows modules of one crate to import each other in circles; nothing but a
//! test keeps them from doing so. This one reads every source file, resolves each
//! `crate::…` / `super::…` path it uses to the file that defines the item, and
//! checks three rules:
//!
//! 1. the file-level import graph has no cycle;
//! 2. files under `values/` import only other files under `values/` (the bottom
//!    layer: names, ids, time, canonical encoding, refusals, identity and catalogue
//!    types, no rules);
//! 3. `ctx.rs` imports no file that holds a capability's rules, and `decide.rs` only
//!    dispatches (it holds no `if`, no `Refusal` and no `Event` of its own).
//!
//! Re-exports (`pub use`) are a module's surface, not a use of what they name, and
//! are left out; everything after a file's `#[cfg(test)]` is left out too.
//! Capabilities may not reach into each other's private files — that part the
//! compiler checks, because those files are private modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A source file, by its path under `src/` (`requests/submit.rs`).
type File = String;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn rel(path: &Path) -> File {
    path.strip_prefix(src())
        .expect("under src")
        .to_string_lossy()
        .replace('\\', "/")
}

/// The code of a file without comments, string and char contents, and its test
/// module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_str = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_str {
            match c {
                '\\' => i += 1,
                '"' => {
                    in_str = false;
                    out.push('"');
                }
                '\n' => out.push('\n'),
                _ => {}
            }
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '"' {
            in_str = true;
            out.push('"');
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            continue;
        } else if c == '\'' && next == Some('\\') {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '\'')
                .map_or(2, |p| p + 3);
            i += close;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// The module path of a file: `requests/submit.rs` → `["requests", "submit"]`,
/// `requests/mod.rs` → `["requests"]`, `lib.rs` → `[]`.
fn module_of(file: &str) -> Vec<String> {
    let trimmed = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Expands one `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').expect("a closing brace")];
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_owned()
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every path a file's code uses: `use` trees (but not re-exports) and inline
/// `crate::…` / `super::…` paths.
fn used_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    // `use` statements, which may span lines.
    let mut body = String::new();
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let at_start = before
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == ';' || c == '{' || c == '}');
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let reexport = before[line_start..].trim_start().starts_with("pub");
        let end = rest[i..].find(';').map_or(rest.len(), |e| i + e);
        if at_start {
            if !reexport {
                paths.extend(expand(&rest[i + 4..end]));
            }
            body.push_str(&rest[..i]);
        } else {
            body.push_str(&rest[..end]);
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    body.push_str(rest);
    // Inline paths in the remaining code.
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = body[from..].find(start) {
            let i = from + i;
            let boundary = body[..i]
                .chars()
                .last()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':');
            let end = body[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(body.len(), |e| i + e);
            if boundary {
                paths.push(body[i..end].trim_end_matches(':').to_owned());
            }
            from = end.max(i + start.len());
        }
    }
    paths
}

struct Crate {
    /// Every file, with its code.
    code: BTreeMap<File, String>,
}

impl Crate {
    fn load() -> Crate {
        let mut all = Vec::new();
        files(&src(), &mut all);
        let code = all
            .iter()
            .map(|p| {
                (
                    rel(p),
                    code(&fs::read_to_string(p).expect("readable source")),
                )
            })
            .collect();
        Crate { code }
    }

    /// The file of a module path, if the module is a file or a folder.
    fn module_file(&self, module: &[String]) -> Option<File> {
        if module.is_empty() {
            return Some("lib.rs".into());
        }
        let base = module.join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|f| self.code.contains_key(f))
    }

    /// The files under a module (itself and everything below it).
    fn files_under(&self, module: &[String]) -> Vec<&File> {
        let base = module.join("/");
        self.code
            .keys()
            .filter(|f| {
                module.is_empty()
                    || f.as_str() == format!("{base}.rs")
                    || f.starts_with(&format!("{base}/"))
            })
            .collect()
    }

    /// The file that defines `name` at the top level somewhere under `module`.
    fn definer(&self, module: &[String], name: &str) -> Result<Option<File>, String> {
        let kinds = ["fn", "struct", "enum", "trait", "type", "const", "static"];
        let mut found = BTreeSet::new();
        for f in self.files_under(module) {
            for line in self.code[f].lines() {
                let Some(rest) = line.strip_prefix("pub") else {
                    continue;
                };
                let rest = match rest.strip_prefix('(') {
                    Some(r) => r.split_once(')').map_or("", |(_, r)| r),
                    None => rest,
                };
                let mut words = rest.split_whitespace();
                let Some(kind) = words.next() else { continue };
                let ident = words.next().map(|w| {
                    w.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                });
                if kinds.contains(&kind) && ident == Some(name) {
                    found.insert(f.clone());
                }
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.into_iter().next()),
            _ => Err(format!(
                "`{name}` is defined in several files under `{}`: {found:?}",
                module.join("::")
            )),
        }
    }

    /// The file a path used in `from` refers to.
    fn resolve(&self, from: &File, path: &str) -> Result<Option<File>, String> {
        let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let here = module_of(from);
        let mut module: Vec<String> = match segments.first() {
            Some(&"crate") => {
                segments.remove(0);
                Vec::new()
            }
            Some(&"super") => {
                let mut m = here.clone();
                while segments.first() == Some(&"super") {
                    segments.remove(0);
                    m.pop();
                }
                m
            }
            Some(&"self") => {
                segments.remove(0);
                here.clone()
            }
            Some(first) => {
                // A child module of this one (`use model::Request` in a `mod.rs`).
                let mut child = here.clone();
                child.push((*first).to_owned());
                if self.module_file(&child).is_none() {
                    return Ok(None); // an external crate or std
                }
                here.clone()
            }
            None => return Ok(None),
        };
        for (i, seg) in segments.iter().enumerate() {
            let mut next = module.clone();
            next.push((*seg).to_owned());
            if self.module_file(&next).is_some() {
                module = next;
                continue;
            }
            // `seg` is an item of `module`: the file below it that defines it, or the
            // module's own file (a re-export of something the module itself made).
            let _ = i;
            return Ok(Some(
                self.definer(&module, seg)?
                    .or_else(|| self.module_file(&module))
                    .expect("a module has a file"),
            ));
        }
        Ok(self.module_file(&module))
    }

    fn graph(&self) -> (BTreeMap<File, BTreeSet<File>>, Vec<String>) {
        let mut edges: BTreeMap<File, BTreeSet<File>> = BTreeMap::new();
        let mut problems = Vec::new();
        for (file, code) in &self.code {
            let entry = edges.entry(file.clone()).or_default();
            for path in used_paths(code) {
                match self.resolve(file, &path) {
                    Ok(Some(target)) if &target != file => {
                        entry.insert(target);
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(format!("{file}: {e}")),
                }
            }
        }
        (edges, problems)
    }
}

/// A cycle through the graph, if there is one, as the files along it.
fn cycle(edges: &BTreeMap<File, BTreeSet<File>>) -> Option<Vec<File>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        f: &File,
        edges: &BTreeMap<File, BTreeSet<File>>,
        marks: &mut BTreeMap<File, Mark>,
        stack: &mut Vec<File>,
    ) -> Option<Vec<File>> {
        marks.insert(f.clone(), Mark::Open);
        stack.push(f.clone());
        for t in edges.get(f).into_iter().flatten() {
            match marks.get(t).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let start = stack.iter().position(|s| s == t).unwrap_or(0);
                    let mut c = stack[start..].to_vec();
                    c.push(t.clone());
                    return Some(c);
                }
                Mark::New => {
                    if let Some(c) = visit(t, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(f.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for f in edges.keys() {
        if marks.get(f).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(f, edges, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_import_graph_of_writ_core_has_no_cycle_and_values_are_the_bottom() {
    let krate = Crate::load();
    let (edges, problems) = krate.graph();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        edges.len() > 20 && edges.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the graph is implausibly small: {edges:#?}"
    );
    if let Some(c) = cycle(&edges) {
        panic!(
            "writ-core's modules import each other in a circle:\n  {}",
            c.join("\n  → ")
        );
    }
    let mut wrong = Vec::new();
    for (file, targets) in &edges {
        if file.starts_with("values/") {
            for t in targets.iter().filter(|t| !t.starts_with("values/")) {
                wrong.push(format!("{file} (a value) imports {t}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the bottom layer reaches up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_context_imports_no_rules_and_decide_only_dispatches() {
    let krate = Crate::load();
    let (edges, _) = krate.graph();
    // A file holds rules when it reads a `Ctx`: every capability's `decide_*` does.
    let rules: BTreeSet<&File> = edges
        .iter()
        .filter(|(f, t)| f.as_str() != "decide.rs" && t.contains("ctx.rs"))
        .map(|(f, _)| f)
        .collect();
    assert!(
        rules.len() >= 8,
        "expected the capabilities' rule files, found {rules:?}"
    );
    let ctx = &edges["ctx.rs"];
    let reached: Vec<_> = ctx.iter().filter(|t| rules.contains(t)).collect();
    assert!(reached.is_empty(), "ctx.rs imports rules: {reached:?}");
    let decide = &krate.code["decide.rs"];
    let body = &decide[decide
        .find("pub fn decide")
        .expect("decide.rs holds decide")..];
    for rule in ["if ", "Refusal::", "Event::", "return "] {
        assert!(
            !body.contains(rule),
            "decide.rs writes a rule of its own (`{rule}`)"
        );
    }
}

#[test]
fn the_checker_sees_a_cycle_and_a_value_reaching_up() {
    // The checker itself must fail on what it forbids; otherwise a green run proves
    // nothing.
    let mut edges: BTreeMap<File, BTreeSet<File>> = BTreeMap::new();
    edges
        .entry("a.rs".into())
        .or_default()
        .insert("b.rs".into());
    edges
        .entry("b.rs".into())
        .or_default()
        .insert("c.rs".into());
    edges
        .entry("c.rs".into())
        .or_default()
        .insert("a.rs".into());
    let c = cycle(&edges).expect("a cycle");
    assert_eq!(c.first(), c.last());
    edges.get_mut("c.rs").unwrap().clear();
    assert!(cycle(&edges).is_none());

    assert_eq!(
        expand("crate::{requests::{Request, Submission as S}, values::Name}"),
        [
            "crate::requests::Request",
            "crate::requests::Submission",
            "crate::values::Name"
        ]
    );
    let paths = used_paths(
        "pub use model::Grant;\nuse crate::ctx::{Ctx, writer};\nfn f() { crate::breakglass::precheck(x); }\n",
    );
    assert_eq!(
        paths,
        [
            "crate::ctx::Ctx",
            "crate::ctx::writer",
            "crate::breakglass::precheck"
        ]
    );
    assert_eq!(
        code("let x = \"crate::nothing\"; // crate::neither\n"),
        "let x = \"\"; \n"
    );
}
