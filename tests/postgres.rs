//! A PostgreSQL pair (real servers) in a plan whose DNS, pools and workloads are simulated, through
//! the binary: failover and failback while a writer inserts numbered rows and an intruder keeps
//! trying the other instance, never two writable instances, every acknowledged row kept; a forced
//! failover of a killed primary, its losses counted against the report; the RPO gate on unknown lag.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aegis_dr_test_servers::postgres::{PgOptions, PgPair, PgServer, APP};
use serde_json::Value;

use crate::common::*;

/// The fixture plan with its database pair on the PostgreSQL pair `pg`.
fn plan(pg: &PgPair) -> String {
    let pair = pg.database_entry(APP, "", None);
    let text = PLAN.replace(
        "[[databases]]\nname = \"orders\"\nprimary = \"orders-euw1\"\ndr = \"orders-euc1\"\n",
        &pair,
    );
    assert!(text.contains("pg-east"), "the fixture's pair was replaced");
    text.replace("{EXTRA}", "").replace("{SIM}", "")
}

/// An acknowledged write: its number, the server (0 primary, 1 standby) and when.
#[derive(Debug, Clone, Copy)]
struct Ack {
    n: i64,
    server: usize,
    at: Instant,
}

/// The writer, the intruder and the sampler, on their own threads until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    /// Samples in which both instances took application writes.
    both_writable: Arc<AtomicUsize>,
    /// Samples in which each instance took application writes.
    writable: Arc<[AtomicUsize; 2]>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn connect(port: u16, user: &str, extra: &str) -> Option<tokio_postgres::Client> {
    let dsn =
        format!("host=127.0.0.1 port={port} user={user} dbname=postgres connect_timeout=2 {extra}");
    let (c, conn) = bounded(tokio_postgres::connect(&dsn, tokio_postgres::NoTls))
        .await?
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(c)
}

/// `f`'s answer, or `None` after 5 s: a client of a server that died under it must not wait
/// forever (an answer never received is no acknowledgement).
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(5), f).await.ok()
}

/// True when `port` takes application writes now: a primary whose application role may log in.
async fn writable(port: u16) -> bool {
    match connect(port, "postgres", "").await {
        Some(c) => bounded(c.query_one(
            "SELECT NOT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app' AND rolcanlogin)",
            &[],
        ))
        .await
        .and_then(|r| r.ok())
        .is_some_and(|r| r.get::<_, bool>(0)),
        None => false,
    }
}

