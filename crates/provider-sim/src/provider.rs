//! [`SimProvider`]: the provider traits implemented over a [`SimWorld`].

mod databases;
mod recovery;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock, RwLockReadGuard, RwLockWriteGuard,
    },
    time::Duration,
};

use async_trait::async_trait;

use super::world::{
    pool_key, record_key, workload_key, SimJob, SimRecoveryInstance, SimWorkload, SimWorld,
};
use aegis_dr_core::{
    clock::Clock,
    error::{Error, ErrorKind, Result},
    plan::{Estimates, Plan, ProviderName, SimSettings, SiteRole},
    provider::layer::{FaultLayer, ProviderOp},
    provider::*,
    store::State,
};

/// The world's file in the run state.
const WORLD: &str = "sim-world.json";

/// The simulated provider. Cheap to share: wrap it in an `Arc` and hand out [`SimProvider::providers`].
#[derive(Debug)]
pub struct SimProvider {
    world: RwLock<SimWorld>,
    settings: SimSettings,
    /// Where the world is kept (`sim-world.json` in the run state), when it is.
    store: Option<State>,
    clock: Clock,
    calls: AtomicU64,
    latency_us: AtomicU64,
    /// Sites whose workloads run in a real cluster: the simulator cannot see their drain, so their
    /// health endpoints report no in-flight figure.
    external_workloads: Vec<SiteRole>,
    /// Real-time timer answering calls at their latency to the tens of microseconds.
    precise: Option<super::latency::PreciseTimer>,
    /// The region of each site, which its health endpoints report.
    regions: BTreeMap<SiteRole, String>,
}

impl SimProvider {
    /// A simulator over `world`, persisted to `store` after every change when given.
    pub fn new(
        world: SimWorld,
        settings: SimSettings,
        store: Option<State>,
        clock: Clock,
    ) -> SimProvider {
        SimProvider {
            world: RwLock::new(world),
            settings,
            store,
            clock,
            calls: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
            external_workloads: Vec::new(),
            precise: None,
            regions: BTreeMap::new(),
        }
    }

    /// Opens the world kept as `sim-world.json` in `state` (a folder, or a store), creating it
    /// from `plan` on first use.
    pub fn open(plan: &Plan, state: impl Into<State>, clock: Clock) -> Result<SimProvider> {
        let state = state.into();
        let world = match state.read_file(WORLD)? {
            Some(bytes) => SimWorld::from_json(&bytes)
                .map_err(|e| e.with_resource(format!("{state}/{WORLD}")))?,
            None => {
                let w = SimWorld::from_plan(plan, clock.now_ms());
                state.write_file(WORLD, &w.to_json()?)?;
                w
            }
        };
        let mut sim = SimProvider::new(world, plan.sim.clone(), Some(state), clock);
        sim.external_workloads = [SiteRole::Primary, SiteRole::Dr]
            .into_iter()
            .filter(|r| plan.site(*r).uses_kubernetes())
            .collect();
        Ok(sim.with_regions_of(plan))
    }

    /// An in-memory simulator of `plan`'s estate (nothing persisted).
    pub fn in_memory(plan: &Plan, clock: Clock) -> SimProvider {
        SimProvider::new(
            SimWorld::from_plan(plan, clock.now_ms()),
            plan.sim.clone(),
            None,
            clock,
        )
        .with_regions_of(plan)
    }

    /// Health endpoints report their site's region from `plan`.
    fn with_regions_of(mut self, plan: &Plan) -> SimProvider {
        self.regions = [SiteRole::Primary, SiteRole::Dr]
            .into_iter()
            .map(|r| (r, plan.site(r).region.clone()))
            .collect();
        self
    }

    /// Every trait of the simulated estate, as provider `sim`.
    pub fn set(self: &Arc<Self>) -> ProviderSet {
        ProviderSet {
            name: ProviderName::sim(),
            database: Some(self.clone()),
            dns: Some(self.clone()),
            nodes: Some(self.clone()),
            workloads: Some(self.clone()),
            health: Some(self.clone()),
            recovery: Some(self.clone()),
            capabilities: Capabilities {
                planned_promotion: true,
                forced_promotion: true,
                sync_dry_run: true,
                dns_health_checks: true,
                recovery_service: true,
                integrity_check: true,
                snapshots: true,
            },
        }
    }

