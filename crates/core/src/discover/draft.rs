//! A plan file drafted from discoveries: sections of keys, each value with where it came from or
//! a marked choice, rendered as commented TOML or as JSON for tools.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{Discovery, Pick, Table};
use crate::plan::{Plan, ProviderName, SiteRole};

/// A plan drafted from what the providers found.
#[derive(Debug, Clone)]
pub struct Draft {
    sections: Vec<Section>,
    header: Vec<String>,
    skipped: Vec<String>,
}

#[derive(Debug, Clone)]
struct Section {
    /// `[sites.primary]` or `[[databases]]`.
    header: String,
    /// Where its keys are, for JSON (`sites.primary`, `databases[0]`).
    path: String,
    comment: Option<String>,
    fields: Vec<(String, Pick)>,
}

impl Draft {
    /// Drafts plan `name` for `skeleton`'s sites from `found`; `read` says what was read (one line
    /// per provider, for the file's head).
    pub fn new(name: &str, skeleton: &Plan, found: &[Discovery], read: &[String]) -> Draft {
        let mut sections = vec![Section {
            header: "[plan]".into(),
            path: "plan".into(),
            comment: None,
            fields: vec![(
                "name".into(),
                Pick::known(name, "--name (or the first site's provider and region)"),
            )],
        }];
        for role in [SiteRole::Primary, SiteRole::Dr] {
            sections.push(site_section(skeleton, role, found));
            sections.extend(site_settings_sections(skeleton, role, found));
        }
        for (provider, settings) in &skeleton.providers {
            sections.push(Section {
                header: format!("[providers.{provider}]"),
                path: format!("providers.{provider}"),
                comment: None,
                fields: settings
                    .iter()
                    .map(|(k, v)| (k.clone(), Pick::known(v.clone(), "the command line")))
                    .collect(),
            });
        }
        sections.extend(skeleton.discovery.as_ref().map(discovery_section));
        for table in Table::ALL {
            let mut names: BTreeSet<String> = BTreeSet::new();
            let mut index = 0;
            for d in found {
                for e in d.entries.iter().filter(|e| e.table == table) {
                    let mut fields = e.fields.clone();
                    // A record's or a pool's name is the provider's own: never renamed.
                    if matches!(
                        table,
                        Table::Databases | Table::Workloads | Table::RecoveryServers
                    ) {
                        unique_name(&mut fields, &mut names);
                    }
                    if let Some(p) = provider_key(skeleton, table, &d.provider, &fields) {
                        let at = fields
                            .iter()
                            .position(|(k, _)| k == "name")
                            .map_or(0, |i| i + 1);
                        fields.insert(at, ("provider".into(), p));
                    }
                    sections.push(Section {
                        header: format!("[[{}]]", table.key()),
                        path: format!("{}[{index}]", table.key()),
                        comment: e.comment.clone(),
                        fields,
                    });
                    index += 1;
                }
            }
        }
        let checks: Vec<(String, Pick)> = found.iter().flat_map(|d| d.checks.clone()).collect();
        if !checks.is_empty() {
            sections.push(Section {
                header: "[checks]".into(),
                path: "checks".into(),
                comment: None,
                fields: checks,
            });
        }
        Draft {
            sections,
            header: read.to_vec(),
            skipped: found
                .iter()
                .flat_map(|d| {
                    d.skipped
                        .iter()
                        .map(move |s| format!("{}: {s}", d.provider))
                })
                .collect(),
        }
    }

    /// The choices left to the user: (key, options, why).
    pub fn choices(&self) -> Vec<(String, Vec<String>, String)> {
        self.picks()
            .filter_map(|(at, p)| match p {
                Pick::Choose { options, why } => Some((at, options.clone(), why.clone())),
                Pick::Known { .. } => None,
            })
            .collect()
    }

    fn picks(&self) -> impl Iterator<Item = (String, &Pick)> {
        self.sections.iter().flat_map(|s| {
            s.fields
                .iter()
                .map(move |(k, p)| (format!("{}.{k}", s.path), p))
        })
    }

