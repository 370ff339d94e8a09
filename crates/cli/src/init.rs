//! `aegis-dr init` (a plan drafted from the estate) and `aegis-dr drift` (the plan against the
//! estate now): argument checks here, discovery in the providers, the draft and the comparison in
//! `aegis_dr::discover`.

use std::path::PathBuf;

use aegis_dr::{
    discover::{drift as compare, Discovery, Draft, Table},
    Error, Plan, Result,
};
use serde_json::json;

use crate::{
    args::{Cli, InitArgs, OutputFormat},
    commands::{exit, outln, print_json},
    config::Config,
};

/// `init`, validated.
#[derive(Debug)]
pub struct InitConfig {
    /// The sites, scope and settings to read with, as a plan without resources.
    skeleton: Plan,
    /// Where the plan goes (none: stdout).
    path: Option<PathBuf>,
    force: bool,
    output: OutputFormat,
}

fn site(flag: &str, text: &str) -> Result<(String, String)> {
    match text.split_once(':') {
        Some((p, r)) if !p.is_empty() && !r.is_empty() => Ok((p.to_string(), r.to_string())),
        _ => Err(Error::config(format!(
            "--{flag} `{text}`: write PROVIDER:REGION (for example aws:us-east-1)"
        ))),
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The providers' settings from init's flags: `[providers.*]` and `[sites.<site>.azure]` tables.
fn provider_settings(a: &InitArgs) -> Result<String> {
    let mut text = String::new();
    if let Some(p) = &a.aws_profile {
        text.push_str(&format!("[providers.aws]\nprofile = {}\n", quoted(p)));
    }
    let groups = match &a.azure_resource_groups[..] {
        [] => None,
        [p, d] => Some((p, d, None)),
        [p, d, shared] => Some((p, d, Some(shared))),
        other => {
            return Err(Error::config(format!(
                "--azure-resource-groups: give the primary site's group, the DR's, and optionally the one holding Traffic Manager and DNS (got {})",
                other.len()
            )))
        }
    };
    if a.azure_subscription.is_some() || groups.is_some() {
        text.push_str("[providers.azure]\n");
        if let Some(s) = &a.azure_subscription {
            text.push_str(&format!("subscription_id = {}\n", quoted(s)));
        }
        if let Some((_, _, Some(shared))) = groups {
            text.push_str(&format!("resource_group = {}\n", quoted(shared)));
        }
        if let Some((p, d, _)) = groups {
            for (role, g) in [("primary", p), ("dr", d)] {
                text.push_str(&format!(
                    "[sites.{role}.azure]\nresource_group = {}\n",
                    quoted(g)
                ));
            }
        }
    }
    if let Some(p) = &a.gcp_project {
        text.push_str(&format!("[providers.gcp]\nproject = {}\n", quoted(p)));
    }
    Ok(text)
}

impl InitConfig {
    /// Checks `init`'s arguments and builds the plan skeleton the providers read with.
    pub fn from_cli(cli: &Cli, a: &InitArgs) -> Result<InitConfig> {
        if cli.output == OutputFormat::Html {
            return Err(Error::config(
                "--output html: init writes TOML (or JSON with --output json)",
            ));
        }
        let (primary, dr) = match (&a.aws_regions[..], &a.primary, &a.dr) {
            ([p, d], None, None) => (("aws".to_string(), p.clone()), ("aws".to_string(), d.clone())),
            ([], Some(p), Some(d)) => (site("primary", p)?, site("dr", d)?),
            ([], _, _) => {
                return Err(Error::config(
                    "init: name the two sites: --aws-regions PRIMARY,DR (both on AWS), or --primary PROVIDER:REGION --dr PROVIDER:REGION",
                ))
            }
            (r, _, _) => {
                return Err(Error::config(format!(
                    "--aws-regions: give two regions, the primary's then the DR's (got {})",
                    r.len()
                )))
            }
        };
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}", primary.0, primary.1));
        let mut text = format!("[plan]\nname = {}\n", quoted(&name));
        let pair = |flag: &str, n: usize| -> Result<()> {
            match n {
                0 | 2 => Ok(()),
                _ => Err(Error::config(format!(
                    "--{flag}: give two, the primary cluster's then the DR's (got {n})"
                ))),
            }
        };
        pair("kube-contexts", a.kube_contexts.len())?;
        pair("kubeconfigs", a.kubeconfigs.len())?;
        for (i, (role, (provider, region))) in
            [("primary", &primary), ("dr", &dr)].into_iter().enumerate()
        {
            text.push_str(&format!(
                "[sites.{role}]\nprovider = {}\nregion = {}\n",
                quoted(provider),
                quoted(region)
            ));
            if let Some(k) = a.kubeconfigs.get(i) {
                let abs = std::path::absolute(k).map_err(|e| Error::io(k.display(), e))?;
                text.push_str(&format!(
                    "kubeconfig = {}\n",
                    quoted(&abs.display().to_string())
                ));
            }
            if let Some(c) = a.kube_contexts.get(i) {
                text.push_str(&format!("context = {}\n", quoted(c)));
            }
        }
        text.push_str(&provider_settings(a)?);
        text.push_str("[discovery]\n");
        if !a.also_read.is_empty() {
            let names: Vec<String> = a.also_read.iter().map(|p| quoted(p)).collect();
            text.push_str(&format!("also_read = [{}]\n", names.join(", ")));
        }
        if let Some(n) = &a.name_contains {
            text.push_str(&format!("name_contains = {}\n", quoted(n)));
        }
        match &a.postgres_dsn_envs[..] {
            [] => {}
            [p, d] => {
                text.push_str(&format!(
                    "[discovery.postgres]\nprimary_dsn_env = {}\ndr_dsn_env = {}\n",
                    quoted(p),
                    quoted(d)
                ));
                if let Some(v) = &a.postgres_password_env {
                    text.push_str(&format!("password_env = {}\n", quoted(v)));
                }
            }
            other => {
                return Err(Error::config(format!(
                    "--postgres-dsn-envs: give two variable names, the primary's then the DR's (got {})",
                    other.len()
                )))
            }
        }
        text.push_str("[discovery.tags]\n");
        for t in &a.tags {
            let Some((k, v)) = t.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                return Err(Error::config(format!("--tag `{t}`: write KEY=VALUE")));
            };
            text.push_str(&format!("{} = {}\n", quoted(k), quoted(v)));
        }
        let skeleton = Plan::parse(&text).map_err(|e| e.context("init's sites and scope"))?;
        Ok(InitConfig {
            skeleton,
            path: (!a.stdout).then(|| cli.config.clone()),
            force: a.force,
            output: cli.output,
        })
    }
}

