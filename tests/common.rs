//! Helpers: a plan file with fast simulated timings in a temporary folder, and a runner for the binary.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::Value;

/// A plan with fast simulated timings; `{SIM}` is replaced by extra `[sim]` lines and `{EXTRA}` by
/// extra tables.
pub const PLAN: &str = r#"
[plan]
name = "e2e"

[sites.primary]
provider = "sim"
region = "eu-west-1"
cluster = "prod"

[sites.dr]
provider = "sim"
region = "eu-central-1"
cluster = "dr"

[[databases]]
name = "orders"
primary = "orders-euw1"
dr = "orders-euc1"

[[dns_records]]
name = "api.aegis.io"
zone = "aegis.io"
primary_target = "lb-euw1.aegis.io"
dr_target = "lb-euc1.aegis.io"
ttl = 60
health_check = "hc-euw1"

[[node_pools]]
name = "prod-workers"
site = "primary"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[[node_pools]]
name = "dr-workers"
site = "dr"
production = { min = 3, max = 10, desired = 6 }
standby = { min = 1, max = 10, desired = 1 }

[[workloads]]
name = "api"
namespace = "production"
deployments = ["api", "checkout"]
production_replicas = 6
standby_replicas = 2

[[recovery_servers]]
name = "billing"
source_server_id = "s-billing"

[[health_endpoints]]
name = "primary"
site = "primary"
url = "https://primary.aegis.io/healthz"

[[health_endpoints]]
name = "dr"
site = "dr"
url = "https://dr.aegis.io/healthz"

[checks]
config_maps = ["production/api-config"]

[execution]
retry_base_delay = "5ms"
poll_interval = "20ms"
max_poll_interval = "100ms"

{EXTRA}

[sim]
latency = "1ms"
dns_propagation = "60ms"
node_boot = "120ms"
rollout = "80ms"
replication_lag = "150ms"
recovery_point_age = "20s"
drain_time = "40ms"
job_time = "100ms"
{SIM}
"#;

/// A temporary workspace with a plan file; its runs in `state/` or, for [`Env::in_store`], in an
/// object store.
pub struct Env {
    pub dir: tempfile::TempDir,
    /// The store runs are kept in, when not the folder.
    pub store: Option<Store>,
    /// The store as the test reads it, opened once.
    handle: std::sync::OnceLock<aegis_dr::store::State>,
}

/// An object store the binary keeps runs in: its URL and the variables that reach it.
#[derive(Clone)]
pub struct Store {
    pub url: String,
    pub vars: Vec<(String, String)>,
}

impl Store {
    /// The store as the library opens it (the test's own reader), with a lease of `lease`.
    pub fn open(&self, lease: std::time::Duration) -> aegis_dr::store::State {
        let vars = self.vars.clone();
        aegis_dr_store_object::open_with(
            &self.url,
            aegis_dr::store::LeaseTerms { ttl: lease },
            &move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
        )
        .expect("store opens")
    }
}

impl Env {
    /// `sim` lines (`key = value`) replace the fixture's `[sim]` keys of the same name or are added.
    pub fn new(sim: &str, extra: &str) -> Env {
        let mut text = PLAN.replace("{EXTRA}", extra);
        let mut added = Vec::new();
        for line in sim.lines().filter(|l| !l.trim().is_empty()) {
            let key = line.split('=').next().unwrap_or("").trim();
            match text
                .lines()
                .find(|l| l.split('=').next().map(str::trim) == Some(key))
                .map(String::from)
            {
                Some(old) => text = text.replacen(&old, line, 1),
                None => added.push(line),
            }
        }
        let text = text.replace("{SIM}", &added.join("\n"));
        Env::with_plan(&text)
    }

    pub fn default() -> Env {
        Env::new("", "")
    }