    /// The simulated estate as every provider it serves: `sim` and the names it plays
    /// (`[sim] plays`), all over this one world, with the `[sim]` transient and scripted faults as a
    /// [`FaultLayer`] shared by them (its firing counts kept beside the world when it is persisted).
    pub fn providers(self: &Arc<Self>) -> Result<Providers> {
        let mut faults = FaultLayer::new(
            self.settings.transient_fault_rate,
            self.settings.seed,
            self.settings.faults.clone(),
        );
        if let Some(state) = &self.store {
            faults = faults.persisted(state.clone(), "sim-faults.json")?;
        }
        let faults = (!faults.is_inert()).then(|| Arc::new(faults));
        let mut providers = Providers::new();
        let names = std::iter::once(ProviderName::sim()).chain(self.settings.plays.iter().cloned());
        for name in names {
            let set = self.set().renamed(name);
            providers.insert(match &faults {
                Some(f) => set.layer_shared(f.clone()),
                None => set,
            });
        }
        providers.estimates = Some(self.estimates());
        Ok(providers)
    }

    /// Estimates matching the simulator's timings.
    pub fn estimates(&self) -> Estimates {
        SimProvider::estimates_of(&self.settings)
    }

    /// Estimates matching the timings of `s`, without a simulator (for a side-effect-free preview).
    pub fn estimates_of(s: &aegis_dr_core::plan::SimSettings) -> Estimates {
        Estimates {
            api_call: s.latency,
            dns_propagation: s.dns_propagation,
            node_boot: s.node_boot,
            rollout: s.rollout,
            // The simulated fence is one call: its latency.
            fence: Duration::ZERO,
            promotion: Duration::from_secs_f64(s.replication_lag.as_secs_f64() / s.catch_up_speed),
            drain: s.drain_time,
            recovery_job: s.job_time,
            snapshot: s.job_time,
        }
    }