/// What was read, one line per provider (for the file's head and the summary).
fn read_lines(plan: &Plan, found: &[Discovery]) -> Vec<String> {
    let scope = plan.discovery.clone().unwrap_or_default();
    let mut filters = Vec::new();
    if let Some(n) = &scope.name_contains {
        filters.push(format!("names containing `{n}`"));
    }
    for (k, v) in &scope.tags {
        filters.push(format!("tag {k}={v}"));
    }
    found
        .iter()
        .map(|d| {
            let covers: Vec<&str> = d.covers.iter().map(|t| t.key()).collect();
            format!(
                "{}: primary {} ({}), DR {} ({}); read {}{}",
                d.provider,
                plan.primary.region,
                plan.primary.provider,
                plan.dr.region,
                plan.dr.provider,
                covers.join(", "),
                if filters.is_empty() {
                    String::new()
                } else {
                    format!("; only {}", filters.join(", "))
                }
            )
        })
        .collect()
}

fn counts(found: &[Discovery]) -> String {
    let parts: Vec<String> = Table::ALL
        .iter()
        .filter_map(|t| {
            let n = found
                .iter()
                .flat_map(|d| &d.entries)
                .filter(|e| e.table == *t)
                .count();
            (n > 0).then(|| format!("{n} {}", t.key()))
        })
        .collect();
    if parts.is_empty() {
        "no resources".into()
    } else {
        parts.join(", ")
    }
}

