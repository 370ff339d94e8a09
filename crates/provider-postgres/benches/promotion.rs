//! The database step against PostgreSQL's own floor, on one machine: a planned promotion through
//! aegis-dr (fence the primary, flush and read its last LSN, wait for the standby to replay it,
//! `pg_promote`, lift the fence, the application's first write) versus `pg_promote` alone after a
//! manual catch-up (then the first write). Also the write gap a writer sees: its last acknowledged
//! write on the old primary to its first on the new one.
//!
//! `cargo bench -p aegis-dr-provider-postgres --bench promotion -- [ROUNDS]` (default 5; each
//! round runs both, then rejoins the pair with pg_rewind for the next). Goal: ratio <= 1.5.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aegis_dr_core::{clock::Clock, plan::ProviderName, provider::*, Plan, SiteRole};
use aegis_dr_provider_postgres::PostgresDatabases;
use aegis_dr_test_servers::postgres::{PgOptions, PgPair, APP};

fn at(plan: &Plan, site: SiteRole) -> DatabaseRef {
    let d = &plan.databases[0];
    DatabaseRef {
        database: d.name.clone(),
        instance: d.instance(site).to_string(),
        site,
    }
}

async fn app_client(port: u16) -> Option<tokio_postgres::Client> {
    let dsn = format!("host=127.0.0.1 port={port} user={APP} dbname=postgres connect_timeout=2");
    let (c, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(c)
}

async fn superuser(port: u16) -> tokio_postgres::Client {
    let dsn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let (c, conn) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .expect("superuser");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Writes through `port` until one INSERT succeeds; answers when it did.
async fn first_write(port: u16, n: i64) -> Instant {
    loop {
        if let Some(c) = app_client(port).await {
            if c.execute("INSERT INTO writes (n) VALUES ($1)", &[&n])
                .await
                .is_ok()
            {
                return Instant::now();
            }
        }
        tokio::task::yield_now().await;
    }
}

/// A writer on `ports[from]` then `ports[to]`: the gap between its last write on one and first on
/// the other.
fn writer(
    ports: [u16; 2],
    from: usize,
    first: i64,
    stop: Arc<AtomicBool>,
    gap: Arc<Mutex<Option<Duration>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async {
            let (mut cur, mut n, mut last_old, mut client) = (from, first, None, None);
            while !stop.load(Ordering::Relaxed) {
                if client.is_none() {
                    client = app_client(ports[cur]).await;
                    if client.is_none() {
                        // As a client pool would: a short pause before the other server.
                        cur ^= 1;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    }
                }
                n += 1;
                let ok = client
                    .as_ref()
                    .expect("client")
                    .execute("INSERT INTO writes (n) VALUES ($1)", &[&n])
                    .await
                    .is_ok();
                match (ok, cur == from) {
                    (true, true) => last_old = Some(Instant::now()),
                    (true, false) => {
                        if let Some(l) = last_old {
                            *gap.lock().expect("gap") = Some(l.elapsed());
                        }
                        return;
                    }
                    (false, _) => {
                        client = None;
                        cur ^= 1;
                    }
                }
            }
        })
    })
}

