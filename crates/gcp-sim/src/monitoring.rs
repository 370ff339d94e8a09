//! Cloud Monitoring (`monitoring/v3`) `projects.timeSeries.list`, for the one metric aegis-dr reads:
//! `cloudsql.googleapis.com/database/replication/replica_lag` (a `GAUGE` `DOUBLE` in seconds) of
//! each Cloud SQL read replica. A replica whose primary is fenced (labelled `aegis-dr-fenced=true`)
//! has caught up: its lag is 0. Without [`SimState::replica_lag`] there is no series at all, as for a
//! project whose metrics are not collected.

use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    reply::{rfc3339, Reply},
    server::{check, Req, SimState},
};

/// The metric type served.
pub const REPLICA_LAG: &str = "cloudsql.googleapis.com/database/replication/replica_lag";

/// The `database_id` a filter asks for (`resource.labels.database_id = "p:instance"`).
fn database_id(filter: &str) -> Option<&str> {
    let at = filter.find("database_id")?;
    let rest = &filter[at..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some(&rest[start..start + len])
}

pub(crate) fn handle(s: &mut SimState, req: &Req) -> Reply {
    let project = s.project.clone();
    if req.method != Method::GET || req.rest.first().map(String::as_str) != Some("timeSeries") {
        return Reply::not_found("resource");
    }
    if let Err(r) = check(
        s,
        "monitoring.timeSeries.list",
        &format!("projects/{project}"),
    ) {
        return r;
    }
    let filter = req.param("filter").unwrap_or_default();
    if !filter.contains(&format!("metric.type = \"{REPLICA_LAG}\""))
        && !filter.contains(&format!("metric.type=\"{REPLICA_LAG}\""))
    {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            format!("this simulator serves only {REPLICA_LAG}: filter {filter:?}"),
        );
    }
    if req.param("interval.endTime").is_none() {
        return Reply::error(
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Field interval.endTime had an invalid value: is required",
        );
    }
    let Some(lag) = s.replica_lag else {
        return Reply::ok(json!({ "unit": "s" }));
    };
    let wanted = database_id(filter);
    let series: Vec<Value> = s
        .sql
        .instances
        .iter()
        .filter(|(name, _)| wanted.is_none_or(|w| w == format!("{project}:{name}")))
        .filter_map(|(name, i)| {
            let master = s.sql.instances.get(i.master.as_ref()?)?;
            let fenced = master.labels.get("aegis-dr-fenced").map(String::as_str) == Some("true");
            let value = if fenced { Duration::ZERO } else { lag };
            let now = SystemTime::now();
            Some(json!({
                "metric": { "type": REPLICA_LAG },
                "resource": { "type": "cloudsql_database", "labels": {
                    "project_id": project, "database_id": format!("{project}:{name}"), "region": i.region,
                }},
                "metricKind": "GAUGE",
                "valueType": "DOUBLE",
                "points": [{
                    "interval": { "startTime": rfc3339(now), "endTime": rfc3339(now) },
                    "value": { "doubleValue": value.as_secs_f64() },
                }],
            }))
        })
        .collect();
    if series.is_empty() {
        Reply::ok(json!({ "unit": "s" }))
    } else {
        Reply::ok(json!({ "timeSeries": series, "unit": "s" }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filter_names_the_database() {
        assert_eq!(
            super::database_id("metric.type = \"x\" AND resource.labels.database_id = \"p:db-1\""),
            Some("p:db-1")
        );
    }
}