impl Traffic {
    fn start(pg: &PgPair) -> Traffic {
        let ports = [pg.primary.port, pg.standby.port];
        let t = Traffic {
            stop: Arc::new(AtomicBool::new(false)),
            acks: Arc::new(Mutex::new(Vec::new())),
            both_writable: Arc::new(AtomicUsize::new(0)),
            writable: Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]),
            threads: Vec::new(),
        };
        let mut threads = Vec::new();
        // The writer: positive numbers, following whichever instance accepts them.
        {
            let (stop, acks) = (t.stop.clone(), t.acks.clone());
            threads.push(std::thread::spawn(move || {
                runtime().block_on(async {
                    let (mut n, mut cur, mut client) = (0i64, 0usize, None);
                    while !stop.load(Ordering::Relaxed) {
                        if client.is_none() {
                            client = connect(ports[cur], APP, "").await;
                            if client.is_none() {
                                cur ^= 1;
                                tokio::time::sleep(Duration::from_millis(5)).await;
                                continue;
                            }
                        }
                        n += 1;
                        let c = client.as_ref().expect("client");
                        match bounded(c.execute("INSERT INTO writes (n) VALUES ($1)", &[&n])).await
                        {
                            Some(Ok(_)) => acks.lock().expect("acks").push(Ack {
                                n,
                                server: cur,
                                at: Instant::now(),
                            }),
                            _ => {
                                client = None;
                                cur ^= 1;
                            }
                        }
                    }
                })
            }));
        }
        // The intruder: negative numbers, on both instances in turn, read-only defaults turned off.
        {
            let (stop, acks) = (t.stop.clone(), t.acks.clone());
            threads.push(std::thread::spawn(move || {
                runtime().block_on(async {
                    let mut k = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        for (server, port) in ports.iter().enumerate() {
                            k += 1;
                            let Some(c) = connect(*port, APP, "options='-c default_transaction_read_only=off'").await else {
                                continue;
                            };
                            let sql = format!("SET default_transaction_read_only = off; BEGIN READ WRITE; INSERT INTO writes (n) VALUES (-{k}); COMMIT");
                            if matches!(bounded(c.batch_execute(&sql)).await, Some(Ok(()))) {
                                acks.lock().expect("acks").push(Ack { n: -k, server, at: Instant::now() });
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            }));
        }
        // The sampler: A, B, A (then B, A, B): both writable only when the one read twice was
        // writable before and after the other was.
        {
            let (stop, both, each) = (t.stop.clone(), t.both_writable.clone(), t.writable.clone());
            threads.push(std::thread::spawn(move || {
                runtime().block_on(async {
                    let mut first = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let second = first ^ 1;
                        let a1 = writable(ports[first]).await;
                        let b = writable(ports[second]).await;
                        let a2 = writable(ports[first]).await;
                        if a1 && a2 {
                            each[first].fetch_add(1, Ordering::Relaxed);
                        }
                        if b {
                            each[second].fetch_add(1, Ordering::Relaxed);
                        }
                        if a1 && b && a2 {
                            both.fetch_add(1, Ordering::Relaxed);
                        }
                        first = second;
                    }
                })
            }));
        }
        Traffic { threads, ..t }
    }

    fn acks(&self) -> Vec<Ack> {
        self.acks.lock().expect("acks").clone()
    }

    /// Waits until `n` more writer rows were acknowledged by `server` (an event, bounded).
    fn wait_for_writes(&self, server: usize, n: usize) {
        let count = || {
            self.acks()
                .iter()
                .filter(|a| a.n > 0 && a.server == server)
                .count()
        };
        let want = count() + n;
        let t0 = Instant::now();
        while count() < want {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "no writes reached server {server}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn stop(mut self) -> (Vec<Ack>, usize, [usize; 2]) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("traffic thread");
        }
        (
            self.acks(),
            self.both_writable.load(Ordering::Relaxed),
            [
                self.writable[0].load(Ordering::Relaxed),
                self.writable[1].load(Ordering::Relaxed),
            ],
        )
    }
}

/// The numbers in `writes` on `s`.
fn rows(pg: &PgPair, s: &PgServer) -> BTreeSet<i64> {
    pg.psql(s, "SELECT n FROM writes")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().expect("a number"))
        .collect()
}

