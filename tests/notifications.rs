//! Notifications: the templates POSTed as JSON to a local webhook receiver, and written to a file.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::mpsc,
    time::Duration,
};

use crate::common::*;

/// A tiny HTTP receiver on loopback that answers 200 and hands each body to the channel.
fn receiver(max: usize) -> (String, mpsc::Receiver<serde_json::Value>) {
    receiver_answering_after(max, Duration::ZERO)
}

/// [`receiver`] answering each request `delay` after reading it (a slow webhook).
fn receiver_answering_after(
    max: usize,
    delay: Duration,
) -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hooks/dr", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut len = 0usize;
            let mut line = String::new();
            let mut first = true;
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if first {
                    assert!(line.starts_with("POST /hooks/dr"), "{line}");
                    first = false;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            std::thread::sleep(delay);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body) {
                let _ = tx.send(v);
            }
        }
    });
    (url, rx)
}

#[test]
fn templates_are_posted_to_a_webhook_and_appended_to_a_file() {
    let (url, rx) = receiver(64);
    let extra = format!(
        "[[notifications]]\nkind = \"webhook\"\nurl = \"{url}\"\n\n[[notifications]]\nkind = \"file\"\npath = \"notes/dr.jsonl\"\n"
    );
    let env = Env::new("", &extra);
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let run_id = doc["run_id"].as_str().expect("run id");
    let mut got = Vec::new();
    while let Ok(v) = rx.recv_timeout(Duration::from_secs(2)) {
        got.push(v);
    }
    let templates: Vec<&str> = got.iter().filter_map(|v| v["template"].as_str()).collect();
    assert_eq!(templates.first(), Some(&"initial"), "{templates:?}");
    assert!(templates.contains(&"progress"), "{templates:?}");
    assert_eq!(templates.last(), Some(&"resolution"), "{templates:?}");
    assert!(got.iter().all(|v| v["run_id"] == run_id));
    let resolution = got.last().expect("resolution");
    assert!(
        resolution["text"]
            .as_str()
            .expect("text")
            .contains("Achieved RTO"),
        "{resolution}"
    );
    let file = std::fs::read_to_string(env.path().join("notes/dr.jsonl")).expect("file sink");
    assert_eq!(file.lines().count(), templates.len());
    let sent = doc["notifications"].as_array().expect("notifications");
    assert!(sent.iter().all(|n| n["error"].is_null()), "{sent:?}");
}

#[test]
fn a_dead_webhook_is_reported_and_does_not_fail_the_run() {
    // Bind and drop a listener to get a loopback port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let env = Env::new(
        "",
        &format!("[[notifications]]\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/x\"\n"),
    );
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let sent = json(&out)["notifications"]
        .as_array()
        .expect("notifications")
        .clone();
    assert!(
        !sent.is_empty()
            && sent.iter().all(|n| n["error"]
                .as_str()
                .is_some_and(|e| e.contains("POST failed"))),
        "{sent:?}"
    );
}

