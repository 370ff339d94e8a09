//! Validation of a plan file: the raw TOML shape checked table by table into a [`Plan`], every
//! error naming its field (and line, where the file has one).

use std::collections::BTreeSet;

use toml::Spanned;

use super::raw::{
    RawDatabase, RawDnsRecord, RawHealthEndpoint, RawHook, RawNodePool, RawPlan, RawRecoveryServer,
    RawSite, RawTargets, RawWorkload,
};
use super::*;

impl Plan {
    pub(super) fn from_raw(raw: RawPlan, text: &str) -> Result<Plan> {
        let v = Validator {
            text,
            seen: Default::default(),
        };
        let name = plan_name(&raw.plan.name)?;
        let primary = site("primary", raw.sites.primary)?;
        let dr = site("dr", raw.sites.dr)?;
        let providers = provider_tables(raw.providers)?;
        let sites = Sites {
            primary: &primary,
            dr: &dr,
        };
        let mut v = v;
        let databases = databases(&mut v, raw.databases, sites)?;
        let dns_records = dns_records(&mut v, raw.dns_records, sites)?;
        let node_pools = node_pools(&mut v, raw.node_pools, sites)?;
        let workloads = workloads(&mut v, raw.workloads, sites)?;
        let recovery_servers = recovery_servers(&mut v, raw.recovery_servers, sites)?;
        let health_endpoints = health_endpoints(&mut v, raw.health_endpoints, sites)?;
        let sim = sim(raw.sim.unwrap_or_default())?;
        notifications(&raw.notifications)?;
        let escalations = escalations(raw.escalations, &raw.notifications)?;
        let hooks = hooks(&mut v, raw.hooks)?;
        let plan = Plan {
            name,
            on_failure: on_failure(&raw.targets)?,
            targets: targets(raw.targets)?,
            primary,
            dr,
            databases,
            dns_records,
            node_pools,
            workloads,
            recovery_servers,
            health_endpoints,
            checks: checks(raw.checks.unwrap_or_default())?,
            failback: failback(raw.failback.unwrap_or_default())?,
            execution: execution(raw.execution.unwrap_or_default())?,
            estimates: raw.estimates.unwrap_or_default(),
            escalations,
            notifications: raw.notifications,
            sim,
            fault_injection: raw.fault_injection.map(fault_injection).transpose()?,
            providers,
            hooks,
            verification: VerificationSettings {
                dns_resolver: raw
                    .verification
                    .and_then(|v| v.dns_resolver)
                    .map(|t| {
                        DnsResolver::parse(&t)
                            .map_err(|e| Error::config(format!("verification.dns_resolver: {e}")))
                    })
                    .transpose()?,
            },
            triggers: super::triggers::triggers(raw.triggers)?,
            watch: super::triggers::watch(raw.watch)?,
            state: super::state_settings::state(raw.state.unwrap_or_default())?,
            discovery: raw.discovery,
        };
        super::graph::check_hook_anchors(&plan)?;
        Ok(plan)
    }
}

