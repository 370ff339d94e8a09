//! The book and the editor support: the generated reference pages are what the code prints now,
//! mdBook builds the book and every link in it leads to a page and a heading that exist, and taplo
//! (a TOML language server's checker no one here wrote) accepts every example plan against
//! `aegis-dr schema` and refuses a misspelt key.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::common::{code, stderr};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aegis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn printed(args: &[&str]) -> String {
    let o = aegis(args);
    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// A tool `scripts/test-tools.sh install` puts under `.ci/`; its absence fails the test, naming
/// the install command (a test never skips silently).
fn tool(relative: &str) -> PathBuf {
    let path = repo().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/test-tools.sh install`",
        path.display()
    );
    path
}

#[test]
fn reference_pages_are_what_the_code_prints() {
    for page in ["cli", "plan"] {
        let file = repo().join(format!("docs/src/reference/{page}.md"));
        let written = std::fs::read_to_string(&file).expect("reference page");
        let now = printed(&["reference", page]);
        assert!(
            written == now,
            "docs/src/reference/{page}.md is out of date with the code: regenerate it with\n  \
             cargo run -p aegis-dr-cli -- reference {page} > docs/src/reference/{page}.md"
        );
    }
}

/// The `attr="..."` values in an HTML page.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Every id in an HTML page.
fn ids(html: &str) -> BTreeSet<String> {
    attributes(html, "id")
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The book's chapters as mdBook wrote them: each `.md` under `docs/src` as its `.html`.
fn chapters(out: &Path) -> Vec<PathBuf> {
    let src = repo().join("docs/src");
    let mut pages = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md")
                && path.file_name().is_some_and(|n| n != "SUMMARY.md")
            {
                let rel = path.strip_prefix(&src).expect("under src");
                pages.push(out.join(rel).with_extension("html"));
            }
        }
    }
    pages.sort();
    pages
}

/// The broken links of one built chapter: a relative `href` or `src` naming no file, or a
/// `#fragment` naming no id of its page.
fn broken_links(page: &Path, out: &Path, pages: &mut BTreeMap<PathBuf, String>) -> Vec<String> {
    let html = pages[page].clone();
    let mut broken = Vec::new();
    let links = attributes(&html, "href")
        .into_iter()
        .chain(attributes(&html, "src"));
    for link in links {
        if link.contains("://") || link.starts_with("mailto:") || link.starts_with("//") {
            continue;
        }
        let (path, fragment) = match link.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (link, None),
        };
        let path = path.split('?').next().unwrap_or_default();
        let target = if path.is_empty() {
            page.to_path_buf()
        } else {
            let mut t = page.parent().expect("page folder").join(path);
            if path.ends_with('/') {
                t = t.join("index.html");
            }
            t
        };
        let Ok(target) = target.canonicalize() else {
            broken.push(format!("{link}: no such file"));
            continue;
        };
        if !target.starts_with(out) {
            broken.push(format!("{link}: outside the book"));
            continue;
        }
        let Some(fragment) = fragment.filter(|f| !f.is_empty()) else {
            continue;
        };
        if target.extension().is_some_and(|e| e == "html") {
            let text = pages
                .entry(target.clone())
                .or_insert_with(|| std::fs::read_to_string(&target).unwrap_or_default());
            if !ids(text).contains(fragment) {
                broken.push(format!("{link}: no id `{fragment}` on that page"));
            }
        }
    }
    broken
}