#[test]
fn a_slow_webhook_does_not_hold_up_the_next_step_and_messages_stay_in_order() {
    // Every POST is answered after 700 ms. The progress update after the promotion goes out in the
    // background: the DNS switch starts before it is delivered, and the resolution still comes last.
    let (url, rx) = receiver_answering_after(64, Duration::from_millis(700));
    let env = Env::new(
        "",
        &format!("[[notifications]]\nkind = \"webhook\"\nurl = \"{url}\"\n"),
    );
    let out = env.run(&["failover", "--yes", "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let sent = doc["notifications"].as_array().expect("notifications");
    assert!(sent.iter().all(|n| n["error"].is_null()), "{sent:?}");
    let promoted_progress = sent
        .iter()
        .find(|n| n["template"] == "progress")
        .and_then(|n| n["at"].as_str())
        .expect("a progress update");
    let switch_started = doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == "switch-dns-to-dr")
        .and_then(|s| s["started_at"].as_str())
        .expect("the DNS switch started");
    assert!(
        switch_started < promoted_progress,
        "the DNS switch ({switch_started}) waited for the progress update ({promoted_progress})"
    );
    let mut got = Vec::new();
    while let Ok(v) = rx.recv_timeout(Duration::from_secs(2)) {
        got.push(v);
    }
    let templates: Vec<&str> = got.iter().filter_map(|v| v["template"].as_str()).collect();
    assert_eq!(
        templates,
        ["initial", "progress", "progress", "resolution"],
        "delivered in order"
    );
}

#[test]
fn slack_teams_and_pagerduty_sinks_get_their_services_payloads() {
    let (slack, slack_rx) = receiver(64);
    let (teams, teams_rx) = receiver(64);
    let (pd, pd_rx) = receiver(64);
    let extra = format!(
        "[[notifications]]\nkind = \"webhook\"\nformat = \"slack\"\nurl = \"{slack}\"\n\n\
         [[notifications]]\nkind = \"webhook\"\nformat = \"teams\"\nurl = \"{teams}\"\n\n\
         [[notifications]]\nkind = \"webhook\"\nformat = \"pagerduty\"\nurl = \"{pd}\"\nrouting_key_env = \"AEGIS_TEST_PD_KEY\"\n"
    );
    let env = Env::new("", &extra);
    let out = env
        .command(&["failover", "--yes", "--output", "json"])
        .env("AEGIS_TEST_PD_KEY", "R0UT1NGKEY0123456789")
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    let run_id = doc["run_id"].as_str().expect("run id");
    let drain = |rx: &std::sync::mpsc::Receiver<serde_json::Value>| {
        let mut got = Vec::new();
        while let Ok(v) = rx.recv_timeout(Duration::from_secs(2)) {
            got.push(v);
        }
        got
    };

    // Slack incoming webhooks: `text` (the notification fallback) and Block Kit `blocks`.
    let slack = drain(&slack_rx);
    assert_eq!(
        slack.len(),
        4,
        "initial, two progress updates, resolution: {slack:?}"
    );
    for m in &slack {
        assert!(m["text"].as_str().is_some_and(|t| !t.is_empty()), "{m}");
        let blocks = m["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[1]["type"], "section");
        assert_eq!(blocks[1]["text"]["type"], "mrkdwn");
        assert!(blocks[2]["elements"][0]["text"]
            .as_str()
            .expect("context")
            .contains(run_id));
    }

    // Teams: a message whose attachment is an Adaptive Card.
    let teams = drain(&teams_rx);
    assert_eq!(teams.len(), 4);
    for m in &teams {
        assert_eq!(m["type"], "message");
        let a = &m["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert!(a["content"]["version"].as_str().is_some());
        let body = a["content"]["body"].as_array().expect("card body");
        assert!(
            body.iter().all(|b| b["type"].as_str().is_some()),
            "{body:?}"
        );
        assert!(body.iter().any(|b| b["type"] == "FactSet"));
    }

    // PagerDuty Events API v2: trigger at declaration, resolve at resolution, one dedup key, the
    // routing key from the environment; progress updates are not events.
    let pd = drain(&pd_rx);
    let actions: Vec<&str> = pd
        .iter()
        .filter_map(|e| e["event_action"].as_str())
        .collect();
    assert_eq!(actions, ["trigger", "resolve"], "{pd:?}");
    assert!(pd
        .iter()
        .all(|e| e["routing_key"] == "R0UT1NGKEY0123456789"));
    assert_eq!(pd[0]["dedup_key"], pd[1]["dedup_key"]);
    assert!(pd[0]["dedup_key"]
        .as_str()
        .expect("dedup key")
        .contains(run_id));
    let payload = &pd[0]["payload"];
    assert!(payload["summary"]
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024));
    assert!(payload["source"].as_str().is_some());
    assert!(["critical", "error", "warning", "info"]
        .contains(&payload["severity"].as_str().expect("severity")));
    // The report says what was not sent, and why, without calling it a failure.
    let sent = doc["notifications"].as_array().expect("notifications");
    assert!(sent.iter().all(|n| n["error"].is_null()), "{sent:?}");
    assert!(
        sent.iter()
            .any(|n| n["sink"].as_str().is_some_and(|s| s.contains("not sent"))),
        "{sent:?}"
    );
    assert!(
        !stdout(&out).contains("R0UT1NGKEY"),
        "the routing key is never printed"
    );
}

#[test]
fn a_pagerduty_sink_needs_its_routing_key() {
    let env = Env::new(
        "",
        "[[notifications]]\nkind = \"webhook\"\nformat = \"pagerduty\"\n",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("notifications[0].routing_key_env"),
        "{}",
        stderr(&out)
    );
    let env = Env::new(
        "",
        "[[notifications]]\nkind = \"webhook\"\nurl = \"https://example.com\"\nrouting_key_env = \"K\"\n",
    );
    let out = env.run(&["check"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("only a `pagerduty` webhook"),
        "{}",
        stderr(&out)
    );
}