/// The summary of the step that promoted the pair.
fn promotion(r: &Value) -> String {
    r["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["summary"].as_str())
        .find(|s| s.starts_with("orders: ") && s.contains("promoted"))
        .unwrap_or_else(|| panic!("no promotion step in {r:#}"))
        .to_string()
}

fn succeeded(env: &Env, args: &[&str]) -> Value {
    let o = env.run(args);
    let r = json(&o);
    assert_eq!(code(&o), 0, "{args:?}: {r:#}\n{}", stderr(&o));
    assert_eq!(r["status"], "succeeded", "{args:?}: {r:#}");
    r
}

fn start_pair(opts: PgOptions) -> (PgPair, Env) {
    let pg = PgPair::start(opts);
    let env = Env::with_plan(&plan(&pg));
    (pg, env)
}

#[test]
fn a_planned_failover_and_failback_keep_every_acknowledged_write_and_one_writer() {
    planned_round_trip(PgOptions::default());
}

#[test]
fn with_remote_apply_a_planned_failover_and_failback_keep_every_acknowledged_write() {
    planned_round_trip(PgOptions {
        remote_apply: true,
        ..PgOptions::default()
    });
}

/// Fails over and back with the writer, the intruder and the sampler running; checks their records.
fn planned_round_trip(opts: PgOptions) {
    let (pg, env) = start_pair(opts);
    // `check` reads the lag from the servers, in bytes and in time.
    let o = env.run(&["check"]);
    let out = stdout(&o) + &stderr(&o);
    assert!(
        out.contains("orders: lag") && out.contains("bytes"),
        "{out}"
    );
    let traffic = Traffic::start(&pg);
    traffic.wait_for_writes(0, 50);
    let r = succeeded(&env, &["failover", "--yes", "--output", "json"]);
    let promoted = promotion(&r);
    assert!(
        promoted.contains("pg-west promoted (Planned, data loss window 0ms)"),
        "proven by the LSN catch-up: {promoted}"
    );
    traffic.wait_for_writes(1, 50);
    succeeded(&env, &["failback", "--yes", "--force", "--output", "json"]);
    traffic.wait_for_writes(0, 50);
    let (acks, both, each) = traffic.stop();
    assert_eq!(both, 0, "two writable instances were seen");
    assert!(
        each[0] > 0 && each[1] > 0,
        "each instance was seen writable: {each:?}"
    );
    let kept = rows(&pg, &pg.primary);
    let lost: Vec<i64> = acks
        .iter()
        .map(|a| a.n)
        .filter(|n| !kept.contains(n))
        .collect();
    assert!(lost.is_empty(), "acknowledged rows lost: {lost:?}");
    assert!(
        acks.iter().any(|a| a.n > 0 && a.server == 1),
        "the DR instance took writes"
    );
    // The DR instance streams from the primary again.
    assert_eq!(
        pg.psql(&pg.standby, "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );
}

/// Kills the primary after the standby stopped receiving, fails over by force, and returns the
/// acknowledged rows the new primary lacks with the report.
fn forced_failover(opts: PgOptions) -> (PgPair, Env, Vec<Ack>, Value) {
    let (pg, env) = start_pair(opts);
    let traffic = Traffic::start(&pg);
    traffic.wait_for_writes(0, 50);
    pg.psql(&pg.standby, "ALTER SYSTEM SET primary_conninfo = ''");
    pg.psql(&pg.standby, "SELECT pg_reload_conf()");
    let t0 = Instant::now();
    while pg.psql(&pg.standby, "SELECT count(*) FROM pg_stat_wal_receiver") != "0" {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the receiver did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if !opts.remote_apply {
        // Asynchronous commits go on without the standby: these are the rows a crash loses.
        traffic.wait_for_writes(0, 50);
    }
    pg.kill(&pg.primary);
    // Without --accept-data-loss the RPO gate refuses: the lag is unknown.
    let o = env.run(&[
        "failover",
        "--yes",
        "--primary-unreachable",
        "--ignore-checks",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown"), "{}", stderr(&o));
    let r = succeeded(
        &env,
        &[
            "failover",
            "--yes",
            "--primary-unreachable",
            "--ignore-checks",
            "--accept-data-loss",
            "--output",
            "json",
        ],
    );
    traffic.wait_for_writes(1, 50);
    let (acks, both, _) = traffic.stop();
    assert_eq!(both, 0, "two writable instances were seen");
    let kept = rows(&pg, &pg.standby);
    let lost: Vec<Ack> = acks
        .iter()
        .filter(|a| !kept.contains(&a.n))
        .copied()
        .collect();
    (pg, env, lost, r)
}

#[test]
fn a_forced_failover_of_a_killed_primary_counts_its_losses_within_the_reported_window() {
    let (pg, env, lost, r) = forced_failover(PgOptions::default());
    assert!(
        !lost.is_empty(),
        "asynchronous commits the standby never received are lost"
    );
    let span = lost
        .last()
        .expect("lost")
        .at
        .duration_since(lost[0].at)
        .as_secs_f64();
    // The lag was unknown (no receiver); the window is the standby's bound: the age of the last
    // transaction it replayed. It is never smaller than what was really lost.
    let promoted = promotion(&r);
    let window = promoted
        .rsplit("data loss window ")
        .next()
        .and_then(|w| w.split(')').next())
        .and_then(|w| aegis_dr::duration::parse_duration(w).ok())
        .unwrap_or_else(|| panic!("a measured window in {promoted}"))
        .as_secs_f64();
    assert!(
        window >= span,
        "window {window} s < span of lost rows {span} s"
    );
    // Failback: the old primary comes back and is rewound only with consent.
    pg.start_again(&pg.primary);
    let o = env.run(&["failback", "--yes", "--force"]);
    assert_ne!(code(&o), 0, "no rewind without consent");
    assert!(stderr(&o).contains("--accept-data-loss"), "{}", stderr(&o));
    succeeded(
        &env,
        &[
            "failback",
            "--yes",
            "--force",
            "--accept-data-loss",
            "--output",
            "json",
        ],
    );
    let kept = rows(&pg, &pg.primary);
    let writes_on_dr: Vec<i64> = rows(&pg, &pg.standby).into_iter().collect();
    assert!(
        writes_on_dr.iter().all(|n| kept.contains(n)),
        "what the DR instance took came home"
    );
}

#[test]
fn with_remote_apply_even_a_forced_failover_loses_nothing() {
    let (_pg, _env, lost, r) = forced_failover(PgOptions {
        remote_apply: true,
        ..PgOptions::default()
    });
    assert!(lost.is_empty(), "acknowledged rows lost: {lost:?}");
    assert!(promotion(&r).contains("(Forced, data loss window"), "{r:#}");
}

#[test]
fn the_printed_permissions_are_all_a_failover_and_failback_need() {
    let (pg, env) = start_pair(PgOptions {
        no_admin: true,
        ..PgOptions::default()
    });
    let o = env.run(&["permissions", "--provider", "postgres"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let sql = stdout(&o);
    for want in [
        "GRANT pg_monitor",
        "pg_promote(boolean, integer)",
        "pg_signal_backend",
        "pg_checkpoint",
        "CREATEROLE",
    ] {
        assert!(sql.contains(want), "{want} in {sql}");
    }
    // Run as written by a superuser; the role reaches the standby through replication.
    pg.psql(&pg.primary, &sql);
    let t0 = Instant::now();
    while pg.psql(
        &pg.standby,
        "SELECT count(*) FROM pg_roles WHERE rolname = 'aegis_dr'",
    ) != "1"
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the role did not replicate"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    succeeded(&env, &["failover", "--yes", "--output", "json"]);
    succeeded(&env, &["failback", "--yes", "--force", "--output", "json"]);
    // A plan naming an option the provider does not know is refused before anything is built.
    let bad = Env::with_plan(&plan(&pg).replace("app_roles", "app_role"));
    let o = bad.run(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("databases.orders.options.app_role: not a PostgreSQL option"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn aegis_dr_killed_as_the_standby_is_promoted_resumes_to_one_writable_primary() {
    let (pg, env) = start_pair(PgOptions::default());
    let mut child = env.spawn(&["failover", "--yes"]);
    let id = env.wait_for_entry("the promotion started", |e| {
        e["event"] == "step_started" && e["step"] == "promote-dr-db"
    });
    // SIGKILL the moment the standby leaves recovery: pg_promote returned or is about to, and
    // the fence it carries over may not be lifted yet.
    let t0 = Instant::now();
    while pg.psql(&pg.standby, "SELECT pg_is_in_recovery()") != "f" {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the standby was not promoted"
        );
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let r = succeeded(
        &env,
        &["failover", "--yes", "--resume", &id, "--output", "json"],
    );
    assert_eq!(r["status"], "succeeded");
    // One writer: the DR instance takes the application's writes, the old primary refuses them.
    let rt = runtime();
    rt.block_on(async {
        let c = connect(pg.standby.port, APP, "")
            .await
            .expect("the application logs in to DR");
        c.execute("INSERT INTO writes (n) VALUES (1)", &[])
            .await
            .expect("a write on DR");
        assert!(
            connect(pg.primary.port, APP, "").await.is_none(),
            "the old primary stays fenced"
        );
    });
}

#[test]
fn the_postgres_example_plans_with_its_variables_set() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/postgres.toml"
    ))
    .expect("examples/postgres.toml");
    let env = Env::with_plan(&text);
    let dsn = "host=127.0.0.1 port=1 user=aegis_dr dbname=postgres sslmode=disable";
    let vars = [
        ("ORDERS_EAST_DSN", dsn),
        ("ORDERS_WEST_DSN", dsn),
        ("PGPASSWORD_AEGIS", "x"),
    ];
    let o = env
        .command(&["plan", "--operation", "failover"])
        .envs(vars)
        .output()
        .expect("binary runs");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("orders"), "{}", stdout(&o));
    // Without them, the variable the plan names is the error, before anything is built.
    let o = env.run(&["check"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`ORDERS_EAST_DSN` is not set"),
        "{}",
        stderr(&o)
    );
}

/// `aegis-dr init` on a PostgreSQL pair: which server is the primary, that the standby streams,
/// the connection strings left in their variables, and the application's roles a choice.
#[test]
fn init_reads_the_postgres_pair_and_leaves_the_app_roles_to_choose() {
    let pg = PgPair::start(PgOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = |s: &PgServer| {
        format!(
            "host=127.0.0.1 port={} user={} dbname=postgres sslmode=disable",
            s.port,
            aegis_dr_test_servers::postgres::ADMIN
        )
    };
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aegis-dr"))
            .arg("--config")
            .arg(dir.path().join("aegis.toml"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(args)
            .env("AEGIS_TEST_PG_EAST", dsn(&pg.primary))
            .env("AEGIS_TEST_PG_WEST", dsn(&pg.standby))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("runs")
    };
    let o = run(&[
        "init",
        "--primary",
        "sim:aws-us-east-1",
        "--dr",
        "sim:gcp-us-central1",
        "--postgres-dsn-envs",
        "AEGIS_TEST_PG_EAST,AEGIS_TEST_PG_WEST",
        "--output",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let doc = json(&o);
    let db = &doc["plan"]["databases"][0];
    assert_eq!(db["provider"], "postgres", "{doc:#}");
    assert_eq!(db["primary"], format!("127.0.0.1:{}", pg.primary.port));
    assert_eq!(db["dr"], format!("127.0.0.1:{}", pg.standby.port));
    assert_eq!(db["options"]["primary_dsn_env"], "AEGIS_TEST_PG_EAST");
    let choice = doc["choices"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .find(|c| c["at"] == "databases[0].options.app_roles")
        })
        .unwrap_or_else(|| panic!("app_roles is a choice: {doc:#}"));
    assert!(
        choice["options"]
            .as_array()
            .is_some_and(|o| o.iter().any(|r| r == APP)),
        "{choice:#}"
    );
    let text = std::fs::read_to_string(dir.path().join("aegis.toml")).expect("plan");
    assert!(
        !text.contains("dbname="),
        "no connection string is written:\n{text}"
    );
    assert!(text.contains("streams from"), "{text}");
    assert!(
        text.contains("accepts writes (pg_is_in_recovery() = false)"),
        "{text}"
    );

    let marked = text
        .lines()
        .find(|l| l.starts_with("options.app_roles = \"<choose>"))
        .expect("the marked choice")
        .to_string();
    std::fs::write(
        dir.path().join("aegis.toml"),
        text.replace(&marked, &format!("options.app_roles = \"{APP}\"")),
    )
    .expect("plan");
    let o = run(&["plan"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run(&["drift"]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(code(&o), 0, "{out}\n{}", stderr(&o));
    assert!(
        out.contains("no drift") && out.contains("postgres (databases)"),
        "{out}"
    );
}