    /// The plan file: TOML, every inferred value commented with where it came from, every choice
    /// marked and explained.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# Written by `aegis-dr init` from the estate it read:\n");
        for line in &self.header {
            out.push_str(&format!("#   {}\n", one_line(line)));
        }
        out.push_str(
            "# Each inferred value says where it came from. A value \"<choose> a | b\" is a choice init could\n\
             # not make: replace it with your value (the options it saw are listed; the CHOICE line above\n\
             # says what to weigh);\n\
             # `aegis-dr plan` and `check` refuse the file until none is left. Nothing secret is written.\n",
        );
        let choices = self.choices();
        if !choices.is_empty() {
            let at: Vec<&str> = choices.iter().map(|(a, _, _)| a.as_str()).collect();
            out.push_str(&format!(
                "# {} choice{} left: {}.\n",
                choices.len(),
                if choices.len() == 1 { "" } else { "s" },
                at.join(", ")
            ));
        }
        for s in &self.sections {
            out.push('\n');
            if let Some(c) = &s.comment {
                for line in c.lines() {
                    out.push_str(&format!("# {line}\n"));
                }
            }
            out.push_str(&s.header);
            out.push('\n');
            for (key, pick) in &s.fields {
                let value = inline(&pick.value());
                match pick {
                    Pick::Known { from, .. } => {
                        out.push_str(&format!("{key} = {value}  # from {}\n", one_line(from)));
                    }
                    Pick::Choose { why, .. } => {
                        out.push_str(&format!("# CHOICE: {}\n{key} = {value}\n", one_line(why)));
                    }
                }
            }
        }
        if !self.skipped.is_empty() {
            out.push_str("\n# Seen and left out of the plan:\n");
            for s in &self.skipped {
                out.push_str(&format!("#   {}\n", one_line(s)));
            }
        }
        out
    }

    /// The draft for tools: the plan as JSON, where each value came from, the choices left and
    /// what was left out.
    pub fn to_json(&self) -> serde_json::Value {
        let mut plan = serde_json::Map::new();
        for s in &self.sections {
            let mut keys = serde_json::Map::new();
            for (k, p) in &s.fields {
                let v = serde_json::to_value(p.value()).unwrap_or(serde_json::Value::Null);
                // A dotted key (`options.failover`) is a key of an inner table.
                match k.split_once('.') {
                    Some((outer, inner)) => {
                        let t = keys
                            .entry(outer.to_string())
                            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                        if let serde_json::Value::Object(m) = t {
                            m.insert(inner.to_string(), v);
                        }
                    }
                    None => {
                        keys.insert(k.clone(), v);
                    }
                }
            }
            let object = serde_json::Value::Object(keys);
            place(&mut plan, &s.path, object);
        }
        let inferred: Vec<_> = self
            .picks()
            .filter_map(|(at, p)| match p {
                Pick::Known { from, .. } => Some(json!({ "at": at, "from": from })),
                Pick::Choose { .. } => None,
            })
            .collect();
        let choices: Vec<_> = self
            .choices()
            .into_iter()
            .map(|(at, options, why)| json!({ "at": at, "options": options, "why": why }))
            .collect();
        json!({
            "plan": plan,
            "inferred": inferred,
            "choices": choices,
            "skipped": self.skipped,
            "read": self.header,
        })
    }
}