/// Each value of a record's target fits its type: an A record's values are IPv4 addresses, an
/// AAAA record's IPv6 addresses (several make a record set); a CNAME or ALIAS names one host, and
/// an `alias:<zone>/<name>` (Route 53) stands alone. No value is itself a list.
fn targets_fit(at: &str, field: &str, rtype: &str, t: &RecordTargets) -> Result<()> {
    let values = t.values();
    if values.is_empty() {
        return Err(Error::config(format!("{at}.{field}: must not be empty")));
    }
    let many = values.len() > 1;
    let mut seen = BTreeSet::new();
    for v in values {
        let bad = |what: &str| Err(Error::config(format!("{at}.{field}: `{v}` is not {what}")));
        if v.trim().is_empty() {
            return Err(Error::config(format!("{at}.{field}: must not be empty")));
        }
        if v.contains(|c: char| c.is_whitespace() || c == ',') {
            return bad(
                "one value (write several as a list: [\"198.51.100.10\", \"198.51.100.11\"])",
            );
        }
        if !seen.insert(v.trim_end_matches('.').to_ascii_lowercase()) {
            return Err(Error::config(format!(
                "{at}.{field}: `{v}` is listed twice"
            )));
        }
        if v.starts_with("alias:") {
            if many {
                return bad("a value that can share a record (an alias stands alone)");
            }
            continue;
        }
        match rtype {
            "A" if v.parse::<std::net::Ipv4Addr>().is_err() => {
                return bad("an IPv4 address (type A)")
            }
            "AAAA" if v.parse::<std::net::Ipv6Addr>().is_err() => {
                return bad("an IPv6 address (type AAAA)")
            }
            "CNAME" | "ALIAS" if many => {
                return Err(Error::config(format!(
                    "{at}.{field}: a {rtype} record names one host, not {} (several values need an A or AAAA record)",
                    values.len()
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The two sites, for the defaults of the resources' providers.
#[derive(Clone, Copy)]
struct Sites<'a> {
    primary: &'a Site,
    dr: &'a Site,
}

impl Sites<'_> {
    fn get(&self, role: SiteRole) -> &Site {
        match role {
            SiteRole::Primary => self.primary,
            SiteRole::Dr => self.dr,
        }
    }
}

/// The provider a resource names, checked, or `default`.
fn provider_of(at: &str, named: Option<String>, default: &ProviderName) -> Result<ProviderName> {
    match named {
        Some(p) => {
            check_provider(&p, &format!("{at}.provider"))?;
            Ok(ProviderName(p))
        }
        None => Ok(default.clone()),
    }
}

fn plan_name(raw: &str) -> Result<String> {
    let name = raw.trim().to_string();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(Error::config(format!(
            "plan.name: `{raw}` must be non-empty and use only letters, digits, `-`, `_` and `.`"
        )));
    }
    // The name becomes a lock file name (`<name>.lock`) and appears in every run folder path.
    if name.len() > MAX_PLAN_NAME {
        return Err(Error::config(format!(
            "plan.name: {} characters long; the most is {MAX_PLAN_NAME}",
            name.len()
        )));
    }
    Ok(name)
}

fn site(role: &str, s: Option<RawSite>) -> Result<Site> {
    let s =
        s.ok_or_else(|| Error::config(format!("sites.{role}: missing table [sites.{role}]")))?;
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
    let mut settings = BTreeMap::new();
    for (key, value) in s.other {
        match value {
            toml::Value::Table(t) => {
                check_provider(&key, &format!("sites.{role}.{key}"))?;
                settings.insert(ProviderName(key), t.into_iter().collect());
            }
            _ => {
                return Err(Error::config(format!(
                    "sites.{role}.{key}: unknown field (a site has provider, region, cluster, kubeconfig, context, and a settings table per provider such as [sites.{role}.aws])"
                )))
            }
        }
    }
    Ok(Site {
        provider: ProviderName(s.provider),
        region: s.region,
        cluster: s.cluster,
        kubeconfig: s.kubeconfig,
        context: s.context,
        settings,
    })
}

fn provider_tables(
    raw: BTreeMap<String, ProviderSettings>,
) -> Result<BTreeMap<ProviderName, ProviderSettings>> {
    raw.into_iter()
        .map(|(name, t)| {
            check_provider(&name, &format!("providers.{name}"))?;
            Ok((ProviderName(name), t))
        })
        .collect()
}

fn on_failure(raw: &BTreeMap<String, RawTargets>) -> Result<BTreeMap<IncidentClass, OnFailure>> {
    let mut out = BTreeMap::new();
    for (key, t) in raw {
        let Some(p) = &t.on_failure else { continue };
        let class: IncidentClass = key
            .parse()
            .map_err(|e: String| Error::config(format!("targets.{key}: {e}")))?;
        let policy = match p.as_str() {
            "stop" => OnFailure::Stop,
            "rollback" => OnFailure::Rollback,
            other => {
                return Err(Error::config(format!(
                    "targets.{key}.on_failure: `{other}` is not one of stop, rollback"
                )))
            }
        };
        out.insert(class, policy);
    }
    Ok(out)
}

fn targets(raw: BTreeMap<String, RawTargets>) -> Result<BTreeMap<IncidentClass, Targets>> {
    let mut targets = BTreeMap::new();
    for class in IncidentClass::ALL {
        targets.insert(class, class.default_targets());
    }
    for (key, t) in raw {
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
    Ok(targets)
}

fn databases(v: &mut Validator, raw: Vec<RawDatabase>, sites: Sites) -> Result<Vec<DatabaseSpec>> {
    let mut out = Vec::new();
    for (i, d) in raw.into_iter().enumerate() {
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
        let (p, r) = (&sites.primary.provider, &sites.dr.provider);
        if d.provider.is_none() && p != r {
            return Err(Error::config(format!(
                "{at}.provider: sites.primary.provider is `{p}` and sites.dr.provider `{r}`, but a database pair's two \
                 instances are on one provider (aegis-dr promotes a provider's own replica; replication across \
                 clouds is the application's): set `provider` to the cloud holding both instances, or to `postgres` \
                 for a self-managed PostgreSQL pair (which replicates across clouds itself)"
            )));
        }
        let provider = provider_of(&at, d.provider, p)?;
        v.unique(&at, "database", d.name.get_ref())?;
        // One instance promoted or fenced by two pairs would be driven twice, each time on a guess.
        for instance in [&d.primary, &d.dr] {
            if !v.seen.insert(format!("db-instance:{provider}/{instance}")) {
                return Err(Error::config(format!(
                    "{at}: instance `{instance}` is already in another database pair; each instance belongs to one pair"
                )));
            }
        }
        let rejoin = super::rejoin::rejoin(&at, provider.as_str(), d.rejoin)?;
        out.push(DatabaseSpec {
            name: d.name.into_inner(),
            provider,
            primary: d.primary,
            dr: d.dr,
            engine: d.engine,
            options: d.options,
            rejoin,
        });
    }
    Ok(out)
}

fn dns_records(
    v: &mut Validator,
    raw: Vec<RawDnsRecord>,
    sites: Sites,
) -> Result<Vec<DnsRecordSpec>> {
    let mut out = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = v.at("dns_records", i, &r.name);
        v.non_empty(&at, "name", r.name.get_ref())?;
        v.non_empty(&at, "zone", &r.zone)?;
        let rtype = r.record_type.to_ascii_uppercase();
        if !["CNAME", "A", "AAAA", "ALIAS"].contains(&rtype.as_str()) {
            return Err(Error::config(format!(
                "{at}.type: `{}` is not one of CNAME, A, AAAA, ALIAS",
                r.record_type
            )));
        }
        for (field, t) in [
            ("primary_target", &r.primary_target),
            ("dr_target", &r.dr_target),
        ] {
            targets_fit(&at, field, &rtype, t)?;
        }
        if r.primary_target.overlaps(&r.dr_target) {
            return Err(Error::config(format!(
                "{at}.dr_target: `{}` shares a value with the primary_target `{}`: traffic for it would not move",
                r.dr_target, r.primary_target
            )));
        }
        if r.ttl == 0 || r.ttl > 172_800 {
            return Err(Error::config(format!(
                "{at}.ttl: {} must be between 1 and 172800 seconds",
                r.ttl
            )));
        }
        let provider = provider_of(&at, r.provider, &sites.primary.provider)?;
        // A dual-stack name has an A and an AAAA record: one record is a name and a type.
        v.unique(
            &at,
            "dns record",
            &format!("{} {rtype}", r.name.get_ref().to_ascii_lowercase()),
        )?;
        out.push(DnsRecordSpec {
            name: r.name.into_inner(),
            provider,
            zone: r.zone,
            record_type: rtype,
            primary_target: r.primary_target,
            dr_target: r.dr_target,
            ttl: r.ttl,
            health_check: r.health_check,
        });
    }
    Ok(out)
}

fn node_pools(v: &mut Validator, raw: Vec<RawNodePool>, sites: Sites) -> Result<Vec<NodePoolSpec>> {
    let mut out = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        let at = v.at("node_pools", i, &p.name);
        v.non_empty(&at, "name", p.name.get_ref())?;
        let provider = provider_of(&at, p.provider, &sites.get(p.site).provider)?;
        if p.autoscaling_group.is_some() && provider.as_str() != "aws" {
            return Err(Error::config(format!(
                "{at}.autoscaling_group: an Auto Scaling group is an AWS resource, but the pool is on `{provider}`"
            )));
        }
        // An Auto Scaling group pool is named by its group: no cluster needed.
        let cluster = p
            .cluster
            .or_else(|| sites.get(p.site).cluster.clone())
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
            &at,
            "node pool",
            &format!("{}/{}", p.site, p.name.get_ref()),
        )?;
        out.push(NodePoolSpec {
            name: p.name.into_inner(),
            provider,
            site: p.site,
            cluster,
            production: p.production,
            standby: p.standby,
            autoscaling_group: p.autoscaling_group,
        });
    }
    Ok(out)
}

fn workloads(v: &mut Validator, raw: Vec<RawWorkload>, sites: Sites) -> Result<Vec<WorkloadSpec>> {
    let mut out = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
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
            LabelSelector::parse(sel).map_err(|e| Error::config(format!("{at}.selector: {e}")))?;
        }
        if w.selector.is_some() && !w.deployments.is_empty() {
            return Err(Error::config(format!(
                "{at}: give either `deployments` (names) or `selector` (labels), not both"
            )));
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
        v.unique(&at, "workload group", w.name.get_ref())?;
        out.push(WorkloadSpec {
            name: w.name.into_inner(),
            namespace: w.namespace,
            kind: w.kind,
            names: w.deployments,
            selector: w.selector,
            production_replicas: w.production_replicas,
            standby_replicas: w.standby_replicas,
        });
    }
    if !out.is_empty() && (sites.primary.cluster.is_none() || sites.dr.cluster.is_none()) {
        return Err(Error::config(
            "sites.primary.cluster / sites.dr.cluster: both must be set when [[workloads]] are listed",
        ));
    }
    Ok(out)
}

fn recovery_servers(
    v: &mut Validator,
    raw: Vec<RawRecoveryServer>,
    sites: Sites,
) -> Result<Vec<RecoveryServerSpec>> {
    let mut out = Vec::new();
    for (i, s) in raw.into_iter().enumerate() {
        let at = v.at("recovery_servers", i, &s.name);
        v.non_empty(&at, "source_server_id", &s.source_server_id)?;
        let provider = provider_of(&at, s.provider, &sites.dr.provider)?;
        v.unique(&at, "recovery server", s.name.get_ref())?;
        out.push(RecoveryServerSpec {
            name: s.name.into_inner(),
            provider,
            source_server_id: s.source_server_id,
        });
    }
    if let Some(other) = out.iter().find(|s| s.provider != out[0].provider) {
        return Err(Error::config(format!(
            "recovery_servers: `{}` is on `{}` but `{}` on `{}`: one recovery service runs a plan's recovery job",
            out[0].name, out[0].provider, other.name, other.provider
        )));
    }
    Ok(out)
}

fn health_endpoints(
    v: &mut Validator,
    raw: Vec<RawHealthEndpoint>,
    sites: Sites,
) -> Result<Vec<HealthEndpointSpec>> {
    let mut out = Vec::new();
    for (i, h) in raw.into_iter().enumerate() {
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
        let provider = provider_of(&at, h.provider, &sites.get(h.site).provider)?;
        let expect_json = super::hooks::expect_json(&at, h.expect_json)?;
        v.unique(&at, "health endpoint", h.name.get_ref())?;
        out.push(HealthEndpointSpec {
            name: h.name.into_inner(),
            provider,
            site: h.site,
            url: h.url,
            expect_status: h.expect_status,
            expect_json,
        });
    }
    Ok(out)
}

fn hooks(v: &mut Validator, raw: Vec<RawHook>) -> Result<Vec<HookSpec>> {
    let mut out = Vec::new();
    for (i, h) in raw.into_iter().enumerate() {
        let at = v.at("hooks", i, &h.name);
        v.unique(&at, "hook", h.name.get_ref())?;
        out.push(super::hooks::hook(&at, h)?);
    }
    Ok(out)
}

fn checks(checks: CheckThresholds) -> Result<CheckThresholds> {
    if !(0.0..=1.0).contains(&checks.max_error_rate) {
        return Err(Error::config(format!(
            "checks.max_error_rate: {} must be between 0 and 1",
            checks.max_error_rate
        )));
    }
    Ok(checks)
}

fn execution(execution: ExecutionSettings) -> Result<ExecutionSettings> {
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
    if execution.poll_interval.is_zero() || execution.max_poll_interval < execution.poll_interval {
        return Err(Error::config(
            "execution.poll_interval: must be > 0 and <= execution.max_poll_interval",
        ));
    }
    if !(execution.overrun_factor >= 0.0 && execution.overrun_factor <= 10.0) {
        return Err(Error::config(
            "execution.overrun_factor: must be between 0 and 10",
        ));
    }
    if execution.call_timeout < Duration::from_secs(1) {
        return Err(Error::config("execution.call_timeout: must be at least 1s"));
    }
    Ok(execution)
}

fn failback(failback: FailbackSettings) -> Result<FailbackSettings> {
    if failback.lowered_ttl == 0 {
        return Err(Error::config(
            "failback.lowered_ttl: must be at least 1 second",
        ));
    }
    Ok(failback)
}

fn sim(sim: SimSettings) -> Result<SimSettings> {
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
        super::faults::check_fault(f, &format!("sim.faults[{i}]"))?;
    }
    for (i, p) in sim.plays.iter().enumerate() {
        check_provider(p.as_str(), &format!("sim.plays[{i}]"))?;
        if p.as_str() == "sim" {
            return Err(Error::config(format!(
                "sim.plays[{i}]: `sim` is always the simulated estate; list the other names it plays"
            )));
        }
    }
    Ok(sim)
}