#[test]
fn the_book_builds_and_every_link_in_it_resolves() {
    let mdbook = tool(".ci/.venv-mdbook/bin/mdbook");
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Command::new(mdbook)
        .arg("build")
        .arg(repo().join("docs"))
        .arg("--dest-dir")
        .arg(dir.path())
        .output()
        .expect("mdbook runs");
    assert!(o.status.success(), "mdbook build: {}", stderr(&o));
    assert!(
        !stderr(&o).contains("WARN") && !stderr(&o).contains("ERROR"),
        "mdbook warns:\n{}",
        stderr(&o)
    );
    let out = dir.path().canonicalize().expect("book folder");
    let chapters = chapters(&out);
    let mut pages = BTreeMap::new();
    for page in &chapters {
        let text = std::fs::read_to_string(page).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (a chapter missing from SUMMARY.md?)",
                page.display()
            )
        });
        pages.insert(page.canonicalize().expect("page"), text);
    }
    // The check can see a broken link: a page with one is caught.
    let probe = out.join("probe.html");
    std::fs::write(
        &probe,
        "<a href=\"concepts/nowhere.html\">x</a><a href=\"#gone\">y</a>",
    )
    .unwrap();
    pages.insert(probe.clone(), std::fs::read_to_string(&probe).unwrap());
    assert_eq!(broken_links(&probe, &out, &mut pages).len(), 2);
    let mut all = Vec::new();
    for page in chapters {
        let page = page.canonicalize().expect("page");
        for link in broken_links(&page, &out, &mut pages) {
            all.push(format!(
                "{}: {link}",
                page.strip_prefix(&out).unwrap().display()
            ));
        }
    }
    assert!(
        all.is_empty(),
        "broken links in the book:\n{}",
        all.join("\n")
    );
}

/// taplo's verdict on `plan` against `schema`: success, and what it printed.
fn taplo_lint(schema: &Path, plan: &Path) -> (bool, String) {
    let taplo = tool(".ci/taplo/node_modules/.bin/taplo");
    let o = Command::new(taplo)
        .args(["lint", "--no-auto-config", "--schema"])
        .arg(format!("file://{}", schema.display()))
        .arg(plan)
        .output()
        .expect("taplo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    (o.status.success(), text)
}

#[test]
fn taplo_accepts_every_example_against_the_schema_and_refuses_a_misspelt_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = dir.path().join("aegis-dr.schema.json");
    std::fs::write(&schema, printed(&["schema"])).expect("schema");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 7, "{examples:?}");
    for plan in &examples {
        let (ok, text) = taplo_lint(&schema, plan);
        assert!(ok, "taplo refuses {}:\n{text}", plan.display());
    }

    // A key misspelt inside an array of tables: taplo names it, and so does `aegis-dr check`.
    let good = std::fs::read_to_string(repo().join("examples/aegis.toml")).expect("example");
    assert!(good.contains("\nhealth_check = "));
    let bad = dir.path().join("aegis.toml");
    std::fs::write(&bad, good.replace("\nhealth_check = ", "\nhealthcheck = ")).expect("plan");
    let (ok, text) = taplo_lint(&schema, &bad);
    assert!(!ok, "taplo accepts a misspelt key:\n{text}");
    assert!(text.contains("healthcheck"), "{text}");
    let o = aegis(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("healthcheck"), "{}", stderr(&o));

    // The `#:schema` directive the schema command's help gives works as written.
    let directed = dir.path().join("directed.toml");
    std::fs::write(
        &directed,
        format!(
            "#:schema ./aegis-dr.schema.json\n{}",
            good.replace("\nttl = 60", "\nttl = \"60\"")
        ),
    )
    .expect("plan");
    let taplo = tool(".ci/taplo/node_modules/.bin/taplo");
    let o = Command::new(taplo)
        .args(["lint", "--no-auto-config"])
        .arg(&directed)
        .current_dir(dir.path())
        .output()
        .expect("taplo runs");
    assert!(
        !o.status.success(),
        "taplo took no schema from the directive"
    );
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(text.contains("\"60\" is not of type \"integer\""), "{text}");

    // So does the `.taplo.toml` rule the book gives.
    std::fs::write(
        dir.path().join(".taplo.toml"),
        "[[rule]]\ninclude = [\"**/aegis*.toml\"]\n\n[rule.schema]\npath = \"./aegis-dr.schema.json\"\n",
    )
    .expect("taplo config");
    let o = Command::new(tool(".ci/taplo/node_modules/.bin/taplo"))
        .args(["lint", "aegis.toml"])
        .current_dir(dir.path())
        .output()
        .expect("taplo runs");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(
        !o.status.success() && text.contains("'healthcheck' was unexpected"),
        "{text}"
    );
}