    /// Mean latency the simulator actually imposed per call (timer granularity makes it exceed the
    /// configured latency slightly).
    pub fn mean_latency(&self) -> Duration {
        let calls = self.calls.load(Ordering::Relaxed).max(1);
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed) / calls)
    }

    /// Answers calls on a real-time timer that fires within tens of microseconds of the configured
    /// latency, instead of tokio's millisecond timer (which answers ~1.5 ms late on average). For
    /// real-time use (the CLI, benchmarks); under a paused tokio clock keep the default, so the
    /// latency stays virtual. Without a thread to spare, the default timer stays.
    pub fn with_precise_latency(mut self) -> SimProvider {
        self.precise = super::latency::PreciseTimer::start().ok();
        self
    }

    /// The request's leg of a call's round trip: half the configured latency, after which the
    /// simulated server serves the request (as a real one does, between the request's arrival and
    /// the answer's departure). Returns when the trip started, for [`Self::response_leg`].
    async fn request_leg(&self) -> Option<std::time::Instant> {
        if self.settings.latency.is_zero() {
            return None;
        }
        let start = std::time::Instant::now();
        let half = self.settings.latency / 2;
        match &self.precise {
            Some(timer) => timer.sleep_until(start + half).await,
            None => self.clock.sleep(half).await,
        }
        Some(start)
    }

    /// The answer's leg: the call returns one configured latency after it started (the server's
    /// own work counts within it, unless it takes longer than the trip's second half).
    async fn response_leg(&self, start: Option<std::time::Instant>) {
        let Some(start) = start else {
            return;
        };
        let latency = self.settings.latency;
        match &self.precise {
            Some(timer) => timer.sleep_until(start + latency).await,
            None => self.clock.sleep(latency - latency / 2).await,
        }
        self.latency_us
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    /// API calls served so far.
    pub fn call_count(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// A copy of the current world.
    pub fn snapshot(&self) -> Result<SimWorld> {
        self.read_lock().map(|w| w.clone())
    }

    /// Changes the world directly (tests and scripted scenarios), checking invariants and persisting.
    pub fn mutate<T>(&self, f: impl FnOnce(&mut SimWorld) -> T) -> Result<T> {
        let mut w = self.lock()?;
        let out = f(&mut w);
        w.check_invariants()?;
        self.persist(&w)?;
        Ok(out)
    }

    fn lock(&self) -> Result<RwLockWriteGuard<'_, SimWorld>> {
        self.world
            .write()
            .map_err(|_| Error::new(ErrorKind::Provider, "simulated world lock poisoned"))
    }

    fn read_lock(&self) -> Result<RwLockReadGuard<'_, SimWorld>> {
        self.world
            .read()
            .map_err(|_| Error::new(ErrorKind::Provider, "simulated world lock poisoned"))
    }

    /// True when a read must take the write lock: time-driven transitions are due.
    fn read_needs_write(&self, w: &SimWorld, now: u64) -> bool {
        needs_settle(w, &self.settings, now)
    }

    /// A read-only API call: served under a shared lock, so reads run concurrently.
    async fn read<T>(
        &self,
        op: ProviderOp,
        resource: &str,
        site: Option<SiteRole>,
        f: impl FnOnce(&SimWorld, u64) -> Result<T>,
    ) -> Result<T> {
        self.round_trip(|| self.serve_read(op, resource, site, f))
            .await
    }

    /// One call's round trip: counted, the request's leg, `serve` at the server, the answer's leg.
    async fn round_trip<T>(&self, serve: impl FnOnce() -> Result<T>) -> Result<T> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let trip = self.request_leg().await;
        let out = serve();
        self.response_leg(trip).await;
        out
    }

    fn serve_read<T>(
        &self,
        op: ProviderOp,
        resource: &str,
        site: Option<SiteRole>,
        f: impl FnOnce(&SimWorld, u64) -> Result<T>,
    ) -> Result<T> {
        {
            let now = self.clock.now_ms();
            let w = self.read_lock()?;
            if !self.read_needs_write(&w, now) {
                check_reachable(&w, site, resource)?;
                return f(&w, now).map_err(|e| e.or_resource(resource));
            }
        }
        // Rare path: faults or due transitions need the exclusive lock.
        self.serve(op, resource, site, false, |w, now| f(w, now))
    }

    fn persist(&self, w: &SimWorld) -> Result<()> {
        match &self.store {
            Some(state) => state.write_file(WORLD, &w.to_json()?),
            None => Ok(()),
        }
    }

    /// One API call: served (see [`Self::serve`]) halfway through its round trip.
    async fn call<T>(
        &self,
        op: ProviderOp,
        resource: &str,
        site: Option<SiteRole>,
        mutates: bool,
        f: impl FnOnce(&mut SimWorld, u64) -> Result<T>,
    ) -> Result<T> {
        self.call_prepared(op, resource, site, mutates, || (), |w, now, ()| f(w, now))
            .await
    }

    /// [`Self::call`] whose request is first turned by `prepare` into what the change needs (keys,
    /// owned values): at the server, before the lock is taken, so neither the caller's side of the
    /// trip nor the locked section pays for it.
    async fn call_prepared<P, T>(
        &self,
        op: ProviderOp,
        resource: &str,
        site: Option<SiteRole>,
        mutates: bool,
        prepare: impl FnOnce() -> P,
        f: impl FnOnce(&mut SimWorld, u64, P) -> Result<T>,
    ) -> Result<T> {
        self.round_trip(|| {
            let prepared = prepare();
            self.serve(op, resource, site, mutates, |w, now| f(w, now, prepared))
        })
        .await
    }

    /// One call changing workload `id`: `spec` (given the time), then `annotations`.
    async fn change_workload(
        &self,
        op: ProviderOp,
        id: &WorkloadId,
        annotations: &BTreeMap<String, Option<String>>,
        spec: impl FnOnce(&mut SimWorkload, u64),
    ) -> Result<()> {
        self.call_prepared(
            op,
            &id.name,
            Some(id.site),
            true,
            || WorkloadChange::of(id, annotations),
            |w, now, change| change.apply(w, now, |wl| spec(wl, now)),
        )
        .await
    }

    /// Serves one request under the exclusive lock: reachability, scripted and transient faults,
    /// the effect, invariants, persistence.
    fn serve<T>(
        &self,
        op: ProviderOp,
        resource: &str,
        site: Option<SiteRole>,
        mutates: bool,
        f: impl FnOnce(&mut SimWorld, u64) -> Result<T>,
    ) -> Result<T> {
        let now = self.clock.now_ms();
        let mut w = self.lock()?;
        // Time-driven changes observed now are kept too: what a read saw is what a reader of the
        // persisted world (a resumed run, another process) finds.
        let settled = needs_settle(&w, &self.settings, now);
        settle(&mut w, &self.settings, now);
        if settled && !mutates {
            self.persist(&w)?;
        }
        check_reachable(&w, site, resource)?;
        let db_before = op.on_databases().then(|| w.databases.clone());
        let out = f(&mut w, now);
        if out.is_ok() {
            if let Some(before) = db_before {
                if let Err(e) = w.check_invariants() {
                    w.databases = before;
                    return Err(e);
                }
            }
            if mutates {
                self.persist(&w)?;
            }
        }
        out.map_err(|e| e.or_resource(resource))
    }

    /// True when a scripted `job-failure` fault of `op` fires for any of `participants` (the other
    /// scripted faults are calls' errors: the [`FaultLayer`] raises them).
    fn job_fails(&self, op: ProviderOp, participants: &[String]) -> Result<bool> {
        let mut w = self.lock()?;
        Ok(participants
            .iter()
            .any(|p| self.take_job_fault(&mut w, op, p)))
    }

    /// Fires the first matching `job-failure` fault, counting it.
    fn take_job_fault(&self, w: &mut SimWorld, op: ProviderOp, resource: &str) -> bool {
        for (i, f) in self.settings.faults.iter().enumerate() {
            if f.operation != op || f.error != "job-failure" {
                continue;
            }
            if let Some(r) = &f.resource {
                if r != resource {
                    continue;
                }
            }
            let fired = w.fault_fired.entry(i).or_insert(0);
            if f.times != 0 && *fired >= f.times {
                continue;
            }
            *fired += 1;
            return true;
        }
        false
    }
}