/// Puts `object` at `path` (`plan`, `sites.primary`, `databases[3]`, `providers.aws`).
fn place(
    root: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    object: serde_json::Value,
) {
    if let Some((table, _)) = path.split_once('[') {
        let array = root
            .entry(table.to_string())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(a) = array {
            a.push(object);
        }
        return;
    }
    match path.split_once('.') {
        Some((outer, inner)) => {
            let node = root
                .entry(outer.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(m) = node {
                m.insert(inner.to_string(), object);
            }
        }
        None => {
            root.insert(path.to_string(), object);
        }
    }
}

/// The section of site `role`: its provider and region from the command line, the serving
/// evidence, and the keys discoveries inferred for it.
fn site_section(skeleton: &Plan, role: SiteRole, found: &[Discovery]) -> Section {
    let site = match role {
        SiteRole::Primary => &skeleton.primary,
        SiteRole::Dr => &skeleton.dr,
    };
    let serving: Vec<_> = found.iter().flat_map(|d| d.serving.iter()).collect();
    let says = |r: SiteRole| -> Vec<&str> {
        serving
            .iter()
            .filter(|s| s.site == r)
            .map(|s| s.why.as_str())
            .collect()
    };
    let (for_primary, for_dr) = (says(SiteRole::Primary), says(SiteRole::Dr));
    // The one value that keeps the entries right; the other way round needs init run again.
    let regions = vec![skeleton.primary.region.clone()];
    let region = match (for_primary.is_empty(), for_dr.is_empty()) {
        _ if role == SiteRole::Dr => Pick::known(site.region.clone(), "the command line"),
        (false, true) => Pick::known(
            site.region.clone(),
            format!(
                "the command line; the primary serves now: {}",
                brief(&for_primary)
            ),
        ),
        (true, true) => Pick::choose(
            regions,
            format!(
                "nothing in the estate shows which site serves now; the entries below are written with {} as the primary: keep that, or run init again with the sites the other way round",
                skeleton.primary.region
            ),
        ),
        (_, false) => Pick::choose(
            regions,
            format!(
                "the estate says the DR site ({}) serves now: {}{}; the entries below are written with {} as the primary: keep that if this is a failover in progress, or run init again with the sites the other way round",
                skeleton.dr.region,
                brief(&for_dr),
                if for_primary.is_empty() {
                    String::new()
                } else {
                    format!("; but also {}", brief(&for_primary))
                },
                skeleton.primary.region
            ),
        ),
    };
    let mut fields = vec![
        (
            "provider".to_string(),
            Pick::known(site.provider.as_str(), "the command line"),
        ),
        ("region".to_string(), region),
    ];
    for (key, value) in [("kubeconfig", &site.kubeconfig), ("context", &site.context)] {
        if let Some(v) = value {
            fields.push((key.into(), Pick::known(v.as_str(), "the command line")));
        }
    }
    for d in found {
        for (k, p) in d.site_keys.get(&role).into_iter().flatten() {
            if !fields.iter().any(|(have, _)| have == k) {
                fields.push((k.clone(), p.clone()));
            }
        }
    }
    Section {
        header: format!("[sites.{role}]"),
        path: format!("sites.{role}"),
        comment: None,
        fields,
    }
}

/// `[discovery]`: the scope init read in, so drift and watch read the same.
fn discovery_section(d: &crate::plan::DiscoverySettings) -> Section {
    let mut fields = Vec::new();
    if let Some(n) = &d.name_contains {
        fields.push((
            "name_contains".to_string(),
            Pick::known(n.as_str(), "--name-contains"),
        ));
    }
    if !d.tags.is_empty() {
        let t: toml::Table = d
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), toml::Value::from(v.as_str())))
            .collect();
        fields.push(("tags".to_string(), Pick::known(t, "--tag")));
    }
    if let Some(pg) = &d.postgres {
        let mut t = toml::Table::new();
        t.insert("primary_dsn_env".into(), pg.primary_dsn_env.as_str().into());
        t.insert("dr_dsn_env".into(), pg.dr_dsn_env.as_str().into());
        if let Some(p) = &pg.password_env {
            t.insert("password_env".into(), p.as_str().into());
        }
        fields.push((
            "postgres".to_string(),
            Pick::known(t, "--postgres-dsn-envs"),
        ));
    }
    if !d.also_read.is_empty() {
        let names: Vec<String> = d.also_read.iter().map(|p| p.to_string()).collect();
        fields.push((
            "also_read".to_string(),
            Pick::known(super::list_value(&names), "--also-read"),
        ));
    }
    Section {
            header: "[discovery]".into(),
            path: "discovery".into(),
            comment: Some(
                "What init read: `aegis-dr drift` and `aegis-dr watch` read the same and report what differs."
                    .into(),
            ),
            fields,
        }
}

/// `[sites.<role>.<provider>]`: the settings given on the command line, then those discoveries
/// inferred (a GKE cluster's zone).
fn site_settings_sections(skeleton: &Plan, role: SiteRole, found: &[Discovery]) -> Vec<Section> {
    let mut by_provider: BTreeMap<String, Vec<(String, Pick)>> = BTreeMap::new();
    for (provider, settings) in &skeleton.site(role).settings {
        by_provider.entry(provider.to_string()).or_default().extend(
            settings
                .iter()
                .map(|(k, v)| (k.clone(), Pick::known(v.clone(), "the command line"))),
        );
    }
    for d in found {
        for (k, p) in d.site_settings.get(&role).into_iter().flatten() {
            let fields = by_provider.entry(d.provider.to_string()).or_default();
            if !fields.iter().any(|(have, _)| have == k) {
                fields.push((k.clone(), p.clone()));
            }
        }
    }
    by_provider
        .into_iter()
        .map(|(provider, fields)| Section {
            header: format!("[sites.{role}.{provider}]"),
            path: format!("sites.{role}.{provider}"),
            comment: None,
            fields,
        })
        .collect()
}

fn brief(why: &[&str]) -> String {
    const SHOWN: usize = 4;
    let mut out = why
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join("; ");
    if why.len() > SHOWN {
        out.push_str(&format!(" (and {} more)", why.len() - SHOWN));
    }
    out
}

