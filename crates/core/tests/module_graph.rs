//! Core's top-level modules depend one way: no import circle among them. Read from the sources'
//! `crate::<module>` paths (doc links included, test modules left out), as a newcomer reads them.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The core crate's `src`.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules of `src` (a file or a folder each), `lib` aside.
fn modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .expect("read src")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            match name.strip_suffix(".rs") {
                Some(m) if m != "lib" => Some(m.to_string()),
                Some(_) => None,
                None => e.path().is_dir().then_some(name),
            }
        })
        .collect()
}

/// The modules `text` names after `crate::`, alone (`crate::plan::Plan`) or in a group
/// (`use crate::{plan::Plan, error::Error}`).
fn named(text: &str, mods: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = &group[..group.find("};").unwrap_or(group.len())];
            for part in body.split([',', '{', '\n']) {
                let m = ident(part.trim());
                if part.trim().starts_with(&format!("{m}::")) || part.trim() == m {
                    out.insert(m);
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| mods.contains(m));
    out
}

/// Which top-level module each top-level module imports.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let mut all = Vec::new();
    files(src, &mut all);
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in all {
        let rel = f.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a path");
        let top = first.as_os_str().to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top).to_string();
        if top == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        let entry = out.entry(top.clone()).or_default();
        entry.extend(named(text, &mods).into_iter().filter(|m| *m != top));
    }
    out
}

/// The strongly connected components of more than one module (Tarjan).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.edges.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn cores_top_level_modules_import_one_way() {
    let e = edges(&src());
    // The reading works: it sees the orchestrator import the plan, and a circle where there is one.
    assert!(e["orchestrator"].contains("plan"), "{e:?}");
    let mut with_circle = e.clone();
    with_circle
        .entry("plan".into())
        .or_default()
        .insert("orchestrator".into());
    assert!(!circles(&with_circle).is_empty());
    let found = circles(&e);
    assert!(
        found.is_empty(),
        "core's modules import each other in a circle: {found:?} (edges: {e:?})"
    );
}
