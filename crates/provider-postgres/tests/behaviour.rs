//! Behaviour beyond the conformance suite: the fence against clients, unknown lag, the catch-up
//! proof's refusal, a forced failover's rejoin and its consent, a failing rejoin command.

use std::time::Duration;

use aegis_dr_core::{provider::*, ErrorKind, SiteRole};
use aegis_dr_test_servers::postgres::{PgOptions, APP};

use crate::common::{client, plan_text_with, provider, world, World};

async fn fence(w: &World, site: SiteRole, fenced: bool) {
    w.db.fence(&FenceRequest {
        target: w.at(site),
        fenced,
    })
    .await
    .expect("fence");
}

fn promote_req(w: &World, mode: PromoteMode) -> PromoteRequest {
    PromoteRequest {
        target: w.at(SiteRole::Dr),
        old_primary: w.at(SiteRole::Primary),
        mode,
    }
}

fn reverse_req(w: &World, dry_run: bool, accept_data_loss: bool) -> ReverseReplicationRequest {
    ReverseReplicationRequest {
        source: w.at(SiteRole::Dr),
        target: w.at(SiteRole::Primary),
        dry_run,
        accept_data_loss,
    }
}

/// Waits (polling the server, bounded) until `sql` answers `want` on the standby.
async fn standby_answers(w: &World, sql: &str, want: &str) {
    for _ in 0..600 {
        if w.pg.psql(&w.pg.standby, sql) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{sql}` never answered `{want}` on the standby");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fence_holds_against_clients_and_lifting_restores_what_was_recorded() {
    let w = world(PgOptions::default(), "").await;
    // A second application role that was NOLOGIN before the fence must stay so after it.
    w.pg.psql(&w.pg.primary, "CREATE ROLE batch NOLOGIN");
    let (_, db) = provider(&plan_text_with(&w.pg, "app,batch", "", None));
    let w = World { db, ..w };
    let session = client(&w.pg, &w.pg.primary, APP)
        .await
        .expect("app logs in");
    session
        .batch_execute("BEGIN; INSERT INTO writes (n) VALUES (1)")
        .await
        .expect("an open transaction");
    fence(&w, SiteRole::Primary, true).await;
    // The open session is gone with its transaction; nothing it did is committed.
    assert!(
        session.execute("COMMIT", &[]).await.is_err(),
        "the session was ended"
    );
    assert_eq!(w.pg.psql(&w.pg.primary, "SELECT count(*) FROM writes"), "0");
    // No new session: LOGIN is gone, whatever the client would SET once in.
    let e = client(&w.pg, &w.pg.primary, APP).await.expect_err("fenced");
    assert!(
        e.to_string().contains("not permitted to log in")
            || format!("{e:?}").contains("not permitted to log in"),
        "{e:?}"
    );
    let s = w.db.status(&w.at(SiteRole::Primary)).await.expect("status");
    assert!(s.fenced && s.role == DatabaseRole::Primary, "{s:?}");
    // Idempotent, and the record keeps what was there before the first fence.
    fence(&w, SiteRole::Primary, true).await;
    fence(&w, SiteRole::Primary, false).await;
    assert_eq!(
        w.pg.psql(&w.pg.primary, "SELECT rolname || '=' || rolcanlogin FROM pg_roles WHERE rolname IN ('app', 'batch') ORDER BY 1"),
        "app=true\nbatch=false"
    );
    let c = client(&w.pg, &w.pg.primary, APP)
        .await
        .expect("app logs in again");
    c.execute("INSERT INTO writes (n) VALUES (2)", &[])
        .await
        .expect("a write");
    assert!(
        !w.db
            .status(&w.at(SiteRole::Primary))
            .await
            .expect("status")
            .fenced
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_whose_receiver_stopped_has_unknown_lag_and_is_not_promoted_as_planned() {
    let w = world(PgOptions::default(), ", catch_up_timeout = \"2s\"").await;
    let dr = w.at(SiteRole::Dr);
    let s = w.db.status(&dr).await.expect("status");
    assert!(
        s.replication_lag.is_some(),
        "measured while streaming: {s:?}"
    );
    w.pg.psql(&w.pg.standby, "ALTER SYSTEM SET primary_conninfo = ''");
    w.pg.psql(&w.pg.standby, "SELECT pg_reload_conf()");
    standby_answers(&w, "SELECT count(*) FROM pg_stat_wal_receiver", "0").await;
    let s = w.db.status(&dr).await.expect("status");
    assert_eq!(s.role, DatabaseRole::Replica);
    assert_eq!(
        (s.replication_lag, s.replication_lag_bytes),
        (None, None),
        "unknown, never zero: {s:?}"
    );
    fence(&w, SiteRole::Primary, true).await;
    let e =
        w.db.promote(&promote_req(&w, PromoteMode::Planned))
            .await
            .expect_err("no proof, no planned promotion");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        e.to_string().contains("replay the fenced primary's WAL"),
        "{e}"
    );
    assert_eq!(
        w.pg.psql(&w.pg.standby, "SELECT pg_is_in_recovery()"),
        "t",
        "not promoted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_forced_failover_rejoining_needs_consent_and_says_what_it_discards() {
    let w = world(PgOptions::default(), "").await;
    // Writes the standby never receives: its receiver is stopped first.
    w.pg.psql(&w.pg.standby, "ALTER SYSTEM SET primary_conninfo = ''");
    w.pg.psql(&w.pg.standby, "SELECT pg_reload_conf()");
    standby_answers(&w, "SELECT count(*) FROM pg_stat_wal_receiver", "0").await;
    w.pg.psql(
        &w.pg.primary,
        "INSERT INTO writes (n) SELECT generate_series(1, 100)",
    );
    let killed = w.pg.primary.clone();
    let pg = &w.pg;
    tokio::task::block_in_place(|| pg.kill(&killed));
    w.db.promote(&promote_req(&w, PromoteMode::Forced))
        .await
        .expect("forced promotion with the old primary down");
    let s = w.db.status(&w.at(SiteRole::Dr)).await.expect("status");
    assert!(s.role == DatabaseRole::Primary && !s.fenced, "{s:?}");
    // The old primary comes back holding 100 rows the new one lacks.
    tokio::task::block_in_place(|| pg.start_again(&killed));
    let dry =
        w.db.reverse_replication(&reverse_req(&w, true, false))
            .await
            .expect("dry run");
    let summary = dry.summary.clone().unwrap_or_default();
    assert!(
        dry.pending_changes > 0 && summary.contains("bytes of WAL") && summary.contains("forced"),
        "{dry:?}"
    );
    let e =
        w.db.reverse_replication(&reverse_req(&w, false, false))
            .await
            .expect_err("no rewind without consent");
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("--accept-data-loss"), "{e}");
    assert_eq!(
        w.pg.psql(&w.pg.primary, "SELECT count(*) FROM writes"),
        "100",
        "nothing discarded yet"
    );
    w.db.reverse_replication(&reverse_req(&w, false, true))
        .await
        .expect("rejoin with consent");
    let s = w.db.status(&w.at(SiteRole::Primary)).await.expect("status");
    assert_eq!(
        (s.role, s.replicating_from.as_deref()),
        (DatabaseRole::Replica, Some("pg-west"))
    );
    assert_eq!(
        w.pg.psql(&w.pg.primary, "SELECT count(*) FROM writes"),
        "0",
        "the rewind discarded them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_rejoin_command_is_a_clear_error_and_a_retry_resumes() {
    let w = world(PgOptions::default(), "").await;
    fence(&w, SiteRole::Primary, true).await;
    w.db.promote(&promote_req(&w, PromoteMode::Planned))
        .await
        .expect("planned promotion");
    // The host is not ready: the command fails, saying why.
    let failing = vec![
        "sh".to_string(),
        "-c".into(),
        "echo 'pg_rewind: error: disk full' >&2; exit 3".into(),
    ];
    let (_, broken) = provider(&plan_text_with(&w.pg, "app", "", Some(failing)));
    let e = broken
        .reverse_replication(&reverse_req(&w, false, false))
        .await
        .expect_err("the command fails");
    assert_eq!(e.kind(), ErrorKind::HookFailed, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("exit status 3")
            && text.contains("disk full")
            && text.contains("rejoin.primary"),
        "{text}"
    );
    // Fixed, the same request re-protects it (a planned failover needs no consent).
    let rep =
        w.db.reverse_replication(&reverse_req(&w, false, false))
            .await
            .expect("rejoin");
    assert_eq!(rep.pending_changes, 0, "{rep:?}");
    let s = w.db.status(&w.at(SiteRole::Primary)).await.expect("status");
    assert_eq!(
        (s.role, s.replicating_from.as_deref()),
        (DatabaseRole::Replica, Some("pg-west"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_check_what_libpq_checks() {
    let pg = tokio::task::spawn_blocking(|| {
        aegis_dr_test_servers::postgres::PgPair::start(PgOptions {
            tls: true,
            ..PgOptions::default()
        })
    })
    .await
    .expect("a TLS pair");
    let (ca, other) = pg.ca_file();
    // The certificate names db.example only; aegis-dr connects to 127.0.0.1.
    let status = |mode: &str, root: &std::path::Path| {
        let text = plan_text_with(&pg, "app", "", None).replacen(
            "primary_sslmode = \"disable\"",
            &format!(
                "primary_sslmode = \"{mode}\", primary_sslrootcert = \"{}\"",
                root.display()
            ),
            1,
        );
        let (_, db) = provider(&text);
        let at = DatabaseRef {
            database: "orders".into(),
            instance: "pg-east".into(),
            site: SiteRole::Primary,
        };
        async move { db.status(&at).await }
    };
    let s = status("verify-ca", &ca)
        .await
        .expect("verify-ca: the chain is the CA's");
    assert_eq!(s.role, DatabaseRole::Primary);
    status("require", &other)
        .await
        .expect("require checks nothing");
    let e = status("verify-full", &ca)
        .await
        .expect_err("the name is db.example, not 127.0.0.1");
    assert!(format!("{e}").contains("certificate"), "{e}");
    let e = status("verify-ca", &other)
        .await
        .expect_err("another CA's chain");
    assert!(format!("{e}").contains("certificate"), "{e}");
    // Plain TCP is refused by this server, so the successes above were TLS.
    let e = status("disable", &ca).await.expect_err("no TLS, no entry");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_that_does_not_finish_in_time_is_a_timeout_and_is_found_done_later() {
    let w = world(PgOptions::default(), ", promote_timeout = \"2s\"").await;
    fence(&w, SiteRole::Primary, true).await;
    // Recovery paused: the promotion cannot finish (forced: a planned one would not pass its
    // catch-up proof with replay stopped).
    let pg = &w.pg;
    pg.signal_startup(&pg.standby, "STOP");
    let e =
        w.db.promote(&promote_req(&w, PromoteMode::Forced))
            .await
            .expect_err("the promotion did not finish");
    pg.signal_startup(&pg.standby, "CONT");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("still in recovery"), "{e}");
    // It finishes on its own; what a resumed run then reads is a primary still carrying the
    // fence, which lifting makes writable (the orchestrator's path after a crash or a timeout).
    let dr = w.at(SiteRole::Dr);
    let mut s = w.db.status(&dr).await.expect("status");
    for _ in 0..600 {
        if s.role == DatabaseRole::Primary {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        s = w.db.status(&dr).await.expect("status");
    }
    assert!(s.role == DatabaseRole::Primary && s.fenced, "{s:?}");
    fence(&w, SiteRole::Dr, false).await;
    let c = client(&w.pg, &w.pg.standby, APP)
        .await
        .expect("the application logs in");
    c.execute("INSERT INTO writes (n) VALUES (1)", &[])
        .await
        .expect("a write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_age_comes_from_the_archive_or_a_query_of_the_plan() {
    let w = world(PgOptions::default(), "").await;
    // The pair archived a segment when it started: its age is known on both instances.
    for site in [SiteRole::Primary, SiteRole::Dr] {
        let s = w.db.status(&w.at(site)).await.expect("status");
        assert!(s.last_backup_age.is_some(), "{site}: {s:?}");
    }
    let (_, db) = provider(&plan_text_with(
        &w.pg,
        "app",
        ", backup_age_query = \"SELECT 5400::float8\"",
        None,
    ));
    let s = db.status(&w.at(SiteRole::Dr)).await.expect("status");
    assert_eq!(s.last_backup_age, Some(Duration::from_secs(5400)));
    // A query answering nothing usable is unknown, never zero.
    let (_, db) = provider(&plan_text_with(
        &w.pg,
        "app",
        ", backup_age_query = \"SELECT NULL::float8\"",
        None,
    ));
    let s = db.status(&w.at(SiteRole::Primary)).await.expect("status");
    assert_eq!(s.last_backup_age, None);
}
