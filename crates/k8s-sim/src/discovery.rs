//! Discovery: what `kubectl` reads before it asks for a resource.

use serde_json::{json, Value};

use crate::{Kind, KINDS};

/// The discovery documents clients read before they ask for a resource (`kubectl` does): the
/// version, the legacy core group's versions, the group list, and each group version's resources,
/// all from [`crate::KINDS`]. Aggregated discovery is not offered: a client asking for it gets these
/// documents as plain JSON and falls back, as it does with an older API server.
pub(crate) fn discovery(path: &str) -> Option<Value> {
    let group_versions: Vec<&str> = {
        let mut v: Vec<&str> = KINDS
            .iter()
            .map(|k| k.api_version)
            .filter(|v| v.contains('/'))
            .collect();
        v.dedup();
        v
    };
    match path.trim_end_matches('/') {
        "/version" => Some(json!({
            "major": "1", "minor": "30", "gitVersion": "v1.30.0-aegis-sim",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "", "compiler": "gc", "platform": "linux/amd64",
        })),
        "/api" => Some(json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [ { "clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1" } ],
        })),
        "/apis" => Some(json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": group_versions.iter().map(|gv| {
                let (group, version) = gv.split_once('/').unwrap_or((gv, ""));
                json!({
                    "name": group,
                    "versions": [ { "groupVersion": gv, "version": version } ],
                    "preferredVersion": { "groupVersion": gv, "version": version },
                })
            }).collect::<Vec<_>>(),
        })),
        p => {
            let gv = if p == "/api/v1" {
                "v1"
            } else {
                p.strip_prefix("/apis/")?
            };
            let kinds: Vec<&Kind> = KINDS.iter().filter(|k| k.api_version == gv).collect();
            if kinds.is_empty() {
                return None;
            }
            let mut resources = Vec::new();
            for k in kinds {
                let singular = k.kind.to_ascii_lowercase();
                resources.push(json!({
                    "name": k.plural, "singularName": singular, "namespaced": k.namespaced,
                    "kind": k.kind,
                    "verbs": ["create", "delete", "get", "list", "patch", "update"],
                }));
                if k.workload {
                    resources.push(json!({
                        "name": format!("{}/scale", k.plural), "singularName": "",
                        "namespaced": true, "group": "autoscaling", "version": "v1",
                        "kind": "Scale", "verbs": ["get", "patch", "update"],
                    }));
                }
            }
            Some(json!({
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": resources,
            }))
        }
    }
}