/// True when [`settle`] has something to do at `now`.
fn needs_settle(w: &SimWorld, s: &SimSettings, now: u64) -> bool {
    let job_ms = s.job_time.as_millis() as u64;
    w.jobs
        .values()
        .any(|j| !j.applied && now >= j.created_ms + job_ms)
        || w.recovery_instances.values().any(|i| {
            i.failback_state == FailbackState::FailbackInProgress
                && now >= i.failback_changed_ms + job_ms
        })
}

/// Advances time-driven transitions: finished jobs apply their effects, replicating-back instances
/// become ready for launch.
fn settle(w: &mut SimWorld, s: &SimSettings, now: u64) {
    let job_ms = s.job_time.as_millis() as u64;
    let due: Vec<String> = w
        .jobs
        .iter()
        .filter(|(_, j)| !j.applied && now >= j.created_ms + job_ms)
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        let Some(job) = w.jobs.get(&id).cloned() else {
            continue;
        };
        let done_at = job.created_ms + job_ms;
        match job.kind.as_str() {
            "LAUNCH" if !job.fails => {
                for server in &job.participants {
                    let iid = w.new_id("i-");
                    let failback_state = if job.is_drill {
                        FailbackState::FailbackNotStarted
                    } else {
                        FailbackState::FailbackInProgress
                    };
                    w.recovery_instances.insert(
                        iid,
                        SimRecoveryInstance {
                            source_server: server.clone(),
                            is_drill: job.is_drill,
                            launched_ms: done_at,
                            failback_state,
                            failback_changed_ms: done_at,
                        },
                    );
                    if !job.is_drill {
                        if let Some(src) = w.source_servers.get_mut(server) {
                            src.state = "stopped".into();
                        }
                    }
                }
            }
            "FAILBACK" => {
                for iid in &job.participants {
                    let Some(inst) = w.recovery_instances.get_mut(iid) else {
                        continue;
                    };
                    if inst.failback_state == FailbackState::FailbackNotReadyForLaunch {
                        continue; // stopped (backed out) before the job finished
                    }
                    inst.failback_state = if job.fails {
                        FailbackState::FailbackError
                    } else {
                        FailbackState::FailbackCompleted
                    };
                    inst.failback_changed_ms = done_at;
                    if !job.fails {
                        let src = inst.source_server.clone();
                        if let Some(s) = w.source_servers.get_mut(&src) {
                            s.state = "running".into();
                        }
                    }
                }
            }
            _ => {}
        }
        if let Some(j) = w.jobs.get_mut(&id) {
            j.applied = true;
        }
    }
    for inst in w.recovery_instances.values_mut() {
        if inst.failback_state == FailbackState::FailbackInProgress
            && now >= inst.failback_changed_ms + job_ms
        {
            inst.failback_state = FailbackState::FailbackReadyForLaunch;
            inst.failback_changed_ms += job_ms;
        }
    }
}

