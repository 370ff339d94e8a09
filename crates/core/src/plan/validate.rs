//! Validation of a plan file: the raw TOML shape checked table by table into a [`Plan`], every
//! error naming its field (and line, where the file has one).

use toml::Spanned;

use super::raw::{RawPlan, RawSite};
use super::*;

impl Plan {
    pub(super) fn from_raw(raw: RawPlan, text: &str) -> Result<Plan> {
        let v = Validator { text };
        let name = raw.plan.name.trim().to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::config(format!(
                "plan.name: `{}` must be non-empty and use only letters, digits, `-`, `_` and `.`",
                raw.plan.name
            )));
        }
        // The name becomes a lock file name (`<name>.lock`) and appears in every run folder path.
        if name.len() > MAX_PLAN_NAME {
            return Err(Error::config(format!(
                "plan.name: {} characters long; the most is {MAX_PLAN_NAME}",
                name.len()
            )));
        }
        let site = |role: &str, s: Option<RawSite>| -> Result<Site> {
            let s = s.ok_or_else(|| {
                Error::config(format!("sites.{role}: missing table [sites.{role}]"))
            })?;
            check_provider(&s.provider, &format!("sites.{role}.provider"))?;
            if s.region.trim().is_empty() {
                return Err(Error::config(format!(
                    "sites.{role}.region: must not be empty"
                )));
            }
            if s.kubeconfig.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err(Error::config(format!(
                    "sites.{role}.kubeconfig: must not be empty"
                )));
            }
            Ok(Site {
                provider: ProviderName(s.provider),
                region: s.region,
                cluster: s.cluster,
                kubeconfig: s.kubeconfig,
                context: s.context,
            })
        };
        let primary = site("primary", raw.sites.primary)?;
        let dr = site("dr", raw.sites.dr)?;

        let mut targets = BTreeMap::new();
        for class in IncidentClass::ALL {
            targets.insert(class, class.default_targets());
        }
        for (key, t) in raw.targets {
            let class: IncidentClass = key
                .parse()
                .map_err(|e: String| Error::config(format!("targets.{key}: {e}")))?;
            let mut cur = class.default_targets();
            if let Some(rto) = t.rto {
                cur.rto = parse_duration(&rto)
                    .map_err(|e| Error::config(format!("targets.{key}.rto: {e}")))?;
                if cur.rto.is_zero() {
                    return Err(Error::config(format!(
                        "targets.{key}.rto: must be greater than zero"
                    )));
                }
            }
            if let Some(rpo) = t.rpo {
                cur.rpo = parse_duration(&rpo)
                    .map_err(|e| Error::config(format!("targets.{key}.rpo: {e}")))?;
            }
            targets.insert(class, cur);
        }

        let mut seen = std::collections::HashSet::new();
        let mut databases = Vec::new();
        for (i, d) in raw.databases.into_iter().enumerate() {
            let at = v.at("databases", i, &d.name);
            v.non_empty(&at, "name", d.name.get_ref())?;
            v.non_empty(&at, "primary", &d.primary)?;
            v.non_empty(&at, "dr", &d.dr)?;
            if d.primary == d.dr {
                return Err(Error::config(format!(
                    "{at}.dr: must differ from `primary` (`{}`)",
                    d.primary
                )));
            }
            v.unique(&mut seen, &at, "database", d.name.get_ref())?;
            databases.push(DatabaseSpec {
                name: d.name.into_inner(),
                primary: d.primary,
                dr: d.dr,
                engine: d.engine,
                options: d.options,
            });
        }

        let mut dns_records = Vec::new();
        for (i, r) in raw.dns_records.into_iter().enumerate() {
            let at = v.at("dns_records", i, &r.name);
            v.non_empty(&at, "name", r.name.get_ref())?;
            v.non_empty(&at, "zone", &r.zone)?;
            v.non_empty(&at, "primary_target", &r.primary_target)?;
            v.non_empty(&at, "dr_target", &r.dr_target)?;
            let rtype = r.record_type.to_ascii_uppercase();
            if !["CNAME", "A", "AAAA", "ALIAS"].contains(&rtype.as_str()) {
                return Err(Error::config(format!(
                    "{at}.type: `{}` is not one of CNAME, A, AAAA, ALIAS",
                    r.record_type
                )));
            }
            if r.ttl == 0 || r.ttl > 172_800 {
                return Err(Error::config(format!(
                    "{at}.ttl: {} must be between 1 and 172800 seconds",
                    r.ttl
                )));
            }
            v.unique(&mut seen, &at, "dns record", r.name.get_ref())?;
            dns_records.push(DnsRecordSpec {
                name: r.name.into_inner(),
                zone: r.zone,
                record_type: rtype,
                primary_target: r.primary_target,
                dr_target: r.dr_target,
                ttl: r.ttl,
                health_check: r.health_check,
            });
        }

        let mut node_pools = Vec::new();
        for (i, p) in raw.node_pools.into_iter().enumerate() {
            let at = v.at("node_pools", i, &p.name);
            v.non_empty(&at, "name", p.name.get_ref())?;
            // An Auto Scaling group pool is named by its group: no cluster needed.
            let cluster = p
                .cluster
                .or_else(|| match p.site {
                    SiteRole::Primary => primary.cluster.clone(),
                    SiteRole::Dr => dr.cluster.clone(),
                })
                .or_else(|| p.autoscaling_group.as_ref().map(|_| String::new()))
                .ok_or_else(|| {
                    Error::config(format!(
                        "{at}.cluster: missing, and sites.{}.cluster is not set either (a node pool names its cluster, unless it is an Auto Scaling group: set autoscaling_group)",
                        p.site
                    ))
                })?;
            for (label, s) in [("production", &p.production), ("standby", &p.standby)] {
                if s.min > s.max || s.desired < s.min || s.desired > s.max {
                    return Err(Error::config(format!(
                        "{at}.{label}: need min <= desired <= max, got min={} desired={} max={}",
                        s.min, s.desired, s.max
                    )));
                }
            }
            v.unique(
                &mut seen,
                &at,
                "node pool",
                &format!("{}/{}", p.site, p.name.get_ref()),
            )?;
            node_pools.push(NodePoolSpec {
                name: p.name.into_inner(),
                site: p.site,
                cluster,
                production: p.production,
                standby: p.standby,
                autoscaling_group: p.autoscaling_group,
            });
        }

        let mut workloads = Vec::new();
        for (i, w) in raw.workloads.into_iter().enumerate() {
            let at = v.at("workloads", i, &w.name);
            v.non_empty(&at, "name", w.name.get_ref())?;
            v.non_empty(&at, "namespace", &w.namespace)?;
            if w.standby_replicas > w.production_replicas {
                return Err(Error::config(format!(
                    "{at}.standby_replicas: {} exceeds production_replicas {}",
                    w.standby_replicas, w.production_replicas
                )));
            }
            if w.production_replicas == 0 {
                return Err(Error::config(format!(
                    "{at}.production_replicas: must be at least 1"
                )));
            }
            if let Some(sel) = &w.selector {
                crate::provider::workloads::LabelSelector::parse(sel)
                    .map_err(|e| Error::config(format!("{at}.selector: {e}")))?;
            }
            let mut names = std::collections::HashSet::new();
            for name in &w.deployments {
                v.non_empty(&at, "deployments", name)?;
                if !names.insert(name.as_str()) {
                    return Err(Error::config(format!(
                        "{at}.deployments: `{name}` is listed twice"
                    )));
                }
            }
            v.unique(&mut seen, &at, "workload group", w.name.get_ref())?;
            workloads.push(WorkloadSpec {
                name: w.name.into_inner(),
                namespace: w.namespace,
                kind: w.kind,
                names: w.deployments,
                selector: w.selector,
                production_replicas: w.production_replicas,
                standby_replicas: w.standby_replicas,
            });
        }
        if !workloads.is_empty() && (primary.cluster.is_none() || dr.cluster.is_none()) {
            return Err(Error::config(
                "sites.primary.cluster / sites.dr.cluster: both must be set when [[workloads]] are listed",
            ));
        }

        let mut recovery_servers = Vec::new();
        for (i, s) in raw.recovery_servers.into_iter().enumerate() {
            let at = v.at("recovery_servers", i, &s.name);
            v.non_empty(&at, "source_server_id", &s.source_server_id)?;
            v.unique(&mut seen, &at, "recovery server", s.name.get_ref())?;
            recovery_servers.push(RecoveryServerSpec {
                name: s.name.into_inner(),
                source_server_id: s.source_server_id,
            });
        }

        let mut health_endpoints = Vec::new();
        for (i, h) in raw.health_endpoints.into_iter().enumerate() {
            let at = v.at("health_endpoints", i, &h.name);
            if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                return Err(Error::config(format!(
                    "{at}.url: `{}` must start with http:// or https://",
                    h.url
                )));
            }
            if !(100..=599).contains(&h.expect_status) {
                return Err(Error::config(format!(
                    "{at}.expect_status: {} is not an HTTP status",
                    h.expect_status
                )));
            }
            v.unique(&mut seen, &at, "health endpoint", h.name.get_ref())?;
            health_endpoints.push(HealthEndpointSpec {
                name: h.name.into_inner(),
                site: h.site,
                url: h.url,
                expect_status: h.expect_status,
            });
        }

        let checks = raw.checks.unwrap_or_default();
        if !(0.0..=1.0).contains(&checks.max_error_rate) {
            return Err(Error::config(format!(
                "checks.max_error_rate: {} must be between 0 and 1",
                checks.max_error_rate
            )));
        }
        let execution = raw.execution.unwrap_or_default();
        if execution.max_concurrency == 0 {
            return Err(Error::config(
                "execution.max_concurrency: must be at least 1",
            ));
        }
        if execution.retry_attempts == 0 {
            return Err(Error::config(
                "execution.retry_attempts: must be at least 1",
            ));
        }
        if execution.poll_interval.is_zero()
            || execution.max_poll_interval < execution.poll_interval
        {
            return Err(Error::config(
                "execution.poll_interval: must be > 0 and <= execution.max_poll_interval",
            ));
        }
        if !(execution.overrun_factor >= 0.0 && execution.overrun_factor <= 10.0) {
            return Err(Error::config(
                "execution.overrun_factor: must be between 0 and 10",
            ));
        }
        let failback = raw.failback.unwrap_or_default();
        if failback.lowered_ttl == 0 {
            return Err(Error::config(
                "failback.lowered_ttl: must be at least 1 second",
            ));
        }
        let sim = raw.sim.unwrap_or_default();
        if !(0.0..=0.9).contains(&sim.transient_fault_rate) {
            return Err(Error::config(format!(
                "sim.transient_fault_rate: {} must be between 0 and 0.9",
                sim.transient_fault_rate
            )));
        }
        if !(sim.catch_up_speed > 0.0 && sim.catch_up_speed.is_finite()) {
            return Err(Error::config(format!(
                "sim.catch_up_speed: {} must be greater than 0",
                sim.catch_up_speed
            )));
        }
        if !(0.0..=1.0).contains(&sim.error_rate) {
            return Err(Error::config(format!(
                "sim.error_rate: {} must be between 0 and 1",
                sim.error_rate
            )));
        }
        for (i, f) in sim.faults.iter().enumerate() {
            if !crate::sim::OPERATIONS.contains(&f.operation.as_str()) {
                return Err(Error::config(format!(
                    "sim.faults[{i}].operation: `{}` is not an operation of the simulated provider (one of: {})",
                    f.operation,
                    crate::sim::OPERATIONS.join(", ")
                )));
            }
            if ![
                "temporary",
                "permanent",
                "unreachable",
                "integrity",
                "job-failure",
                "throttled",
            ]
            .contains(&f.error.as_str())
            {
                return Err(Error::config(format!(
                    "sim.faults[{i}].error: `{}` is not one of temporary, throttled, permanent, unreachable, integrity, job-failure",
                    f.error
                )));
            }
        }
        for (i, n) in raw.notifications.iter().enumerate() {
            match n {
                NotificationSink::Webhook { url, url_env, .. } => match (url, url_env) {
                    (Some(_), Some(_)) | (None, None) => {
                        return Err(Error::config(format!(
                            "notifications[{i}]: a webhook takes exactly one of `url` and `url_env`"
                        )));
                    }
                    (Some(url), None)
                        if !(url.starts_with("http://") || url.starts_with("https://")) =>
                    {
                        return Err(Error::config(format!(
                            "notifications[{i}].url: `{}` must start with http:// or https://",
                            crate::notify::redact_url(url)
                        )));
                    }
                    (None, Some(var)) if var.trim().is_empty() => {
                        return Err(Error::config(format!(
                            "notifications[{i}].url_env: must name an environment variable"
                        )));
                    }
                    _ => {}
                },
                NotificationSink::File { path, .. } if path.trim().is_empty() => {
                    return Err(Error::config(format!(
                        "notifications[{i}].path: must not be empty"
                    )));
                }
                _ => {}
            }
        }

        let mut escalations = BTreeMap::new();
        for (key, route) in raw.escalations {
            let reason: crate::notify::Escalation = key
                .parse()
                .map_err(|e: String| Error::config(format!("escalations.{key}: {e}")))?;
            for n in &route.notify {
                if !raw
                    .notifications
                    .iter()
                    .any(|s| s.name() == Some(n.as_str()))
                {
                    return Err(Error::config(format!(
                        "escalations.{key}.notify: no [[notifications]] sink is named `{n}`"
                    )));
                }
            }
            escalations.insert(reason, route);
        }

        Ok(Plan {
            name,
            primary,
            dr,
            targets,
            databases,
            dns_records,
            node_pools,
            workloads,
            recovery_servers,
            health_endpoints,
            checks,
            failback,
            execution,
            estimates: raw.estimates.unwrap_or_default(),
            escalations,
            notifications: raw.notifications,
            sim,
        })
    }
}