    pub fn with_plan(text: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("aegis.toml"), text).expect("write plan");
        Env {
            dir,
            store: None,
            handle: std::sync::OnceLock::new(),
        }
    }

    /// A workspace of its own (another machine, as far as the binary can tell) whose runs are kept
    /// in `store`.
    pub fn in_store(text: &str, store: &Store) -> Env {
        let mut env = Env::with_plan(text);
        env.store = Some(store.clone());
        env
    }

    /// Where the runs are kept, as the library reads it.
    pub fn state_handle(&self) -> aegis_dr::store::State {
        self.handle
            .get_or_init(|| match &self.store {
                Some(s) => s.open(std::time::Duration::from_secs(30)),
                None => aegis_dr::store::State::Folder(self.state()),
            })
            .clone()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
        c.arg("--config").arg(self.dir.path().join("aegis.toml"));
        match &self.store {
            None => {
                c.arg("--state-dir").arg(self.state());
            }
            Some(s) => {
                c.arg("--state").arg(&s.url).envs(s.vars.iter().cloned());
            }
        }
        c.args(args)
            .stdin(Stdio::null())
            .env_remove("AEGIS_CONFIG")
            .env_remove("AEGIS_STATE")
            .env_remove("AEGIS_STATE_DIR");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("binary runs")
    }

    /// Starts `args` in the background with stdout and stderr captured (`wait_with_output`).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    }

    /// The simulated world, canonicalised for comparison.
    pub fn world(&self) -> Value {
        let bytes = self
            .state_handle()
            .read_file("sim-world.json")
            .expect("sim world readable")
            .expect("sim world");
        let w = aegis_dr::sim::SimWorld::from_json(&bytes).expect("sim world parses");
        w.canonical()
    }

    /// The simulated world once its time-driven changes have caught up (a job finished, a recovery
    /// instance ready for failback): the simulator applies them when it is next called, so two
    /// worlds compared right after their runs may differ only by when each was last called.
    /// `check` calls every resource (its exit code is not the point here).
    pub fn settled_world(&self) -> Value {
        let _ = self.run(&["check"]);
        self.world()
    }

    /// The entries of run `id`'s journal (a torn last line left out).
    pub fn journal(&self, id: &str) -> Vec<Value> {
        if self.store.is_some() {
            return aegis_dr::journal::read_run(&self.state_handle(), id)
                .unwrap_or_default()
                .iter()
                .map(|e| serde_json::to_value(e).expect("entry as JSON"))
                .collect();
        }
        std::fs::read_to_string(self.state().join("runs").join(id).join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (30 s at most) until a run's journal holds an entry `matches` accepts; returns the run.
    pub fn wait_for_entry(&self, what: &str, matches: impl Fn(&Value) -> bool) -> String {
        let t0 = std::time::Instant::now();
        loop {
            if let Some(id) = self
                .journaled_runs()
                .into_iter()
                .find(|id| self.journal(id).iter().any(&matches))
            {
                return id;
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "no journal entry: {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Run ids whose journal exists.
    pub fn journaled_runs(&self) -> Vec<String> {
        if self.store.is_some() {
            return self.runs();
        }
        self.runs()
            .into_iter()
            .filter(|id| {
                self.state()
                    .join("runs")
                    .join(id)
                    .join("journal.jsonl")
                    .exists()
            })
            .collect()
    }

    /// Run ids in the state (in a store: those with a journal).
    pub fn runs(&self) -> Vec<String> {
        if self.store.is_some() {
            let mut v: Vec<String> = aegis_dr::runs::try_list(&self.state_handle())
                .expect("runs listed")
                .into_iter()
                .map(|r| r.run_id)
                .collect();
            v.sort();
            return v;
        }
        let mut v: Vec<String> = std::fs::read_dir(self.state().join("runs"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// The binary on the plan `dir/aegis.toml` with its state in `dir/state`, reaching the AWS test
/// estate through `env` (its endpoints and static credentials) and nothing from the caller's AWS set-up.
pub fn aws_command(dir: &Path, env: Vec<(String, String)>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aegis-dr"));
    c.arg("--config")
        .arg(dir.join("aegis.toml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdin(Stdio::null())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(env);
    c
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs a command line as aegis-dr printed it (`aegis-dr --config … failover --resume …`), pasted
/// in a folder with no plan and no aegis-dr environment.
pub fn run_printed(line: &str) -> Output {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut words = line.split_whitespace();
    assert_eq!(words.next(), Some("aegis-dr"), "{line}");
    Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
        .args(words)
        .current_dir(elsewhere.path())
        .env_remove("AEGIS_CONFIG")
        .env_remove("AEGIS_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

/// The step `id` of a report (JSON), or a panic naming it.
pub fn step<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {doc}"))
}

/// Sends SIGTERM to `child` (as an orchestrator or `kill` would).
pub fn terminate(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(
        sent.success(),
        "SIGTERM to {} was not delivered",
        child.id()
    );
}