/// Makes a label `name` unique in its table (`name-2`, `name-3`, ...).
fn unique_name(fields: &mut [(String, Pick)], seen: &mut BTreeSet<String>) {
    let Some((_, Pick::Known { value, .. })) = fields.iter_mut().find(|(k, _)| k == "name") else {
        return;
    };
    let Some(name) = value.as_str().map(str::to_string) else {
        return;
    };
    let mut candidate = name.clone();
    let mut n = 1;
    while seen.contains(&candidate) {
        n += 1;
        candidate = format!("{name}-{n}");
    }
    seen.insert(candidate.clone());
    *value = toml::Value::String(candidate);
}

/// The `provider` key an entry needs: when the provider that found it is not the one the plan
/// would use for it by default.
fn provider_key(
    skeleton: &Plan,
    table: Table,
    found_by: &ProviderName,
    fields: &[(String, Pick)],
) -> Option<Pick> {
    let default = match table {
        Table::Databases | Table::DnsRecords => Some(&skeleton.primary.provider),
        Table::RecoveryServers => Some(&skeleton.dr.provider),
        Table::NodePools => {
            let site = fields
                .iter()
                .find(|(k, _)| k == "site")
                .map(|(_, p)| p.value());
            match site.as_ref().and_then(toml::Value::as_str) {
                Some("dr") => Some(&skeleton.dr.provider),
                _ => Some(&skeleton.primary.provider),
            }
        }
        Table::Workloads => None,
    }?;
    (default != found_by).then(|| {
        Pick::known(
            found_by.as_str(),
            format!("the provider that found it (the default here is `{default}`)"),
        )
    })
}

/// `text` fit for a `#` comment: line breaks become spaces.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// A TOML value written inline (`"x"`, `3`, `["a", "b"]`, `{ min = 1, max = 2 }`).
fn inline(v: &toml::Value) -> String {
    match v {
        // A JSON string is a valid TOML basic string.
        toml::Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(inline).collect::<Vec<_>>().join(", ")
            )
        }
        toml::Value::Table(t) => {
            let keys: Vec<String> = t
                .iter()
                .map(|(k, v)| {
                    let bare = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    let key = if bare {
                        k.clone()
                    } else {
                        serde_json::to_string(k).unwrap_or_default()
                    };
                    format!("{key} = {}", inline(v))
                })
                .collect();
            format!("{{ {} }}", keys.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::{Discovery, Entry, Observed};

    #[test]
    fn the_draft_is_toml_with_its_choices_marked_and_json_with_dotted_keys_nested() {
        let skeleton = Plan::parse(
            "[plan]\nname = \"t\"\n[sites.primary]\nprovider = \"aws\"\nregion = \"us-east-1\"\n[sites.dr]\nprovider = \"aws\"\nregion = \"us-west-2\"\n",
        )
        .expect("skeleton");
        let mut d = Discovery::new("aws".into(), vec![Table::Databases]);
        d.entries.push(
            Entry::new(
                Table::Databases,
                Observed::Database {
                    primary: "a".into(),
                    dr: None,
                },
            )
            .with("name", Pick::known("a", "its id\nwith a line break"))
            .with("primary", Pick::known("a", "DescribeDBInstances"))
            .with(
                "dr",
                Pick::choose(vec!["b".into(), "c".into()], "two replicas"),
            )
            .with("options.failover", Pick::known("multi-az", "MultiAZ")),
        );
        let draft = Draft::new("t", &skeleton, &[d], &["aws: test".into()]);
        let text = draft.to_toml();
        let parsed: toml::Table = toml::from_str(&text).expect("valid TOML");
        assert_eq!(
            parsed["databases"][0]["dr"].as_str(),
            Some("<choose> b | c")
        );
        assert_eq!(
            parsed["databases"][0]["options"]["failover"].as_str(),
            Some("multi-az")
        );
        assert!(text.contains("# CHOICE: two replicas\ndr = "), "{text}");
        // Nothing but a choice stands between the draft and a plan: it is refused for that.
        let e = Plan::parse(&text).expect_err("refused").to_string();
        assert!(
            e.contains("databases[0].dr") && e.contains("not made yet"),
            "{e}"
        );
        let json = draft.to_json();
        assert_eq!(
            json["plan"]["databases"][0]["options"]["failover"],
            "multi-az"
        );
        let choice = json["choices"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["at"] == "databases[0].dr"))
            .expect("the dr choice");
        assert_eq!(choice["options"], serde_json::json!(["b", "c"]));
        // Nothing said which site serves: the primary's region is the other choice.
        assert_eq!(draft.choices().len(), 2, "{:?}", draft.choices());
        assert!(text.contains("region = \"<choose> us-east-1\""), "{text}");
    }
}
