//! `report.html` and `plan --output html` rendered in a real headless Chromium (Debian's
//! `chromium`): the page's script runs without error and draws every step.

use std::{path::Path, process::Command};

use crate::common::*;

fn chromium() -> String {
    std::env::var("AEGIS_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// The DOM of `page` after Chromium loaded it and ran its script.
fn rendered(page: &Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{}` ({e}): install Debian's `chromium` (scripts/test.sh does) or set AEGIS_CHROMIUM", chromium())
        });
    assert!(out.status.success(), "chromium failed: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The `<body ...>` tag of a DOM dump.
fn body_tag(dom: &str) -> &str {
    let at = dom.find("<body").expect("a body");
    let end = dom[at..].find('>').expect("body tag ends") + at;
    &dom[at..=end]
}

fn drawn(dom: &str) -> usize {
    let tag = body_tag(dom);
    assert!(!tag.contains("data-errors"), "script error: {tag}");
    let v = tag
        .split("data-drawn=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the script did not run: {tag}"));
    v.parse().expect("a count")
}

#[test]
fn the_html_report_of_a_drill_draws_every_step_in_chromium() {
    let env = Env::new(
        "",
        r#"
[[hooks]]
name = "smoke"
type = "command"
phases = ["failover"]
after = "verify-dr"
command = ["sh", "-c", "echo 'smoke <ok> & done'"]
"#,
    );
    let o = env.run(&["--output", "json", "drill", "--yes"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let id = doc["run_id"].as_str().expect("run id");
    let page = env.state().join("runs").join(id).join("report.html");
    let dom = rendered(&page);
    let steps = doc["steps"].as_array().expect("steps");
    assert_eq!(drawn(&dom), steps.len());
    for s in steps {
        let id = s["id"].as_str().expect("id");
        assert!(
            dom.contains(&format!(
                "<g class=\"step\" data-step=\"{id}\" data-status=\"succeeded\""
            )),
            "{id} not drawn as succeeded"
        );
    }
    // The hook's output is escaped, not markup.
    assert!(
        dom.contains("smoke &lt;ok&gt; &amp; done"),
        "hook evidence escaped"
    );
    assert!(dom.contains("id=\"rto-achieved\""));

    // `report --output html` prints the same page.
    let o = env.run(&["--output", "html", "report", id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let printed = env.path().join("printed.html");
    std::fs::write(&printed, &o.stdout).expect("write");
    assert_eq!(drawn(&rendered(&printed)), steps.len());
}

#[test]
fn the_planned_graph_is_drawn_the_same_way_and_forced_skips_are_flagged() {
    let env = Env::new(
        "",
        r#"
[[hooks]]
name = "scan"
type = "command"
phases = ["failover"]
after = "verify-dr"
command = ["false"]
"#,
    );
    let o = env.run(&["--output", "html", "plan", "--operation", "drill"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = env.path().join("plan.html");
    std::fs::write(&page, &o.stdout).expect("write");
    let o = env.run(&["--output", "json", "plan", "--operation", "drill"]);
    let n = json(&o)["steps"].as_array().map(Vec::len).expect("steps");
    let dom = rendered(&page);
    assert_eq!(drawn(&dom), n);
    assert!(dom.contains("data-status=\"planned\""));
    let o = env.run(&["--output", "html", "status"]);
    assert_eq!(code(&o), 2, "html is for plan and report: {}", stderr(&o));

    // A failed hook, then a forced skip of it and a resume: the page flags it in red.
    let o = env.run(&["--output", "json", "failover", "--yes"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let id = json(&o)["run_id"].as_str().expect("run id").to_string();
    let o = env.run(&[
        "skip",
        &id,
        "hook.scan",
        "--reason",
        "scanner down",
        "--force",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = env.run(&["--output", "json", "failover", "--yes", "--resume", &id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let dom = rendered(&env.state().join("runs").join(&id).join("report.html"));
    assert!(
        dom.contains("id=\"forced-skips\"") && dom.contains("hook.scan"),
        "forced skip flagged"
    );
    assert!(dom.contains("<g class=\"step\" data-step=\"hook.scan\" data-status=\"skipped\""));
}