/// The longest plan name: it names the lock file and the run folders.
pub const MAX_PLAN_NAME: usize = 100;

pub(super) fn check_provider(name: &str, field: &str) -> Result<()> {
    if KNOWN_PROVIDERS.contains(&name) {
        Ok(())
    } else if name == "kubernetes" {
        Err(Error::config(format!(
            "{field}: `kubernetes` is not a site provider: a site's workloads go through Kubernetes when the site sets `kubeconfig` and/or `context`"
        )))
    } else {
        Err(Error::config(format!(
            "{field}: unknown provider `{name}` (expected one of: {})",
            KNOWN_PROVIDERS.join(", ")
        )))
    }
}

/// 1-based line of byte offset `pos` in `text`.
pub(super) fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

struct Validator<'a> {
    text: &'a str,
}

impl Validator<'_> {
    fn at(&self, table: &str, i: usize, name: &Spanned<String>) -> String {
        format!(
            "{table}[{i}] (`{}`, line {})",
            name.get_ref(),
            line_of(self.text, name.span().start)
        )
    }
    fn non_empty(&self, at: &str, field: &str, value: &str) -> Result<()> {
        if value.trim().is_empty() {
            Err(Error::config(format!("{at}.{field}: must not be empty")))
        } else {
            Ok(())
        }
    }
    fn unique(
        &self,
        seen: &mut std::collections::HashSet<String>,
        at: &str,
        what: &str,
        key: &str,
    ) -> Result<()> {
        if seen.insert(format!("{what}:{key}")) {
            Ok(())
        } else {
            Err(Error::config(format!(
                "{at}.name: duplicate {what} `{key}`"
            )))
        }
    }
}
