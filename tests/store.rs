//! Runs kept in an object store (S3 on LocalStack): started on one machine and inspected, controlled
//! and resumed from another (each "machine" a process with its own working folder and nothing in
//! common but the bucket), one writer at a time through the lease, and a store that goes away.

use std::{
    process::{Child, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::common::*;

/// The store tests' bucket (container), created once per emulator by a client we did not write
/// (the AWS CLI, the Azure CLI).
const BUCKET: &str = "aegisdrstoretests";

/// A fresh prefix: one store per test, and per kill point.
fn prefix(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The emulator's address from the variable the test command sets; never a silent skip.
fn emulator(var: &str, what: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: the state store tests need {what}. Run `./scripts/test.sh`, or \
             `scripts/aws-emulators.sh start && scripts/store-emulators.sh start && . .ci/emulators/env && . .ci/store-emulators/env` first"
        )
    })
}

/// A fresh store in Azure Blob Storage on Azurite.
fn azure_store(name: &str) -> Store {
    let endpoint = emulator("AEGIS_TEST_AZURITE", "Azurite");
    let vars = vec![
        ("AZURE_STORAGE_USE_EMULATOR".to_string(), "true".to_string()),
        ("AZURITE_BLOB_STORAGE_URL".to_string(), endpoint.clone()),
    ];
    static CREATED: std::sync::Once = std::sync::Once::new();
    CREATED.call_once(|| {
        let out = std::process::Command::new("az")
            .args(["storage", "container", "create", "--name", BUCKET, "--connection-string"])
            .arg(format!(
                "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/devstoreaccount1;"
            ))
            .output()
            .expect("the Azure CLI runs");
        assert!(
            out.status.success(),
            "az storage container create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    Store {
        url: format!("az://{BUCKET}/{}", prefix(name)),
        vars,
    }
}

/// Azurite's well-known development account key (published in its documentation).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A fresh store in Google Cloud Storage on fake-gcs-server (its bucket made when it starts).
fn gcs_store(name: &str) -> Store {
    let endpoint = emulator("AEGIS_TEST_FAKE_GCS", "fake-gcs-server");
    Store {
        url: format!("gs://{BUCKET}/{}", prefix(name)),
        vars: vec![("STORAGE_EMULATOR_HOST".to_string(), endpoint)],
    }
}

/// What every store must do, as a run relies on it: create only if absent, replace only the
/// version read, list by prefix in order, delete.
fn conditional_writes(store: Store) {
    use aegis_dr::{
        store::{PutMode, State},
        ErrorKind,
    };
    let State::Objects(o, _) = store.open(Duration::from_secs(30)) else {
        panic!("a store");
    };
    let v1 = o
        .put(
            "runs/r/journal/0000000000.json",
            b"one".to_vec(),
            PutMode::Create,
        )
        .expect("created");
    let again = o
        .put(
            "runs/r/journal/0000000000.json",
            b"two".to_vec(),
            PutMode::Create,
        )
        .expect_err("a second create of one key");
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");
    let got = o
        .get("runs/r/journal/0000000000.json")
        .expect("read")
        .expect("there");
    assert_eq!(got.bytes, b"one");
    let v2 = o
        .put(
            "runs/r/journal/0000000000.json",
            b"three".to_vec(),
            PutMode::Update(got.version),
        )
        .expect("replaced at the version read");
    assert_ne!(v1, v2);
    let stale = o
        .put(
            "runs/r/journal/0000000000.json",
            b"four".to_vec(),
            PutMode::Update(v1),
        )
        .expect_err("a replace of a version gone");
    assert_eq!(stale.kind(), ErrorKind::Conflict, "{stale}");
    o.put(
        "runs/r/journal/0000000001.json",
        b"x".to_vec(),
        PutMode::Overwrite,
    )
    .expect("written");
    o.put("runs/rr/report.json", b"y".to_vec(), PutMode::Overwrite)
        .expect("written");
    assert_eq!(
        o.list("runs/r/").expect("listed"),
        vec![
            "runs/r/journal/0000000000.json",
            "runs/r/journal/0000000001.json"
        ]
    );
    assert!(o.get("nothing/here").expect("read").is_none());
    o.delete("runs/r/journal/0000000001.json").expect("deleted");
    o.delete("runs/r/journal/0000000001.json")
        .expect("deleting what is gone succeeds");
    assert_eq!(o.list("runs/r/").expect("listed").len(), 1);
}

#[test]
fn every_store_honours_create_only_and_replace_if_unchanged() {
    conditional_writes(s3_store("conformance"));
    conditional_writes(azure_store("conformance"));
    conditional_writes(gcs_store("conformance"));
}

/// A fresh store in S3 on LocalStack.
pub fn s3_store(name: &str) -> Store {
    let endpoint = emulator("AEGIS_TEST_LOCALSTACK", "LocalStack");
    let vars = vec![
        ("AWS_ENDPOINT_URL_S3".to_string(), endpoint.clone()),
        ("AWS_ACCESS_KEY_ID".to_string(), "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "test".to_string()),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
    ];
    static CREATED: std::sync::Once = std::sync::Once::new();
    CREATED.call_once(|| {
        aws_cli(&vars, &["s3api", "create-bucket", "--bucket", BUCKET], true);
    });
    Store {
        url: format!("s3://{BUCKET}/{}", prefix(name)),
        vars,
    }
}

/// Runs the AWS CLI (`AEGIS_TEST_AWSCLI`) against LocalStack; its stdout.
fn aws_cli(vars: &[(String, String)], args: &[&str], may_exist: bool) -> String {
    let cli = std::env::var("AEGIS_TEST_AWSCLI").expect("AEGIS_TEST_AWSCLI (the AWS CLI) is set");
    let endpoint = &vars[0].1;
    let out = std::process::Command::new(cli)
        .args(["--endpoint-url", endpoint, "--output", "json"])
        .args(args)
        .envs(vars.iter().cloned())
        .env_remove("AWS_PROFILE")
        .output()
        .expect("aws CLI runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || (may_exist && err.contains("BucketAlready")),
        "aws {args:?}: {err}"
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The test plan with its state's lease set to `lease` and `extra` tables.
fn plan(lease: &str, extra: &str) -> String {
    let text = PLAN.replace("{SIM}", "");
    text.replace(
        "{EXTRA}",
        &format!("[state]\nlease = \"{lease}\"\n\n{extra}"),
    )
}

/// Waits (60 s at most) until run `id` reads as interrupted in the store: its holder's lease ran out.
fn wait_interrupted(env: &Env, id: &str) {
    let t0 = Instant::now();
    loop {
        let r = aegis_dr::runs::read(&env.state_handle(), id);
        if r.run().is_some_and(|r| r.status.as_str() == "interrupted") {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "run {id} never read as interrupted: {:?}",
            r.read
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` to end, 60 s at most.
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return s;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{what} never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn output_of(child: Child) -> std::process::Output {
    child.wait_with_output().expect("output")
}

/// A hook before the failover's first step that holds the run until the file `go` exists, then
/// fails (exit 3): the run keeps the plan's lock while it waits and changes nothing.
fn holding_hook(go: &std::path::Path, exit: u8) -> String {
    format!(
        r#"
[[hooks]]
name = "hold"
type = "command"
phases = ["failover"]
before = "declare"
timeout = "2m"
command = ["sh", "-c", "while [ ! -e '{}' ]; do sleep 0.02; done; exit {exit}"]
"#,
        go.display()
    )
}

/// Kill points per store: `AEGIS_STORE_CRASH_POINTS`, or 50.
fn crash_points() -> u64 {
    std::env::var("AEGIS_STORE_CRASH_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// A failover killed on machine A at `points` journal entries spread over the run, each resumed
/// on machine B once A's lease ran out, ends where an uninterrupted failover ends.
fn killed_and_resumed_elsewhere(new_store: fn(&str) -> Store, points: u64) -> (Store, String) {
    let store = new_store("reference");
    let reference = Env::in_store(&plan("1s", ""), &store);
    let out = reference.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let want = reference.settled_world();
    let id = reference.runs().pop().expect("the reference run");
    let n = reference.journal(&id).len();
    for seed in 0..points {
        // Kill points spread over the run: after its start, before its provider calls and end.
        let at = 2 + (seed.wrapping_mul(2654435761) as usize) % (n - 3);
        let store = new_store("crash");
        let a = Env::in_store(&plan("1s", ""), &store);
        let b = Env::in_store(&plan("1s", ""), &store);
        let out = a
            .command(&["failover", "--yes"])
            .env(aegis_dr::journal::CRASH_AFTER_ENTRIES, at.to_string())
            .output()
            .expect("runs");
        assert_eq!(code(&out), 137, "seed {seed}: no crash at entry {at}");
        let killed = b.runs().pop().expect("the run, seen from machine B");
        assert_eq!(b.journal(&killed).len(), at, "seed {seed}");
        // Machine B resumes once machine A's lease has run out (A is gone; nobody released it).
        wait_interrupted(&b, &killed);
        let out = b.run(&["failover", "--yes", "--resume", &killed, "--output", "json"]);
        assert_eq!(
            code(&out),
            0,
            "seed {seed} (killed at {at}): {}",
            stderr(&out)
        );
        assert_eq!(json(&out)["status"], "succeeded");
        assert_eq!(
            b.settled_world(),
            want,
            "seed {seed}: killed at entry {at} on A and resumed on B, the end state differs"
        );
        assert_eq!(b.runs(), vec![killed], "seed {seed}");
    }
    (store, id)
}

#[test]
fn s3_a_run_killed_on_one_machine_is_resumed_from_another_to_the_same_end() {
    let (store, id) = killed_and_resumed_elsewhere(s3_store, crash_points());
    // The journal is one object per entry, as another client lists it.
    let n = Env::in_store(&plan("1s", ""), &store).journal(&id).len();
    let listed: Value = serde_json::from_str(&aws_cli(
        &store.vars,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            BUCKET,
            "--prefix",
            &format!(
                "{}/runs/{id}/journal/",
                store.url.trim_start_matches(&format!("s3://{BUCKET}/"))
            ),
        ],
        false,
    ))
    .expect("listing is JSON");
    assert_eq!(
        listed["Contents"].as_array().map(Vec::len),
        Some(n),
        "{listed}"
    );
}

#[test]
fn azure_a_run_killed_on_one_machine_is_resumed_from_another_to_the_same_end() {
    killed_and_resumed_elsewhere(azure_store, crash_points());
}

#[test]
fn gcs_a_run_killed_on_one_machine_is_resumed_from_another_to_the_same_end() {
    killed_and_resumed_elsewhere(gcs_store, crash_points());
}

/// Two machines start a failover of one plan at once, `rounds` times: exactly one proceeds each
/// time, and the other is refused naming it.
fn race(store: Store, rounds: usize) {
    let go = tempfile::tempdir().expect("tempdir");
    let go = go.path().join("go");
    let a = Env::in_store(&plan("30s", &holding_hook(&go, 3)), &store);
    let b = Env::in_store(&plan("30s", &holding_hook(&go, 3)), &store);
    for round in 0..rounds {
        let _ = std::fs::remove_file(&go);
        let spawn = |env: &Env| {
            env.command(&["failover", "--yes"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let (mut pa, mut pb) = (spawn(&a), spawn(&b));
        // The first to end is the one refused: the winner waits in its hook for `go`.
        let t0 = Instant::now();
        let first_a = loop {
            if pa.try_wait().expect("try_wait").is_some() {
                break true;
            }
            if pb.try_wait().expect("try_wait").is_some() {
                break false;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "round {round}: neither was refused (both hold the plan?)"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let (loser, mut winner) = if first_a { (pa, pb) } else { (pb, pa) };
        let lost = output_of(loser);
        assert_eq!(code(&lost), 3, "round {round}: {}", stderr(&lost));
        let err = stderr(&lost);
        assert!(
            err.contains("another run holds the lock of plan `e2e`")
                && err.contains("(failover, host"),
            "round {round}: the refusal does not name the holder: {err}"
        );
        assert!(
            winner.try_wait().expect("try_wait").is_none(),
            "round {round}: the winner ended before it was let go"
        );
        std::fs::write(&go, "").expect("go");
        wait_exit(&mut winner, "the winner");
        let won = output_of(winner);
        assert_ne!(
            code(&won),
            3,
            "round {round}: the winner was refused too: {}",
            stderr(&won)
        );
        assert!(
            stderr(&won).contains("hold"),
            "round {round}: the winner did not stop in its hook: {}",
            stderr(&won)
        );
        // Exactly one run per round was started.
        assert_eq!(a.runs().len(), round + 1, "round {round}");
    }
}

/// Race rounds per store: `AEGIS_STORE_RACES`, or `default`.
fn races(default: usize) -> usize {
    std::env::var("AEGIS_STORE_RACES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn s3_two_machines_racing_to_start_one_plan_one_proceeds_and_the_other_names_the_holder() {
    race(s3_store("race"), races(100));
}

#[test]
fn azure_two_machines_racing_to_start_one_plan_one_proceeds_and_the_other_names_the_holder() {
    race(azure_store("race"), races(30));
}

#[test]
fn gcs_two_machines_racing_to_start_one_plan_one_proceeds_and_the_other_names_the_holder() {
    race(gcs_store("race"), races(30));
}

/// A holder frozen past its lease loses the run to another machine, and when continued writes
/// nothing more and says so.
fn frozen_holder(store: Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let go = dir.path().join("go");
    let a = Env::in_store(&plan("2s", &holding_hook(&go, 0)), &store);
    let b = Env::in_store(&plan("2s", &holding_hook(&go, 0)), &store);
    let mut pa = a.spawn(&["failover", "--yes"]);
    let id = a.wait_for_entry("the hook started", |e| {
        e["event"] == "step_started" && e["step"] == "hook.hold"
    });
    signal(&pa, "STOP");
    // Machine B sees the run interrupted once A's lease runs out, and takes it over.
    wait_interrupted(&b, &id);
    std::fs::write(&go, "").expect("go");
    let out = b.run(&["failover", "--yes", "--resume", &id, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "succeeded");
    let entries = b.journal(&id);
    // A, continued, finds it lost the run: it writes nothing more and says why.
    signal(&pa, "CONT");
    wait_exit(&mut pa, "the continued holder");
    let out = output_of(pa);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("lost the lease") || stderr(&out).contains("lost the run"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.journal(&id), entries, "the old holder wrote to the run");
}

#[test]
fn s3_a_frozen_holder_loses_its_lease_to_another_machine_and_writes_nothing_more() {
    frozen_holder(s3_store("frozen"));
}

#[test]
fn azure_a_frozen_holder_loses_its_lease_to_another_machine_and_writes_nothing_more() {
    frozen_holder(azure_store("frozen"));
}

#[test]
fn gcs_a_frozen_holder_loses_its_lease_to_another_machine_and_writes_nothing_more() {
    frozen_holder(gcs_store("frozen"));
}

/// Sends SIGSTOP or SIGCONT.
fn signal(child: &Child, sig: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIG{sig} not delivered");
}

#[test]
fn status_report_and_approvals_work_from_another_machine() {
    let store = s3_store("inspect");
    let approval = crate::operator::APPROVAL;
    let a = Env::in_store(&plan("30s", approval), &store);
    let b = Env::in_store(&plan("30s", approval), &store);
    let pa = a.spawn(&["failover", "--yes"]);
    let id = a.wait_for_entry("the approval is waiting", |e| {
        e["event"] == "step_started" && e["step"] == "hook.go-ahead"
    });
    // B sees it running, and its answer reaches the running process on A.
    let out = b.run(&["status", &id, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "running");
    let out = b.run(&["approve", &id]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = output_of(pa);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("report: {}/runs/{id}/report.md", store.url)),
        "{}",
        stdout(&out)
    );
    let out = b.run(&["report", &id, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["status"], "succeeded");
    assert!(doc["controls"].to_string().contains("approve"), "{doc}");
}

#[test]
fn an_unreachable_store_stops_the_run_resumably_and_loses_nothing() {
    let proxy = Proxy::start(
        std::env::var("AEGIS_TEST_LOCALSTACK")
            .expect("AEGIS_TEST_LOCALSTACK")
            .trim_start_matches("http://"),
    );
    let mut store = s3_store("unreachable");
    let direct = store.clone();
    store.vars[0].1 = format!("http://{}", proxy.addr);
    let dir = tempfile::tempdir().expect("tempdir");
    let go = dir.path().join("go");
    let a = Env::in_store(&plan("2s", &holding_hook(&go, 0)), &store);
    let pa = a.spawn(&["failover", "--yes"]);
    let id = a.wait_for_entry("the hook started", |e| {
        e["event"] == "step_started" && e["step"] == "hook.hold"
    });
    let before = a.journal(&id);
    proxy.set_down(true);
    std::fs::write(&go, "").expect("go");
    let out = output_of(pa);
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("state store"), "{err}");
    assert!(
        err.contains(&format!("--state {}", store.url)) && err.contains(&format!("--resume {id}")),
        "the way forward names the store: {err}"
    );
    // Back: nothing journaled was lost, and another machine resumes the run to its end.
    proxy.set_down(false);
    let b = Env::in_store(&plan("2s", &holding_hook(&go, 0)), &direct);
    let now = b.journal(&id);
    assert_eq!(
        &now[..before.len()],
        &before[..],
        "journaled entries changed"
    );
    wait_interrupted(&b, &id);
    let out = b.run(&["failover", "--yes", "--resume", &id, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "succeeded");
}

/// A TCP proxy to the store that can be cut: new connections are refused and open ones closed.
struct Proxy {
    addr: std::net::SocketAddr,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(to: &str) -> Proxy {
        use std::sync::{atomic::AtomicBool, Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let (d, o, to) = (down.clone(), open.clone(), to.to_string());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    let _ = conn.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(up) = std::net::TcpStream::connect(&to) else {
                    continue;
                };
                if let Ok(mut o) = o.lock() {
                    o.extend([conn.try_clone(), up.try_clone()].into_iter().flatten());
                }
                for (mut from, mut into) in [
                    (conn.try_clone(), up.try_clone()),
                    (up.try_clone(), conn.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Proxy { addr, down, open }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            if let Ok(mut o) = self.open.lock() {
                for s in o.drain(..) {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                }
            }
        }
    }
}

#[test]
fn state_migrate_copies_a_folders_runs_into_a_bucket_and_back() {
    let folder = Env::with_plan(&plan("30s", ""));
    let out = folder.run(&["drill", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = folder.run(&["failover", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ids = folder.runs();
    assert_eq!(ids.len(), 2);
    let store = s3_store("migrate");
    let out = folder
        .command(&["state", "migrate", "--to", &store.url, "--output", "json"])
        .envs(store.vars.iter().cloned())
        .output()
        .expect("runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["runs"], 2, "{doc}");
    assert!(doc["files"].to_string().contains("sim-world.json"), "{doc}");
    // Another machine sees the history and the estate where the folder left it, and carries on.
    let b = Env::in_store(&plan("30s", ""), &store);
    assert_eq!(b.runs(), ids);
    assert_eq!(b.world(), folder.world());
    for id in &ids {
        assert_eq!(b.journal(id), folder.journal(id), "{id}");
    }
    let out = b.run(&["report", &ids[1], "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "succeeded");
    let out = b.run(&["failback", "--yes"]);
    assert_eq!(
        code(&out),
        0,
        "failback undoes the migrated failover: {}",
        stderr(&out)
    );
    // Again: what is there already is left as it is.
    let again = folder
        .command(&["state", "migrate", "--to", &store.url, "--output", "json"])
        .envs(store.vars.iter().cloned())
        .output()
        .expect("runs");
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert_eq!(json(&again)["entries"], 0);
    // And back into a folder.
    let back = Env::with_plan(&plan("30s", ""));
    let out = b.run(&[
        "state",
        "migrate",
        "--to",
        back.state().to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("copied 3 run(s)"), "{}", stdout(&out));
    assert_eq!(back.runs(), b.runs());
    assert_eq!(back.world(), b.world());
    let out = back.run(&["status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
