//! Exchanges checked against a table of the published operations: each row an operation's method
//! and path, the statuses a success may have, the error codes its specification lists, what its
//! answers and requests must (and must not) hold, and where that comes from. A test runs its
//! scenarios against a simulator, then [`check`]s every exchange: one the table does not know, a
//! status or error code the row does not list, or a body missing what the row requires, is a
//! violation.

use serde_json::Value;

use crate::Exchange;

/// One published operation.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The specification's name for it (`FailoverGroups_Failover`).
    pub id: &'static str,
    /// `GET`, `PUT`, `PATCH`, `POST`.
    pub method: &'static str,
    /// The path, `{}` standing for one segment (`/v1/projects/{}/instances/{}:setSize` style
    /// suffixes are part of the last segment); compared without regard to case.
    pub path: &'static str,
    /// The statuses a success may have.
    pub ok: &'static [u16],
    /// The errors the specification lists for it: (status, code).
    pub errors: &'static [(u16, &'static str)],
    /// JSON pointers every success body with content must hold.
    pub answer: &'static [&'static str],
    /// Headers every 202 answer must carry (`azure-asyncoperation`).
    pub accepted_headers: &'static [&'static str],
    /// Headers no answer may carry (`retry-after` where the recorded answers have none).
    pub absent_headers: &'static [&'static str],
    /// JSON pointers and the values the specification allows there.
    pub enums: &'static [(&'static str, &'static [&'static str])],
    /// JSON pointers a request body must not hold (read-only properties).
    pub read_only: &'static [&'static str],
    /// The specification file or document (and the recording) this row is read from.
    pub cite: &'static str,
}

impl Operation {
    /// True when `e` is a call of this operation.
    pub fn matches(&self, e: &Exchange) -> bool {
        if !self.method.eq_ignore_ascii_case(&e.method) {
            return false;
        }
        let want: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        let got: Vec<&str> = e.path.split('/').filter(|s| !s.is_empty()).collect();
        want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| segment_matches(w, g))
    }
}

/// `{}` matches any segment, `{}:verb` any segment ending in `:verb`, else equal without case.
fn segment_matches(want: &str, got: &str) -> bool {
    match want.strip_prefix("{}") {
        Some("") => true,
        Some(suffix) => got.len() > suffix.len() && got.ends_with(suffix),
        None => want.eq_ignore_ascii_case(got),
    }
}

/// Errors any operation of the service may answer (authentication, authorisation, throttling),
/// with where they are documented.
#[derive(Debug, Clone, Copy)]
pub struct Common {
    /// (status, code).
    pub errors: &'static [(u16, &'static str)],
    /// The document listing them.
    pub cite: &'static str,
}

/// How a service words the code of an error answer (`error.code` for ARM, `error.status` or the
/// legacy `error.errors[0].reason` for Google).
pub type CodeOf = fn(&Value) -> Option<String>;