/// The writer's gap in ms: it ends at its first write on the new primary (or is stopped after
/// 30 s, its gap then not measured).
fn finish(w: std::thread::JoinHandle<()>, stop: &AtomicBool, gap: &Mutex<Option<Duration>>) -> f64 {
    let t = Instant::now();
    while !w.is_finished() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    w.join().expect("writer");
    gap.lock().expect("gap").map(ms).unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5)
        .max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let pg = PgPair::start(PgOptions::default());
    let text = format!(
        "[plan]\nname = \"bench\"\n[sites.primary]\nprovider = \"sim\"\nregion = \"a\"\n[sites.dr]\nprovider = \"sim\"\nregion = \"b\"\n{}",
        pg.database_entry(APP, "", None)
    );
    let plan = Plan::parse(&text).expect("plan");
    let db = PostgresDatabases::for_plan(
        &plan.for_provider(&ProviderName("postgres".into())),
        Clock::new(),
        &|_| None,
    )
    .expect("provider");
    let ports = [pg.primary.port, pg.standby.port];
    let sites = [SiteRole::Primary, SiteRole::Dr];
    let mut phases = Vec::new();
    let (mut ours, mut floor, mut gaps, mut floor_gaps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut n = 0i64;
    for round in 0..rounds {
        // aegis-dr: from primary to standby, a writer running throughout.
        // Each round ends where it began: the floor promotes the first server back.
        let (from, to) = (0, 1);
        let stop = Arc::new(AtomicBool::new(false));
        let gap = Arc::new(Mutex::new(None));
        let w = writer(
            ports,
            from,
            (round as i64 + 1) * 1_000_000_000,
            stop.clone(),
            gap.clone(),
        );
        rt.block_on(async {
            // The writer is writing before the clock starts.
            first_write(ports[from], {
                n += 1;
                n
            })
            .await;
            let t0 = Instant::now();
            db.fence(&FenceRequest {
                target: at(&plan, sites[from]),
                fenced: true,
            })
            .await
            .expect("fence");
            let fenced = t0.elapsed();
            db.promote(&PromoteRequest {
                target: at(&plan, sites[to]),
                old_primary: at(&plan, sites[from]),
                mode: PromoteMode::Planned,
            })
            .await
            .expect("promote");
            let promoted = t0.elapsed();
            let done = first_write(ports[to], {
                n += 1;
                n
            })
            .await;
            ours.push(ms(done - t0));
            phases.push((ms(fenced), ms(promoted)));
        });
        eprintln!("round {round}: promoted in {:.0} ms", ours[ours.len() - 1]);
        gaps.push(finish(w, &stop, &gap));
        // Back: rejoin the old primary as a standby, then PostgreSQL's floor the other way.
        rt.block_on(async {
            db.reverse_replication(&ReverseReplicationRequest {
                source: at(&plan, sites[to]),
                target: at(&plan, sites[from]),
                dry_run: false,
                accept_data_loss: false,
            })
            .await
            .expect("rejoin");
        });
        eprintln!("round {round}: rejoined");
        // The floor: the operator caught up by hand (not timed), then pg_promote and a write,
        // the same writer running.
        let stop = Arc::new(AtomicBool::new(false));
        let floor_gap = Arc::new(Mutex::new(None));
        let w = writer(
            ports,
            to,
            (round as i64 + 1) * 1_000_000_000 + 500_000_000,
            stop.clone(),
            floor_gap.clone(),
        );
        let t = rt.block_on(async {
            let (old, new) = (superuser(ports[to]).await, superuser(ports[from]).await);
            old.batch_execute(&format!(
                "ALTER ROLE {APP} NOLOGIN; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{APP}'"
            ))
            .await
            .expect("fence by hand");
            let lsn: String = old
                .query_one("SELECT pg_current_wal_lsn()::text", &[])
                .await
                .expect("lsn")
                .get(0);
            loop {
                let row = new
                    .query_one(
                        "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                        &[&lsn],
                    )
                    .await
                    .expect("replay");
                if row.get::<_, bool>(0) {
                    break;
                }
            }
            let t0 = Instant::now();
            let done: bool = new
                .query_one("SELECT pg_promote(true, 60)", &[])
                .await
                .expect("pg_promote")
                .get(0);
            assert!(done, "pg_promote finished");
            new.batch_execute(&format!("ALTER ROLE {APP} LOGIN"))
                .await
                .expect("unfence by hand");
            first_write(ports[from], -(round as i64) - 1).await - t0
        });
        floor.push(ms(t));
        floor_gaps.push(finish(w, &stop, &floor_gap));
        // And rejoin, so the next round starts from a streaming pair.
        rt.block_on(async {
            db.reverse_replication(&ReverseReplicationRequest {
                source: at(&plan, sites[from]),
                target: at(&plan, sites[to]),
                dry_run: false,
                accept_data_loss: true,
            })
            .await
            .expect("rejoin after the floor");
        });
    }
    let (o, f) = (median(ours), median(floor));
    println!(
        "  of which: fenced after {:.0} ms, promoted (catch-up proven, fence lifted) after {:.0} ms",
        median(phases.iter().map(|p: &(f64, f64)| p.0).collect()),
        median(phases.iter().map(|p: &(f64, f64)| p.1).collect())
    );
    println!("planned promotion of one PostgreSQL pair, {rounds} round(s), medians:");
    println!("  aegis-dr (fence + LSN catch-up + pg_promote + lift + first write): {o:.0} ms");
    println!("  PostgreSQL's floor (pg_promote after a manual catch-up + first write): {f:.0} ms");
    println!("  ratio: {:.2}x (goal <= 1.5x)", o / f);
    println!(
        "  write gap (last acknowledged write on the old primary to the first on the new): {:.0} ms; by hand: {:.0} ms",
        median(gaps),
        median(floor_gaps)
    );
}
