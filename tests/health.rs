//! Health endpoints as the runbook checks them: the status code and the JSON body's fields
//! (`{"status":"healthy","region":"dr"}`).

use crate::common::*;

/// The fixture with `expect_json` on the DR endpoint.
fn with_dr_fields(fields: &str) -> Env {
    let text = PLAN.replace("{SIM}", "").replace("{EXTRA}", "");
    let from = "url = \"https://dr.aegis.io/healthz\"";
    assert!(text.contains(from));
    Env::with_plan(&text.replacen(from, &format!("{from}\nexpect_json = {fields}"), 1))
}

#[test]
fn the_dr_endpoints_body_fields_are_checked_before_and_after_a_failover() {
    // The simulated endpoints answer {"status": "healthy", "region": <the site's region>}.
    let env = with_dr_fields("{ status = \"healthy\", region = \"eu-central-1\" }");
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(step(&doc, "verify-dr")["status"], "succeeded");

    let env = with_dr_fields("{ status = \"healthy\", region = \"us-east-1\" }");
    let out = env.run(&["check", "--output", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let check = json(&out)["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "dr-health")
        .cloned()
        .expect("dr-health");
    assert_eq!(check["status"], "fail");
    assert!(
        check["evidence"]
            .as_str()
            .expect("evidence")
            .contains("body field `region` is \"eu-central-1\", expected \"us-east-1\""),
        "{check}"
    );
    // The failover is refused by the failing check (exit 3), before anything changes.
    let out = env.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // A field the endpoint does not send is absent, never a match.
    let env = with_dr_fields("{ version = 3 }");
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains("body field `version` absent, expected 3"),
        "{}",
        stdout(&out)
    );

    let env = with_dr_fields("{ region = [\"dr\"] }");
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("expect_json.region"),
        "{}",
        stderr(&out)
    );
}
