//! The bodies a webhook sink POSTs, one per format: aegis-dr's own JSON, Slack (Block Kit), Microsoft
//! Teams (an Adaptive Card, as Teams incoming webhooks and workflows take it) and PagerDuty Events v2
//! (trigger and resolve, one dedup key per run).

use serde_json::{json, Value};

use super::{Message, Template};
use crate::plan::WebhookFormat;

/// Slack's limits: a header's plain text, a section's mrkdwn text.
const SLACK_HEADER_MAX: usize = 150;
const SLACK_SECTION_MAX: usize = 3000;
/// PagerDuty's limit on `payload.summary`.
const PAGERDUTY_SUMMARY_MAX: usize = 1024;

/// PagerDuty's Events API v2 endpoint, where a `pagerduty` sink posts unless it names another.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// `s` cut to at most `max` characters, marked with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The one-line title of a message.
fn title(msg: &Message) -> String {
    let what = match msg.template {
        Template::Initial => "declared",
        Template::Progress => "progress",
        Template::Resolution => "resolved",
        Template::Escalation => "ESCALATION",
    };
    format!("aegis-dr {} {what}: {}", msg.operation, msg.plan)
}

/// The PagerDuty dedup key of a run: its alert is triggered, updated and resolved under it.
pub fn dedup_key(msg: &Message) -> String {
    format!("aegis-dr/{}/{}", msg.plan, msg.run_id)
}

/// The body `format` POSTs for `msg`, or `None` when the format has nothing to say for this
/// template (PagerDuty has no event for a progress update). `routing_key` is PagerDuty's.
pub fn body(format: WebhookFormat, msg: &Message, routing_key: Option<&str>) -> Option<Value> {
    match format {
        WebhookFormat::Json => Some(json!(msg)),
        WebhookFormat::Slack => Some(slack(msg)),
        WebhookFormat::Teams => Some(teams(msg)),
        WebhookFormat::Pagerduty => pagerduty(msg, routing_key.unwrap_or_default()),
    }
}

fn slack(msg: &Message) -> Value {
    json!({
        // The fallback shown in notifications.
        "text": cut(&msg.text, SLACK_SECTION_MAX),
        "blocks": [
            { "type": "header", "text": { "type": "plain_text", "text": cut(&title(msg), SLACK_HEADER_MAX) } },
            { "type": "section", "text": { "type": "mrkdwn", "text": cut(&msg.text, SLACK_SECTION_MAX) } },
            { "type": "context", "elements": [
                { "type": "mrkdwn", "text": format!("run `{}` · {} · {}", msg.run_id, msg.operation, msg.class) }
            ] }
        ]
    })
}

fn teams(msg: &Message) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                      "color": if msg.template == Template::Escalation { "Attention" } else { "Default" },
                      "text": title(msg) },
                    { "type": "TextBlock", "wrap": true, "text": msg.text },
                    { "type": "FactSet", "facts": [
                        { "title": "Run", "value": msg.run_id },
                        { "title": "Operation", "value": msg.operation },
                        { "title": "Incident class", "value": msg.class }
                    ] }
                ]
            }
        }]
    })
}

fn pagerduty(msg: &Message, routing_key: &str) -> Option<Value> {
    let dedup_key = dedup_key(msg);
    let severity = match msg.template {
        Template::Escalation => "critical",
        Template::Initial if msg.operation == "drill" => "info",
        Template::Initial => "critical",
        Template::Progress | Template::Resolution => {
            return resolve_or_none(msg, routing_key, &dedup_key)
        }
    };
    Some(json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": cut(&msg.text, PAGERDUTY_SUMMARY_MAX),
            "source": format!("aegis-dr/{}", msg.plan),
            "severity": severity,
            "component": msg.operation,
            "group": msg.plan,
            "class": msg.class,
            "custom_details": { "run_id": msg.run_id, "template": msg.template, "fields": msg.fields }
        }
    }))
}

/// A resolution resolves the run's alert; a progress update has no PagerDuty event.
fn resolve_or_none(msg: &Message, routing_key: &str, dedup_key: &str) -> Option<Value> {
    (msg.template == Template::Resolution).then(
        || json!({ "routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(template: Template, operation: &str) -> Message {
        Message {
            template,
            run_id: "20261124T000000Z-failover-0001".into(),
            plan: "aegis-prod".into(),
            operation: operation.into(),
            class: "region-outage".into(),
            text: "x".repeat(4000),
            fields: json!({ "rto_seconds": 1800 }),
        }
    }

    #[test]
    fn slack_blocks_stay_within_slacks_limits() {
        let b = body(
            WebhookFormat::Slack,
            &msg(Template::Initial, "failover"),
            None,
        )
        .expect("body");
        assert_eq!(b["blocks"][0]["type"], "header");
        assert!(
            b["blocks"][0]["text"]["text"]
                .as_str()
                .expect("header")
                .chars()
                .count()
                <= 150
        );
        assert_eq!(
            b["blocks"][1]["text"]["text"]
                .as_str()
                .expect("section")
                .chars()
                .count(),
            3000
        );
    }

    #[test]
    fn pagerduty_triggers_resolves_and_skips_progress_under_one_dedup_key() {
        let key = Some("R0UT1NGKEY");
        let t = body(
            WebhookFormat::Pagerduty,
            &msg(Template::Initial, "failover"),
            key,
        )
        .expect("trigger");
        assert_eq!(
            (
                t["event_action"].as_str(),
                t["payload"]["severity"].as_str()
            ),
            (Some("trigger"), Some("critical"))
        );
        assert_eq!(
            t["payload"]["summary"]
                .as_str()
                .expect("summary")
                .chars()
                .count(),
            1024
        );
        let d = body(
            WebhookFormat::Pagerduty,
            &msg(Template::Initial, "drill"),
            key,
        )
        .expect("trigger");
        assert_eq!(d["payload"]["severity"], "info");
        assert!(body(
            WebhookFormat::Pagerduty,
            &msg(Template::Progress, "failover"),
            key
        )
        .is_none());
        let r = body(
            WebhookFormat::Pagerduty,
            &msg(Template::Resolution, "failover"),
            key,
        )
        .expect("resolve");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], t["dedup_key"]);
        assert_eq!(r["routing_key"], "R0UT1NGKEY");
    }
}