/// `aegis-dr init`.
pub async fn init(cfg: InitConfig) -> Result<u8> {
    if let Some(p) = &cfg.path {
        if p.exists() && !cfg.force {
            return Err(Error::config(format!(
                "{}: exists; init never writes over a plan: pass --force to replace it, --stdout to print, or --config OTHER.toml",
                p.display()
            )));
        }
    }
    let found = aegis_dr::discover(&cfg.skeleton).await?;
    let draft = Draft::new(
        &cfg.skeleton.name,
        &cfg.skeleton,
        &found,
        &read_lines(&cfg.skeleton, &found),
    );
    let toml = draft.to_toml();
    let choices = draft.choices();
    // A draft with no choice left must be a plan aegis-dr accepts as written.
    if choices.is_empty() {
        Plan::parse(&toml).map_err(|e| {
            Error::config(format!(
                "init drafted a plan aegis-dr refuses as written, so nothing was written (write the entry it names by hand, and report it): {e}"
            ))
        })?;
    }
    if let Some(p) = &cfg.path {
        aegis_dr::write_atomic(p, toml.as_bytes())?;
    }
    match (cfg.output, &cfg.path) {
        (OutputFormat::Json, _) => {
            let mut doc = draft.to_json();
            doc["written"] = json!(cfg.path.as_ref().map(|p| p.display().to_string()));
            print_json(&doc);
        }
        (_, None) => outln!("{}", toml.trim_end()),
        (_, Some(p)) => {
            outln!("wrote {}: {}", p.display(), counts(&found));
            if choices.is_empty() {
                outln!("no choice left: every value came from the estate (each says from what)");
            } else {
                outln!(
                    "{} choice(s) left for you, marked \"<choose>\" in the file (`aegis-dr plan` refuses it until they are made):",
                    choices.len()
                );
                for (at, _, why) in &choices {
                    outln!("  {at}: {why}");
                }
            }
            outln!("init writes no health endpoints (it cannot know your URLs): add [[health_endpoints]] for each site");
            outln!(
                "next: `aegis-dr check --config {}` and `aegis-dr plan --config {}`",
                p.display(),
                p.display()
            );
        }
    }
    Ok(exit::OK)
}

/// `aegis-dr drift`: exit 1 when the plan and the estate differ.
pub async fn drift(cfg: &Config) -> Result<u8> {
    let found = aegis_dr::discover(&cfg.plan).await?;
    let diffs = compare(&cfg.plan, &found);
    if cfg.output == OutputFormat::Json {
        print_json(&json!({
            "plan": cfg.plan.name,
            "read": found.iter().map(|d| json!({
                "provider": d.provider.as_str(),
                "tables": d.covers.iter().map(|t| t.key()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "drift": diffs.iter().map(|d| json!({
                "provider": d.provider.as_str(),
                "kind": d.kind.as_str(),
                "table": d.table.key(),
                "what": d.what,
            })).collect::<Vec<_>>(),
        }));
    } else {
        let read: Vec<String> = found
            .iter()
            .map(|d| {
                let t: Vec<&str> = d.covers.iter().map(|t| t.key()).collect();
                format!("{} ({})", d.provider, t.join(", "))
            })
            .collect();
        if diffs.is_empty() {
            outln!(
                "no drift: the plan names what the estate holds now, as read through {}",
                read.join("; ")
            );
        } else {
            outln!(
                "drift: {} difference(s) between the plan and the estate, as read through {}:",
                diffs.len(),
                read.join("; ")
            );
            for d in &diffs {
                outln!("  {d}");
            }
        }
    }
    Ok(if diffs.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