/// Checks every exchange whose path `in_scope` accepts against `ops` and `common`; each violation
/// as one line naming the exchange and the row.
pub fn check(
    exchanges: &[Exchange],
    in_scope: fn(&Exchange) -> bool,
    ops: &[Operation],
    common: &Common,
    code_of: CodeOf,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in exchanges.iter().filter(|e| in_scope(e)) {
        let at = format!("{} {} -> {}", e.method, e.path, e.status);
        let Some(op) = ops.iter().find(|o| o.matches(e)) else {
            out.push(format!("{at}: no operation of the table"));
            continue;
        };
        let body: Value = serde_json::from_str(&e.response).unwrap_or(Value::Null);
        for h in op.absent_headers {
            if e.header(h).is_some() {
                out.push(format!(
                    "{at}: header `{h}`, which {} answers do not carry ({})",
                    op.id, op.cite
                ));
            }
        }
        if op.ok.contains(&e.status) {
            if e.status == 202 {
                for h in op.accepted_headers {
                    if e.header(h).is_none() {
                        out.push(format!("{at}: no `{h}` header ({})", op.cite));
                    }
                }
            }
            if e.status == 200 || e.status == 201 {
                for p in op.answer {
                    if body.pointer(p).is_none() {
                        out.push(format!("{at}: answer lacks {p} ({} in {})", op.id, op.cite));
                    }
                }
            }
            for (p, allowed) in op.enums {
                if let Some(v) = body.pointer(p).and_then(Value::as_str) {
                    if !allowed.contains(&v) {
                        out.push(format!(
                            "{at}: {p} = {v:?}, not one of {allowed:?} ({})",
                            op.cite
                        ));
                    }
                }
            }
        } else if e.status >= 400 {
            let code = code_of(&body).unwrap_or_default();
            let listed =
                |list: &[(u16, &str)]| list.iter().any(|(s, c)| *s == e.status && *c == code);
            if !listed(op.errors) && !listed(common.errors) {
                out.push(format!(
                    "{at}: error {code:?} is not listed for {} ({}; common: {})",
                    op.id, op.cite, common.cite
                ));
            }
        } else {
            out.push(format!(
                "{at}: status not listed for {} (success: {:?}; {})",
                op.id, op.ok, op.cite
            ));
        }
        if !e.request.is_empty() {
            let req: Value = serde_json::from_str(&e.request).unwrap_or(Value::Null);
            for p in op.read_only {
                if req.pointer(p).is_some() {
                    out.push(format!(
                        "{at}: the request sends {p}, read-only in {} ({})",
                        op.id, op.cite
                    ));
                }
            }
        }
    }
    out
}

/// The operations of `ops` that no exchange exercised, by id: a table row no scenario reached
/// checks nothing.
pub fn unexercised(exchanges: &[Exchange], ops: &[Operation]) -> Vec<&'static str> {
    ops.iter()
        .filter(|o| !exchanges.iter().any(|e| o.matches(e)))
        .map(|o| o.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(method: &str, path: &str, status: u16, response: &str) -> Exchange {
        Exchange {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            request: String::new(),
            status,
            headers: Vec::new(),
            response: response.into(),
        }
    }

    const OPS: &[Operation] = &[Operation {
        id: "Things_Get",
        method: "GET",
        path: "/things/{}",
        ok: &[200],
        errors: &[(404, "NotFound")],
        answer: &["/id"],
        accepted_headers: &[],
        absent_headers: &[],
        enums: &[("/state", &["On", "Off"])],
        read_only: &[],
        cite: "things.json",
    }];
    const COMMON: Common = Common {
        errors: &[(401, "Unauthorized")],
        cite: "auth.md",
    };

    fn code(v: &Value) -> Option<String> {
        v["error"]["code"].as_str().map(String::from)
    }

    #[test]
    fn listed_answers_pass_and_every_other_one_is_named() {
        let good = [
            ex("GET", "/things/a", 200, r#"{"id":"a","state":"On"}"#),
            ex("GET", "/THINGS/b", 404, r#"{"error":{"code":"NotFound"}}"#),
            ex(
                "GET",
                "/things/c",
                401,
                r#"{"error":{"code":"Unauthorized"}}"#,
            ),
        ];
        assert_eq!(
            check(&good, |_| true, OPS, &COMMON, code),
            Vec::<String>::new()
        );
        let bad = [
            ex("GET", "/things/a", 200, r#"{"state":"Dim"}"#),
            ex("GET", "/things/b", 409, r#"{"error":{"code":"Busy"}}"#),
            ex("GET", "/things/c", 204, ""),
            ex("POST", "/things/d", 200, "{}"),
        ];
        let v = check(&bad, |_| true, OPS, &COMMON, code);
        assert_eq!(v.len(), 5, "{v:#?}");
        assert!(
            v[0].contains("lacks /id") && v[1].contains("\"Dim\""),
            "{v:#?}"
        );
        assert!(v[2].contains("\"Busy\" is not listed"), "{v:#?}");
        assert!(v[3].contains("status not listed") && v[4].contains("no operation"));
        assert_eq!(unexercised(&bad[..1], OPS), Vec::<&str>::new());
        assert_eq!(unexercised(&[], OPS), vec!["Things_Get"]);
        assert!(segment_matches("{}:setSize", "pool:setSize"));
        assert!(!segment_matches("{}:setSize", "pool"));
    }
}
