//! Shared fixtures: a small estate with fast simulated timings, and helpers to run operations.

use std::{path::Path, sync::Arc, time::Duration};

use aegis_dr_core::{
    clock::Clock,
    journal::{Operation, RunFlags},
    orchestrator::{Orchestrator, RunOutcome, RunRequest},
    store::{LeaseTerms, State},
    IncidentClass, Plan,
};
use aegis_dr_provider_sim::{SimProvider, SimWorld};
use serde_json::Value;

/// A small simulated estate with fast timings (shared with the simulator's own tests).
pub const PLAN: &str = include_str!("../../provider-sim/tests/fixtures/test-estate.toml");

pub fn plan() -> Plan {
    Plan::parse(PLAN).expect("test plan parses")
}

pub struct Estate {
    pub plan: Plan,
    pub sim: Arc<SimProvider>,
    pub clock: Clock,
    /// The folder of the simulated world (and of the runs, unless they are in a store); removed
    /// with the estate.
    _dir: tempfile::TempDir,
    /// Where runs keep their state: the temporary folder, or (with `AEGIS_TEST_STATE=s3` or
    /// `memory`) an object store, so every test here also runs against a store's journal and lease.
    pub state: State,
}

/// The state the tests keep runs in (see [`Estate::state`]): `AEGIS_TEST_STATE=s3` keeps them in
/// S3 on LocalStack (a prefix per estate), `memory` in an object store in memory.
fn test_state(dir: &Path) -> State {
    match std::env::var("AEGIS_TEST_STATE").as_deref() {
        Ok("memory") => State::Objects(
            Arc::new(aegis_dr_core::store::memory::MemoryObjects::new()),
            LeaseTerms::DEFAULT,
        ),
        Ok("s3") => s3_state(),
        Ok("") | Err(_) => State::Folder(dir.to_path_buf()),
        Ok(other) => panic!("AEGIS_TEST_STATE={other}: `s3` or `memory`"),
    }
}

/// A fresh prefix of a bucket in LocalStack's S3 (made once, by the AWS CLI).
fn s3_state() -> State {
    const BUCKET: &str = "aegisdrcoretests";
    static CREATED: std::sync::Once = std::sync::Once::new();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("AEGIS_TEST_STATE=s3 needs {k}: `scripts/aws-emulators.sh start && . .ci/emulators/env`")
        })
    };
    let vars = [
        ("AWS_ENDPOINT_URL_S3", get("AEGIS_TEST_LOCALSTACK")),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    CREATED.call_once(|| {
        let out = std::process::Command::new(get("AEGIS_TEST_AWSCLI"))
            .args([
                "--endpoint-url",
                &vars[0].1,
                "s3api",
                "create-bucket",
                "--bucket",
                BUCKET,
            ])
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("AWS_PROFILE")
            .output()
            .expect("the AWS CLI runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || err.contains("BucketAlready"),
            "create-bucket: {err}"
        );
    });
    let url = format!(
        "s3://{BUCKET}/core-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    aegis_dr_store_object::open_with(&url, LeaseTerms::DEFAULT, &|k| {
        vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .expect("the S3 state opens")
}

impl Estate {
    /// A persisted simulated estate in a temporary state folder.
    pub fn new(plan: Plan) -> Estate {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Clock::new();
        let sim = Arc::new(SimProvider::open(&plan, dir.path(), clock).expect("sim opens"));
        let state = test_state(dir.path());
        Estate {
            plan,
            sim,
            clock,
            _dir: dir,
            state,
        }
    }

    /// The entries of run `run_id`.
    pub fn entries(&self, run_id: &str) -> Vec<aegis_dr_core::journal::Entry> {
        aegis_dr_core::journal::read_run(&self.state, run_id).expect("journal")
    }

    /// The report file `name` of run `run_id`, as text.
    pub fn report_file(&self, run_id: &str, name: &str) -> String {
        let bytes = self
            .state
            .read_report(run_id, name)
            .expect("report readable")
            .unwrap_or_else(|| panic!("{name} of {run_id} written"));
        String::from_utf8(bytes).expect("utf-8 report")
    }

    pub fn orchestrator(&self) -> Orchestrator {
        Orchestrator::new(
            self.plan.clone(),
            self.sim.providers().expect("providers"),
            self.state.clone(),
        )
        .with_clock(self.clock)
    }

    pub async fn run(
        &self,
        operation: Operation,
        class: IncidentClass,
        flags: RunFlags,
    ) -> RunOutcome {
        self.orchestrator()
            .run(RunRequest {
                operation,
                class,
                flags,
                resume: None,
                abandon: None,
            })
            .await
            .expect("run starts")
    }

    pub async fn resume(&self, operation: Operation, run_id: &str, flags: RunFlags) -> RunOutcome {
        self.orchestrator()
            .run(RunRequest {
                operation,
                class: IncidentClass::RegionOutage,
                flags,
                resume: Some(run_id.into()),
                abandon: None,
            })
            .await
            .expect("resume starts")
    }

    pub fn world(&self) -> SimWorld {
        self.sim.snapshot().expect("snapshot")
    }
}

/// The world without timestamps and generated ids: what must match between two runs.
pub fn canonical(w: &SimWorld) -> Value {
    w.canonical()
}

pub fn flags() -> RunFlags {
    RunFlags::default()
}

pub const MINUTE: Duration = Duration::from_secs(60);

/// The step `id` of `report`, or a panic naming it.
pub fn step<'a>(
    report: &'a aegis_dr_core::report::Report,
    id: &str,
) -> &'a aegis_dr_core::report::StepReport {
    report
        .steps
        .iter()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id} in the report"))
}
