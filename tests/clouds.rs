//! One harness for "failover and failback through the binary" on every cloud: the flow is the same
//! (check, fail over, see the estate on DR, fail back, see it on the primary, read the permissions
//! the plan needs); each cloud says, in its [`Cloud`] implementation, how the binary reaches its
//! emulator or simulator and what its own state must show.

use std::process::Output;

use serde_json::Value;

use crate::common::{code, json, stderr};

/// One cloud's estate under test.
pub(crate) trait Cloud {
    /// The binary, run with the plan, the state folder and this cloud's endpoints and credentials.
    fn run(&self, args: &[&str]) -> Output;
    /// What `check` must print (`None`: only that it passes).
    fn check_says(&self) -> Option<&'static str>;
    /// The cloud's own state after the failover: everything on DR (and the report's figures).
    fn assert_on_dr(&self, report: &Value);
    /// The cloud's own state after the failback: everything on the primary again.
    fn assert_on_primary(&self, report: &Value);
    /// The command printing the permissions the plan needs, and what they must name.
    fn permissions(&self) -> (&'static [&'static str], &'static [&'static str]);
}

/// The exit code and JSON report of `args`, which must succeed.
fn succeeds(c: &dyn Cloud, args: &[&str]) -> Value {
    let o = c.run(args);
    let r = json(&o);
    assert_eq!(code(&o), 0, "{args:?}: {r:#}\n{}", stderr(&o));
    assert_eq!(r["status"], "succeeded", "{args:?}: {r:#}");
    r
}

/// A region-outage failover that must succeed: its report.
pub(crate) fn fail_over(c: &dyn Cloud) -> Value {
    succeeds(
        c,
        &[
            "failover",
            "--class",
            "region-outage",
            "--yes",
            "--output",
            "json",
        ],
    )
}

/// Check, failover, failback and permissions through the binary, each checked in the cloud.
pub(crate) fn round_trip(c: &dyn Cloud) {
    let o = c.run(&["check", "--output", "json"]);
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(code(&o), 0, "check: {text}\n{}", stderr(&o));
    if let Some(says) = c.check_says() {
        assert!(text.contains(says), "check must say `{says}`: {text}");
    }

    let o = c.run(&["failback", "--dry-run"]);
    assert_eq!(code(&o), 0, "failback --dry-run: {}", stderr(&o));

    let r = fail_over(c);
    assert_eq!(r["targets"]["rto_seconds"].as_f64(), Some(1800.0), "{r:#}");
    assert!(r["achieved"]["rto_seconds"].as_f64().is_some(), "{r:#}");
    c.assert_on_dr(&r);

    let r = succeeds(c, &["failback", "--yes", "--output", "json"]);
    c.assert_on_primary(&r);

    let (args, names) = c.permissions();
    let o = c.run(args);
    assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("{args:?} must print one JSON document ({e}): {out}"));
    for n in names {
        assert!(out.contains(n), "{args:?} must name {n}: {out}");
    }
}