/// An error of a simulated site that does not answer, when `site` is one.
fn check_reachable(w: &SimWorld, site: Option<SiteRole>, resource: &str) -> Result<()> {
    match site {
        Some(site) if !w.sites.get(&site).map(|s| s.reachable).unwrap_or(true) => Err(Error::new(
            ErrorKind::Unreachable,
            format!("{site} site does not answer (simulated outage)"),
        )
        .with_resource(resource.to_string())),
        _ => Ok(()),
    }
}

fn not_found(what: &str, id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("{what} `{id}` does not exist"))
        .with_resource(id.to_string())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidState, msg)
}

/// A change to one workload, prepared (its world key, owned annotation changes) before the world is
/// locked, so the locked section only looks up and moves.
struct WorkloadChange {
    site: SiteRole,
    key: String,
    annotations: BTreeMap<String, Option<String>>,
}

impl WorkloadChange {
    fn of(id: &WorkloadId, annotations: &BTreeMap<String, Option<String>>) -> WorkloadChange {
        WorkloadChange {
            site: id.site,
            key: workload_key(id.site, &id.cluster, &id.namespace, id.kind, &id.name),
            annotations: annotations.clone(),
        }
    }

    /// Applies `spec` (the change to the workload's spec), then the annotations; the drain
    /// annotation starts or ends the site's drain.
    fn apply(self, w: &mut SimWorld, now: u64, spec: impl FnOnce(&mut SimWorkload)) -> Result<()> {
        let wl = w
            .workloads
            .get_mut(&self.key)
            .ok_or_else(|| not_found("workload", &self.key))?;
        spec(wl);
        let drain = apply_annotations(wl, self.annotations);
        note_drain(w, self.site, drain, now);
        Ok(())
    }
}

/// Applies annotation changes to a workload; returns the change of its drain annotation, if any
/// (`Some(true)` when drained), for [`note_drain`].
fn apply_annotations(
    wl: &mut SimWorkload,
    annotations: BTreeMap<String, Option<String>>,
) -> Option<bool> {
    let mut drain_change = None;
    for (k, v) in annotations {
        if k == DRAIN_ANNOTATION {
            drain_change = Some(v.as_deref() == Some("true"));
        }
        match v {
            Some(v) => {
                wl.annotations.insert(k, v);
            }
            None => {
                wl.annotations.remove(&k);
            }
        }
    }
    drain_change
}

/// Records when the site's drain started (or that it was lifted).
fn note_drain(w: &mut SimWorld, site: SiteRole, drain_change: Option<bool>, now: u64) {
    if let (Some(drained), Some(site)) = (drain_change, w.sites.get_mut(&site)) {
        if drained {
            site.drain_started_ms.get_or_insert(now);
        } else {
            site.drain_started_ms = None;
        }
    }
}

