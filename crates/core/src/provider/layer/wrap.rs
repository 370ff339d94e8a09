//! [`Layered`]: a provider capability with a [`Layer`] around each of its calls.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;

use super::{Call, Layer, ProviderOp};
use crate::{
    error::Result,
    plan::SiteRole,
    provider::{
        AnnotateWorkload, ChangeId, ChangeStatus, ConfigMapsRequest, DatabaseFailover, DatabaseRef,
        DatabaseStatus, DnsRouter, FenceRequest, HealthCheckRequest, HealthCheckState, HealthProbe,
        HealthReport, JobId, JobState, ListWorkloads, NodeScaler, PoolRef, PoolState, ProbeRequest,
        PromoteRequest, RecordRef, RecordState, RecoveryInstance, RecoveryPoint, RecoveryService,
        ReverseReplicationRequest, ScalePool, ScaleWorkload, SnapshotRequest, SnapshotState,
        StartRecovery, SyncReport, UpsertRecord, WorkloadScaler, WorkloadState,
    },
};

/// The capability `inner` of provider `provider`, with `layer` around each call.
pub struct Layered<L, P: ?Sized> {
    layer: Arc<L>,
    provider: Arc<str>,
    inner: Arc<P>,
}

impl<L, P: ?Sized> Layered<L, P> {
    /// Wraps `inner`.
    pub fn new(layer: Arc<L>, provider: Arc<str>, inner: Arc<P>) -> Self {
        Layered {
            layer,
            provider,
            inner,
        }
    }

    fn call<'a>(&'a self, operation: ProviderOp, resource: &'a str, mutates: bool) -> Call<'a> {
        Call {
            provider: &self.provider,
            operation,
            resource,
            mutates,
        }
    }
}

impl<L: std::fmt::Debug, P: ?Sized + std::fmt::Debug> std::fmt::Debug for Layered<L, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("provider", &self.provider)
            .field("layer", &self.layer)
            .field("inner", &self.inner)
            .finish()
    }
}

/// One call of the inner capability through the layer.
macro_rules! through {
    ($self:ident, $op:ident, $resource:expr, $mutates:expr, |$inner:ident| $call:expr) => {{
        let $inner = &$self.inner;
        $self
            .layer
            .around($self.call(ProviderOp::$op, $resource, $mutates), &|| $call)
            .await
    }};
}

#[async_trait]
impl<L: Layer> DatabaseFailover for Layered<L, dyn DatabaseFailover> {
    async fn status(&self, db: &DatabaseRef) -> Result<DatabaseStatus> {
        through!(self, DatabaseStatus, &db.instance, false, |i| i.status(db))
    }
    async fn fence(&self, req: &FenceRequest) -> Result<()> {
        through!(self, FenceDatabase, &req.target.instance, true, |i| i
            .fence(req))
    }
    async fn promote(&self, req: &PromoteRequest) -> Result<()> {
        through!(self, PromoteDatabase, &req.target.instance, true, |i| i
            .promote(req))
    }
    async fn reverse_replication(&self, req: &ReverseReplicationRequest) -> Result<SyncReport> {
        through!(
            self,
            ReverseReplicationDatabase,
            &req.target.instance,
            !req.dry_run,
            |i| i.reverse_replication(req)
        )
    }
    async fn create_snapshot(&self, req: &SnapshotRequest) -> Result<()> {
        through!(self, CreateSnapshot, &req.db.instance, true, |i| i
            .create_snapshot(req))
    }
    async fn snapshot_state(&self, req: &SnapshotRequest) -> Result<SnapshotState> {
        through!(self, SnapshotState, &req.db.instance, false, |i| i
            .snapshot_state(req))
    }
}

#[async_trait]
impl<L: Layer> DnsRouter for Layered<L, dyn DnsRouter> {
    async fn get_record(&self, record: &RecordRef) -> Result<RecordState> {
        through!(self, GetRecord, &record.name, false, |i| i
            .get_record(record))
    }
    async fn upsert_record(&self, req: &UpsertRecord) -> Result<ChangeId> {
        through!(self, UpsertRecord, &req.record.name, true, |i| i
            .upsert_record(req))
    }
    async fn change_status(&self, change: &ChangeId) -> Result<ChangeStatus> {
        through!(self, GetChange, &change.0, false, |i| i
            .change_status(change))
    }
    async fn get_health_check(&self, id: &str) -> Result<HealthCheckState> {
        through!(self, GetHealthCheck, id, false, |i| i.get_health_check(id))
    }
    async fn set_health_check(&self, req: &HealthCheckRequest) -> Result<()> {
        through!(self, SetHealthCheck, &req.id, true, |i| i
            .set_health_check(req))
    }
}

