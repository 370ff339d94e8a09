//! Google's reply shapes: JSON bodies, the error format, enums as integers, RFC 3339 times.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{json, Value};

/// A reply: status and JSON body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

/// The canonical status name of an HTTP status in Google's error format.
fn status_name(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        412 => "FAILED_PRECONDITION",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body,
            headers: Vec::new(),
        }
    }

    /// Google's error body: `code`, `message`, `status`, the legacy `errors` list with `reason`.
    pub(crate) fn error(code: StatusCode, reason: &str, message: impl Into<String>) -> Reply {
        Reply::error_as(code, status_name(code), reason, message)
    }

    /// As [`Reply::error`] with an explicit canonical status (`FAILED_PRECONDITION` on a 400).
    pub(crate) fn error_as(
        code: StatusCode,
        status: &str,
        reason: &str,
        message: impl Into<String>,
    ) -> Reply {
        let mut r = Reply::legacy_error(code, reason, message);
        r.body["error"]["status"] = json!(status);
        r
    }

    /// Cloud SQL Admin's error body: the legacy shape its recorded answers have (`code`,
    /// `message`, `errors[].reason`), with no canonical `status` (Google's clients then go by
    /// the HTTP status alone).
    pub(crate) fn legacy_error(
        code: StatusCode,
        reason: &str,
        message: impl Into<String>,
    ) -> Reply {
        let message = message.into();
        Reply {
            status: code,
            body: json!({ "error": {
                "code": code.as_u16(),
                "message": message,
                "errors": [{ "message": message, "domain": "global", "reason": reason }],
            }}),
            headers: Vec::new(),
        }
    }

    /// 403 with the `ErrorInfo` IAM gives when a permission is missing.
    pub(crate) fn denied(permission: &str, resource: &str) -> Reply {
        let message = format!(
            "Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
        );
        Reply {
            status: StatusCode::FORBIDDEN,
            body: json!({ "error": {
                "code": 403,
                "message": message,
                "status": "PERMISSION_DENIED",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "IAM_PERMISSION_DENIED",
                    "domain": "iam.googleapis.com",
                    "metadata": { "permission": permission, "resource": resource },
                }],
            }}),
            headers: Vec::new(),
        }
    }

    pub(crate) fn not_found(what: &str) -> Reply {
        Reply::error(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("The {what} does not exist."),
        )
    }

    pub(crate) fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The body with enums written as integers, when the request asked for that encoding.
    pub(crate) fn encode_enums(mut self, as_int: bool) -> Reply {
        if as_int {
            enums_to_int(&mut self.body);
        }
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body.to_string()).into_response();
        let h = r.headers_mut();
        if let Ok(v) = "application/json; charset=UTF-8".parse() {
            h.insert("content-type", v);
        }
        for (k, v) in self.headers {
            if let Ok(v) = v.parse() {
                h.insert(k, v);
            }
        }
        r
    }
}

/// The proto enum numbers of the enum fields the simulator writes (`google.cloud.sql.v1`,
/// `google.container.v1`): field name and string value to number.
const ENUMS: &[(&str, &str, i64)] = &[
    ("state", "RUNNABLE", 1),
    ("state", "SUSPENDED", 2),
    ("state", "PENDING_CREATE", 4),
    ("state", "MAINTENANCE", 5),
    ("state", "FAILED", 6),
    ("instanceType", "CLOUD_SQL_INSTANCE", 1),
    ("instanceType", "READ_REPLICA_INSTANCE", 3),
    ("availabilityType", "ZONAL", 1),
    ("availabilityType", "REGIONAL", 2),
    ("databaseVersion", "MYSQL_8_0", 20),
    ("databaseVersion", "POSTGRES_15", 172),
    ("databaseVersion", "POSTGRES_16", 272),
    ("operationType", "UPDATE", 4),
    ("operationType", "PROMOTE_REPLICA", 17),
    ("operationType", "FAILOVER", 25),
    ("operationType", "SWITCHOVER", 39),
    ("operationType", "SET_NODE_POOL_SIZE", 14),
    ("operationType", "SET_NODE_POOL_MANAGEMENT", 9),
    ("status", "PENDING", 1),
    ("status", "RUNNING", 2),
    ("status", "DONE", 3),
    ("status", "PROVISIONING", 1),
    ("status", "RECONCILING", 4),
    ("status", "RUNNING_WITH_ERROR", 3),
    ("code", "GCE_STOCKOUT", 1),
    ("canonicalCode", "RESOURCE_EXHAUSTED", 8),
    ("operationType", "UPGRADE_MASTER", 3),
    ("edition", "ENTERPRISE", 2),
    ("edition", "ENTERPRISE_PLUS", 3),
    ("status", "ERROR", 6),
    ("status", "SUCCESSFUL", 5),
    ("locationPolicy", "BALANCED", 1),
    ("locationPolicy", "ANY", 2),
    ("type", "AUTOMATED", 1),
    ("type", "ON_DEMAND", 2),
];

fn enums_to_int(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if let Value::String(s) = x {
                    if let Some((_, _, n)) = ENUMS.iter().find(|(f, name, _)| f == k && name == s) {
                        *x = json!(n);
                        continue;
                    }
                }
                enums_to_int(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(enums_to_int),
        _ => {}
    }
}

/// An enum value of a request body, written as its name or (from the Rust clients) its number.
pub(crate) fn enum_name(field: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            let n = n.as_i64()?;
            ENUMS
                .iter()
                .find(|(f, _, x)| *f == field && *x == n)
                .map(|(_, name, _)| name.to_string())
        }
        _ => None,
    }
}

/// An int64 of a request body: proto3 JSON writes them as strings, some clients as numbers.
pub(crate) fn int64(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// An RFC 3339 UTC timestamp (`2026-11-24T20:36:55.000Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_become_numbers_only_where_known() {
        let mut v = json!({ "state": "RUNNABLE", "name": "RUNNABLE", "settings": { "availabilityType": "REGIONAL" },
                            "items": [{ "status": "DONE" }] });
        enums_to_int(&mut v);
        assert_eq!(
            v,
            json!({ "state": 1, "name": "RUNNABLE", "settings": { "availabilityType": 2 }, "items": [{ "status": 3 }] })
        );
        assert_eq!(
            enum_name("instanceType", &json!(3)).as_deref(),
            Some("READ_REPLICA_INSTANCE")
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