#[async_trait]
impl DnsRouter for SimProvider {
    async fn get_record(&self, r: &RecordRef) -> Result<RecordState> {
        let key = record_key(&r.zone, &r.name, &r.record_type);
        self.read(ProviderOp::GetRecord, &r.name, None, |w, _| {
            let rec = w
                .records
                .get(&key)
                .ok_or_else(|| not_found("record", &r.name))?;
            Ok(RecordState {
                target: rec.target.clone(),
                ttl: rec.ttl,
            })
        })
        .await
    }

    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId> {
        let key = record_key(&req.record.zone, &req.record.name, &req.record.record_type);
        self.call(
            ProviderOp::UpsertRecord,
            &req.record.name,
            None,
            true,
            |w, now| {
                w.records.insert(
                    key,
                    super::world::SimRecord {
                        target: req.target.clone(),
                        ttl: req.ttl,
                    },
                );
                let id = w.new_id("C");
                w.changes.insert(id.clone(), now);
                Ok(ChangeId(id))
            },
        )
        .await
    }

    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus> {
        let prop = self.settings.dns_propagation.as_millis() as u64;
        self.read(ProviderOp::GetChange, &change.0, None, |w, now| {
            let at = w
                .changes
                .get(&change.0)
                .ok_or_else(|| not_found("change", &change.0))?;
            Ok(if now >= at + prop {
                ChangeStatus::Insync
            } else {
                ChangeStatus::Pending
            })
        })
        .await
    }

    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState> {
        self.read(ProviderOp::GetHealthCheck, id, None, |w, _| {
            let d = w
                .health_checks
                .get(id)
                .ok_or_else(|| not_found("health check", id))?;
            Ok(HealthCheckState { disabled: *d })
        })
        .await
    }

    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()> {
        self.call(ProviderOp::SetHealthCheck, &req.id, None, true, |w, _| {
            let d = w
                .health_checks
                .get_mut(&req.id)
                .ok_or_else(|| not_found("health check", &req.id))?;
            *d = req.disabled;
            Ok(())
        })
        .await
    }
}

fn ready_nodes(p: &super::world::SimPool, boot_ms: u64, now: u64) -> u32 {
    if p.size.desired <= p.prev_nodes || now >= p.changed_ms + boot_ms {
        p.size.desired
    } else {
        p.prev_nodes
    }
}

#[async_trait]
impl NodeScaler for SimProvider {
    async fn get_pool(&self, pool: &PoolRef) -> Result<PoolState> {
        let key = pool_key(pool.site, &pool.cluster, &pool.name);
        let boot = self.settings.node_boot.as_millis() as u64;
        self.read(
            ProviderOp::GetPool,
            &pool.name,
            Some(pool.site),
            |w, now| {
                let p = w
                    .pools
                    .get(&key)
                    .ok_or_else(|| not_found("node pool", &key))?;
                let ready = ready_nodes(p, boot, now);
                Ok(PoolState {
                    size: p.size,
                    nodes: p.size.desired,
                    ready_nodes: ready,
                    updating: ready != p.size.desired,
                    fixed_count: false,
                })
            },
        )
        .await
    }

    async fn scale_pool(&self, req: &ScalePool) -> Result<()> {
        let key = pool_key(req.pool.site, &req.pool.cluster, &req.pool.name);
        let boot = self.settings.node_boot.as_millis() as u64;
        self.call(
            ProviderOp::ScalePool,
            &req.pool.name,
            Some(req.pool.site),
            true,
            |w, now| {
                let p = w
                    .pools
                    .get_mut(&key)
                    .ok_or_else(|| not_found("node pool", &key))?;
                if p.size != req.size {
                    p.prev_nodes = ready_nodes(p, boot, now);
                    p.size = req.size;
                    p.changed_ms = now;
                }
                Ok(())
            },
        )
        .await
    }
}

fn available(wl: &SimWorkload, rollout_ms: u64, now: u64) -> u32 {
    if wl.replicas <= wl.prev_available || now >= wl.changed_ms + rollout_ms {
        wl.replicas
    } else {
        wl.prev_available
    }
}