fn fault_injection(f: FaultInjection) -> Result<FaultInjection> {
    if !(0.0..=0.9).contains(&f.transient_rate) {
        return Err(Error::config(format!(
            "fault_injection.transient_rate: {} must be between 0 and 0.9",
            f.transient_rate
        )));
    }
    for (i, p) in f.providers.iter().enumerate() {
        check_provider(p.as_str(), &format!("fault_injection.providers[{i}]"))?;
    }
    for (i, fault) in f.faults.iter().enumerate() {
        super::faults::check_fault(fault, &format!("fault_injection.faults[{i}]"))?;
        if fault.error == "job-failure" {
            return Err(Error::config(format!(
                "fault_injection.faults[{i}].error: `job-failure` is the simulated estate's (a job that fails); a real provider's calls take the others"
            )));
        }
    }
    Ok(f)
}

fn notifications(sinks: &[NotificationSink]) -> Result<()> {
    for (i, n) in sinks.iter().enumerate() {
        match n {
            NotificationSink::Webhook {
                format,
                routing_key_env,
                ..
            } if (*format == WebhookFormat::Pagerduty) != routing_key_env.is_some() => {
                return Err(Error::config(format!(
                    "notifications[{i}].routing_key_env: {}",
                    if routing_key_env.is_some() {
                        "only a `pagerduty` webhook takes a routing key"
                    } else {
                        "a `pagerduty` webhook needs the environment variable holding its routing key"
                    }
                )));
            }
            NotificationSink::Webhook {
                url: None,
                url_env: None,
                format: WebhookFormat::Pagerduty,
                ..
            } => {}
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
                        crate::redact::redact_url(url)
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
    Ok(())
}

fn escalations(
    raw: BTreeMap<String, EscalationRoute>,
    sinks: &[NotificationSink],
) -> Result<BTreeMap<Escalation, EscalationRoute>> {
    let mut escalations = BTreeMap::new();
    for (key, route) in raw {
        let reason: Escalation = key
            .parse()
            .map_err(|e: String| Error::config(format!("escalations.{key}: {e}")))?;
        for n in &route.notify {
            if !sinks.iter().any(|s| s.name() == Some(n.as_str())) {
                return Err(Error::config(format!(
                    "escalations.{key}.notify: no [[notifications]] sink is named `{n}`"
                )));
            }
        }
        escalations.insert(reason, route);
    }
    Ok(escalations)
}

/// The longest plan name: it names the lock file and the run folders.
pub const MAX_PLAN_NAME: usize = 100;

/// Checks the shape of a provider name. Whether a provider of that name exists is the registry's
/// question (`aegis_dr::registry`), asked before anything runs.
pub(super) fn check_provider(name: &str, field: &str) -> Result<()> {
    if name == KUBERNETES {
        Err(Error::config(format!(
            "{field}: `kubernetes` is not a site or resource provider: a site's workloads go through Kubernetes when the site sets `kubeconfig` and/or `context`"
        )))
    } else if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        Err(Error::config(format!(
            "{field}: `{name}` is not a provider name (lowercase letters, digits and `-`, like `aws`)"
        )))
    } else {
        Ok(())
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
    /// Names seen so far, by kind of resource.
    seen: std::collections::HashSet<String>,
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
    fn unique(&mut self, at: &str, what: &str, key: &str) -> Result<()> {
        if self.seen.insert(format!("{what}:{key}")) {
            Ok(())
        } else {
            Err(Error::config(format!(
                "{at}.name: duplicate {what} `{key}`"
            )))
        }
    }
}