#[async_trait]
impl<L: Layer> NodeScaler for Layered<L, dyn NodeScaler> {
    async fn get_pool(&self, pool: &PoolRef) -> Result<PoolState> {
        through!(self, GetPool, &pool.name, false, |i| i.get_pool(pool))
    }
    async fn scale_pool(&self, req: &ScalePool) -> Result<()> {
        through!(self, ScalePool, &req.pool.name, true, |i| i.scale_pool(req))
    }
}

#[async_trait]
impl<L: Layer> WorkloadScaler for Layered<L, dyn WorkloadScaler> {
    async fn list(&self, req: &ListWorkloads) -> Result<Vec<WorkloadState>> {
        through!(self, ListWorkloads, &req.namespace, false, |i| i.list(req))
    }
    async fn annotate(&self, req: &AnnotateWorkload) -> Result<()> {
        through!(self, AnnotateWorkload, &req.id.name, true, |i| i
            .annotate(req))
    }
    async fn scale(&self, req: &ScaleWorkload) -> Result<()> {
        through!(self, ScaleWorkload, &req.id.name, true, |i| i.scale(req))
    }
    async fn nodes_ready(&self, site: SiteRole) -> Result<Option<(u32, u32)>> {
        through!(self, NodesReady, site.as_str(), false, |i| i
            .nodes_ready(site))
    }
    async fn config_maps(
        &self,
        req: &ConfigMapsRequest,
    ) -> Result<BTreeMap<String, Option<BTreeMap<String, String>>>> {
        through!(self, ConfigMaps, &req.cluster, false, |i| i
            .config_maps(req))
    }
}

#[async_trait]
impl<L: Layer> HealthProbe for Layered<L, dyn HealthProbe> {
    async fn probe(&self, req: &ProbeRequest) -> Result<HealthReport> {
        through!(self, Probe, &req.name, false, |i| i.probe(req))
    }
    async fn verify_integrity(&self, site: SiteRole, database: &str) -> Result<()> {
        through!(self, VerifyIntegrity, database, true, |i| i
            .verify_integrity(site, database))
    }
}

#[async_trait]
impl<L: Layer> RecoveryService for Layered<L, dyn RecoveryService> {
    async fn recovery_points(&self, source_server: &str) -> Result<Vec<RecoveryPoint>> {
        through!(self, DescribeRecoverySnapshots, source_server, false, |i| i
            .recovery_points(source_server))
    }
    async fn start_recovery(&self, req: &StartRecovery) -> Result<JobId> {
        let resource = req.source_servers.join(",");
        through!(self, StartRecovery, &resource, true, |i| i
            .start_recovery(req))
    }
    async fn recovery_instances(&self, source_servers: &[String]) -> Result<Vec<RecoveryInstance>> {
        through!(
            self,
            DescribeRecoveryInstances,
            "recovery-instances",
            false,
            |i| i.recovery_instances(source_servers)
        )
    }
    async fn start_failback(&self, instance_ids: &[String]) -> Result<JobId> {
        let resource = instance_ids.join(",");
        through!(self, StartFailback, &resource, true, |i| i
            .start_failback(instance_ids))
    }
    async fn stop_failback(&self, instance_id: &str) -> Result<()> {
        through!(self, StopFailback, instance_id, true, |i| i
            .stop_failback(instance_id))
    }
    async fn reverse_replication(&self, instance_id: &str) -> Result<()> {
        through!(self, ReverseReplication, instance_id, true, |i| i
            .reverse_replication(instance_id))
    }
    async fn job(&self, id: &JobId) -> Result<JobState> {
        through!(self, DescribeJobs, &id.0, false, |i| i.job(id))
    }
    async fn active_jobs(&self, participants: &[String]) -> Result<Vec<JobState>> {
        through!(self, DescribeJobs, "active-jobs", false, |i| i
            .active_jobs(participants))
    }
    async fn terminate_drill_instances(&self, source_servers: &[String]) -> Result<()> {
        through!(
            self,
            TerminateRecoveryInstances,
            "drill-instances",
            true,
            |i| i.terminate_drill_instances(source_servers)
        )
    }
    async fn terminate_recovery_instances(&self, instance_ids: &[String]) -> Result<()> {
        let resource = instance_ids.join(",");
        through!(self, TerminateRecoveryInstances, &resource, true, |i| i
            .terminate_recovery_instances(instance_ids))
    }
    async fn source_instance_states(
        &self,
        source_servers: &[String],
    ) -> Result<Vec<(String, String)>> {
        through!(self, DescribeInstances, "source-instances", false, |i| i
            .source_instance_states(source_servers))
    }
}