#[async_trait]
impl WorkloadScaler for SimProvider {
    async fn list(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>> {
        let prefix = workload_key(req.site, &req.cluster, &req.namespace, req.kind, "");
        let rollout = self.settings.rollout.as_millis() as u64;
        self.read(
            ProviderOp::ListWorkloads,
            &req.namespace,
            Some(req.site),
            |w, now| {
                Ok(w.workloads
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .filter(|(_, wl)| {
                        req.selector
                            .as_ref()
                            .map(|s| s.matches(&wl.labels))
                            .unwrap_or(true)
                    })
                    .map(|(k, wl)| WorkloadState {
                        name: k[prefix.len()..].to_string(),
                        replicas: wl.replicas,
                        available_replicas: available(wl, rollout, now),
                        annotations: wl.annotations.clone(),
                    })
                    .collect())
            },
        )
        .await
    }

    async fn annotate(&self, req: &AnnotateWorkload) -> Result<()> {
        self.change_workload(
            ProviderOp::AnnotateWorkload,
            &req.id,
            &req.annotations,
            |_, _| {},
        )
        .await
    }

    async fn scale(&self, req: &ScaleWorkload) -> Result<()> {
        let rollout = self.settings.rollout.as_millis() as u64;
        self.change_workload(
            ProviderOp::ScaleWorkload,
            &req.id,
            &req.annotations,
            |wl, now| {
                if wl.replicas != req.replicas {
                    wl.prev_available = available(wl, rollout, now);
                    wl.replicas = req.replicas;
                    wl.changed_ms = now;
                }
            },
        )
        .await
    }

    async fn config_maps(
        &self,
        req: &ConfigMapsRequest,
    ) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>> {
        self.read(
            ProviderOp::ConfigMaps,
            &req.cluster,
            Some(req.site),
            |w, _| {
                Ok(req
                    .names
                    .iter()
                    .map(|n| {
                        (
                            n.clone(),
                            w.config_maps.get(&format!("{}/{n}", req.site)).cloned(),
                        )
                    })
                    .collect())
            },
        )
        .await
    }
}

#[async_trait]
impl HealthProbe for SimProvider {
    async fn probe(&self, req: &ProbeRequest) -> Result<HealthReport> {
        let rollout = self.settings.rollout.as_millis() as u64;
        let drain = self.settings.drain_time.as_millis() as u64;
        let error_rate = self.settings.error_rate;
        let external = self.external_workloads.contains(&req.site);
        self.read(ProviderOp::Probe, &req.name, Some(req.site), |w, now| {
            let prefix = format!("{}/", req.site);
            let (mut total, mut up) = (0u64, 0u64);
            for (_, wl) in w
                .workloads
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
            {
                total += 1;
                up += u64::from(available(wl, rollout, now) > 0);
            }
            let site = w.sites.get(&req.site);
            let status = if total == 0 || up > 0 { 200 } else { 503 };
            let in_flight = match site.and_then(|s| s.drain_started_ms) {
                Some(t) if now >= t + drain => 0,
                Some(_) => 7,
                None if up > 0 => 25,
                None => 0,
            };
            // As a service's health endpoint answers: its verdict and where it runs.
            let mut fields = BTreeMap::new();
            fields.insert(
                "status".to_string(),
                serde_json::json!(if status == 200 {
                    "healthy"
                } else {
                    "unhealthy"
                }),
            );
            if let Some(region) = self.regions.get(&req.site) {
                fields.insert("region".to_string(), serde_json::json!(region));
            }
            Ok(HealthReport {
                status,
                in_flight: (!external).then_some(in_flight),
                error_rate: Some(error_rate),
                healthy_for: site
                    .map(|s| Duration::from_millis(now.saturating_sub(s.healthy_since_ms))),
                fields,
            })
        })
        .await
    }

    async fn verify_integrity(&self, site: SiteRole, database: &str) -> Result<()> {
        self.read(ProviderOp::VerifyIntegrity, database, Some(site), |w, _| {
            let reachable =
                |site: &SiteRole| w.sites.get(site).map(|s| s.reachable).unwrap_or(true);
            let writable: Vec<_> = w
                .databases
                .iter()
                .filter(|(_, d)| {
                    d.pair == database
                        && d.role != DatabaseRole::Replica
                        && !d.fenced
                        && reachable(&d.site)
                })
                .map(|(id, _)| id.clone())
                .collect();
            match writable.len() {
                1 => Ok(()),
                0 => Err(Error::new(
                    ErrorKind::Integrity,
                    "no writable primary: the marker write failed",
                )),
                _ => Err(Error::new(
                    ErrorKind::Integrity,
                    format!("several instances accept writes: {}", writable.join(", ")),
                )),
            }
        })
        .await
    }
}
