//! Real PostgreSQL pairs for tests: Debian's server binaries (`scripts/test.sh` installs them),
//! clusters made with initdb and pg_basebackup on loopback, streaming replication, WAL archiving
//! to a folder and `wal_log_hints` (for pg_rewind), run as the unprivileged `postgres` user when
//! the tests run as root (the server refuses root). Dropped, the pair stops its servers and
//! removes its folder. Missing binaries fail the test; they never skip it.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::free_port;

/// The folder of the newest installed server's binaries (`AEGIS_PG_BIN` overrides).
pub fn bin_dir() -> PathBuf {
    if let Ok(b) = std::env::var("AEGIS_PG_BIN") {
        return PathBuf::from(b);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server is not installed (/usr/lib/postgresql): scripts/test.sh installs Debian's `postgresql`")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .expect("no PostgreSQL server under /usr/lib/postgresql/*/bin: scripts/test.sh installs Debian's `postgresql`")
}

/// The pid of `s`'s postmaster, from its `postmaster.pid`.
fn postmaster_pid(s: &PgServer) -> String {
    std::fs::read_to_string(s.data.join("postmaster.pid"))
        .expect("postmaster.pid")
        .lines()
        .next()
        .expect("pid line")
        .trim()
        .to_string()
}

/// The processes whose working folder is `data` (a cluster's postmaster and its children).
fn cluster_pids(data: &Path) -> Vec<String> {
    let Ok(want) = data.canonicalize() else {
        return Vec::new();
    };
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                })
                .filter(|e| std::fs::read_link(e.path().join("cwd")).is_ok_and(|c| c == want))
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// One server of a pair.
#[derive(Debug, Clone)]
pub struct PgServer {
    /// `primary` or `standby` (its role when the pair was made).
    pub name: String,
    /// Its data folder.
    pub data: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its WAL archive folder.
    pub archive: PathBuf,
}

/// Options of a pair.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgOptions {
    /// `synchronous_commit = remote_apply` with the standby as synchronous standby.
    pub remote_apply: bool,
    /// Leave aegis-dr's role out (the test creates it, from `aegis-dr permissions`).
    pub no_admin: bool,
    /// TLS only (`hostssl`; plain TCP refused), with a certificate for `db.example` (no IP
    /// address) from the CA in [`PgPair::ca_file`].
    pub tls: bool,
}

/// A primary and its streaming standby.
pub struct PgPair {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// The server that starts as primary.
    pub primary: PgServer,
    /// The server that starts as its standby.
    pub standby: PgServer,
}

/// The role the tests' aegis-dr connects as: only the grants `aegis-dr permissions` prints.
pub const ADMIN: &str = "aegis_dr";
/// The application's login role (the fence stops it).
pub const APP: &str = "app";

impl PgPair {
    /// Makes and starts a pair (blocking: initdb, start, base backup, start).
    pub fn start(opts: PgOptions) -> PgPair {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("aegis-pg-")
            .tempdir()
            .expect("tempdir");
        let as_postgres = is_root();
        if as_postgres {
            let out = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .output()
                .expect("chown");
            assert!(out.status.success(), "chown postgres: {out:?}");
        }
        let server = |name: &str| PgServer {
            name: name.into(),
            data: dir.path().join(name),
            port: free_port(),
            archive: dir.path().join(format!("{name}-archive")),
        };
        let pair = PgPair {
            primary: server("primary"),
            standby: server("standby"),
            bin,
            as_postgres,
            dir,
        };
        for s in [&pair.primary, &pair.standby] {
            pair.run_ok("mkdir", &["-p", &s.archive.display().to_string()]);
        }
        let p = &pair.primary;
        pair.run_ok(
            &pair.tool("initdb"),
            &[
                "-D",
                &p.data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nwal_level = replica\n\
             wal_log_hints = on\nmax_wal_senders = 10\nhot_standby = on\narchive_mode = on\n\
             fsync = off\nshared_buffers = 16MB\nmax_connections = 60\nwal_receiver_status_interval = 1s\n\
             wal_retrieve_retry_interval = 200ms\nautovacuum = off\nwal_keep_size = 256MB\n",
            pair.dir.path().display()
        );
        pair.append(&p.data.join("postgresql.conf"), &conf);
        if opts.tls {
            pair.certificates();
            let d = pair.dir.path().display();
            pair.append(
                &p.data.join("postgresql.conf"),
                &format!(
                    "ssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\n"
                ),
            );
            std::fs::write(
                p.data.join("pg_hba.conf"),
                "local all all trust\nhostnossl all all 127.0.0.1/32 reject\nhostssl all all 127.0.0.1/32 trust\nhostssl replication all 127.0.0.1/32 trust\n",
            )
            .expect("pg_hba.conf");
        } else {
            pair.append(
                &p.data.join("pg_hba.conf"),
                "host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
            );
        }
        pair.start_server(p);
        pair.psql(
            p,
            &format!(
                "CREATE ROLE {APP} LOGIN; CREATE TABLE writes (n bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
                 GRANT SELECT, INSERT ON writes TO {APP};"
            ),
        );
        if !opts.no_admin {
            pair.psql(
                p,
                &format!(
                "CREATE ROLE {ADMIN} LOGIN CREATEROLE; GRANT pg_monitor TO {ADMIN}; GRANT pg_signal_backend TO {ADMIN};
                 GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO {ADMIN}; GRANT pg_checkpoint TO {ADMIN};
                 GRANT CREATE ON DATABASE postgres TO {ADMIN};"
                ),
            );
        }
        // A completed WAL segment in the archive: the backup age is known from the start.
        pair.psql(p, "SELECT pg_switch_wal()");
        for _ in 0..1200 {
            if pair.psql(p, "SELECT archived_count FROM pg_stat_archiver") != "0" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let s = &pair.standby;
        pair.run_ok(
            &pair.tool("pg_basebackup"),
            &[
                "-D",
                &s.data.display().to_string(),
                "-h",
                "127.0.0.1",
                "-p",
                &p.port.to_string(),
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        pair.start_server(s);
        if opts.remote_apply {
            // Only once the standby streams: before, every commit would wait for it.
            pair.psql(
                &pair.primary,
                "ALTER SYSTEM SET synchronous_standby_names = '*'",
            );
            pair.psql(
                &pair.primary,
                "ALTER SYSTEM SET synchronous_commit = remote_apply",
            );
            pair.psql(&pair.primary, "SELECT pg_reload_conf()");
        }
        pair
    }

    fn tool(&self, name: &str) -> String {
        self.bin.join(name).display().to_string()
    }

    /// Runs `program args` as the server's OS user; panics with its output when it fails.
    fn run_ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program, args).output().expect("spawn");
        assert!(
            out.status.success(),
            "`{program} {}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", program]).args(args);
            c
        } else {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    }

    fn append(&self, file: &Path, text: &str) {
        let mut all = std::fs::read_to_string(file).expect("read config");
        all.push_str(text);
        std::fs::write(file, all).expect("write config");
    }

    /// The options a server starts with (its port and archive; written beside its data folder,
    /// since pg_rewind copies the source's configuration files over the target's).
    fn opts_file(&self, s: &PgServer) -> PathBuf {
        self.dir.path().join(format!("{}.opts", s.name))
    }

    fn start_server(&self, s: &PgServer) {
        std::fs::write(
            self.opts_file(s),
            format!(
                "-p {} -c \"archive_command=test ! -f {a}/%f && cp %p {a}/%f\"",
                s.port,
                a = s.archive.display()
            ),
        )
        .expect("opts");
        self.start_again(s);
    }

    /// Starts a stopped (or killed) server again, waiting until it accepts connections.
    pub fn start_again(&self, s: &PgServer) {
        let opts = std::fs::read_to_string(self.opts_file(s)).expect("opts");
        let data = s.data.display().to_string();
        let log = self.log(s).display().to_string();
        let out = self
            .command(
                &self.tool("pg_ctl"),
                &[
                    "-D", &data, "-l", &log, "-w", "-t", "120", "-o", &opts, "start",
                ],
            )
            .output()
            .expect("pg_ctl");
        if !out.status.success() {
            let text = std::fs::read_to_string(self.log(s)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            panic!(
                "{} did not start: {}{}\nits log ends:\n{}",
                s.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// The server's log file.
    pub fn log(&self, s: &PgServer) -> PathBuf {
        self.dir.path().join(format!("{}.log", s.name))
    }

    /// A libpq connection string to `s` as `user`.
    pub fn dsn(&self, s: &PgServer, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable",
            s.port
        )
    }

    /// Runs SQL on `s` as the superuser through psql, answering its unaligned output.
    pub fn psql(&self, s: &PgServer, sql: &str) -> String {
        self.run_ok(
            &self.tool("psql"),
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &s.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                sql,
            ],
        )
        .trim()
        .to_string()
    }

    /// Kills `s`'s postmaster with SIGKILL (a crash: no shutdown checkpoint, nothing flushed to
    /// the standby after this).
    pub fn kill(&self, s: &PgServer) {
        // Every process of the cluster (their working folder is its data folder), postmaster
        // first, again until none is left: a backend forked while the postmaster died is one too.
        let postmaster = postmaster_pid(s);
        let out = Command::new("kill")
            .args(["-9", &postmaster])
            .output()
            .expect("kill");
        assert!(out.status.success(), "kill -9 {postmaster}: {out:?}");
        for _ in 0..600 {
            let pids = cluster_pids(&s.data);
            // Gone, and the postmaster reaped too: until then its pid still "runs", and a new
            // postmaster refuses to start over its lock file.
            if pids.is_empty() && !Path::new(&format!("/proc/{postmaster}")).exists() {
                return;
            }
            let _ = Command::new("kill").arg("-9").args(&pids).output();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!(
            "{}: processes {:?} outlived SIGKILL",
            s.name,
            cluster_pids(&s.data)
        );
    }

    /// Sends `signal` (`STOP`, `CONT`) to `s`'s startup process (a standby's recovery): stopped,
    /// a promotion cannot finish.
    pub fn signal_startup(&self, s: &PgServer, signal: &str) {
        let pid = postmaster_pid(s);
        let out = Command::new("pgrep")
            .args(["-P", &pid, "-f", "postgres: startup"])
            .output()
            .expect("pgrep");
        let startup = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!startup.is_empty(), "{}: no startup process", s.name);
        let out = Command::new("kill")
            .args([&format!("-{signal}"), &startup])
            .output()
            .expect("kill");
        assert!(out.status.success(), "kill -{signal} {startup}: {out:?}");
    }

    /// Stops `s` (fast shutdown), waiting until it is down.
    pub fn stop(&self, s: &PgServer) {
        let _ = self
            .command(
                &self.tool("pg_ctl"),
                &[
                    "-D",
                    &s.data.display().to_string(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
            )
            .output();
    }

    /// The argv of a rejoin command for `s`: stop it if it runs, `pg_rewind` from the source
    /// aegis-dr names in `AEGIS_REJOIN_SOURCE_HOST`/`_PORT` (writing the standby's recovery
    /// settings), start it as a standby. Run as the server's OS user.
    pub fn rejoin_command(&self, s: &PgServer) -> Vec<String> {
        let script = self.dir.path().join("rejoin.sh");
        if !script.exists() {
            let text = format!(
                "#!/bin/sh\nset -e\nBIN={bin}\nD=\"$1\"; LOG=\"$2\"; OPTS=\"$(cat \"$3\")\"\n\
                 if [ -f \"$D/postmaster.pid\" ] && \"$BIN/pg_ctl\" -D \"$D\" status >/dev/null 2>&1; then\n  \
                 \"$BIN/pg_ctl\" -D \"$D\" -m fast -w stop\nfi\n\
                 \"$BIN/pg_rewind\" -D \"$D\" --source-server=\"host=$AEGIS_REJOIN_SOURCE_HOST port=$AEGIS_REJOIN_SOURCE_PORT user=postgres dbname=postgres\" -R --no-sync\n\
                 \"$BIN/pg_ctl\" -D \"$D\" -l \"$LOG\" -w -t 120 -o \"$OPTS\" start\n",
                bin = self.bin.display()
            );
            std::fs::write(&script, text).expect("rejoin script");
            let out = Command::new("chmod")
                .arg("755")
                .arg(&script)
                .output()
                .expect("chmod");
            assert!(out.status.success());
        }
        let mut argv = Vec::new();
        if self.as_postgres {
            argv.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        argv.push(script.display().to_string());
        argv.push(s.data.display().to_string());
        argv.push(self.log(s).display().to_string());
        argv.push(self.opts_file(s).display().to_string());
        argv
    }

    /// The plan's `[[databases]]` entry `orders` (`pg-east` -> `pg-west`) on this pair: aegis-dr
    /// connects as [`ADMIN`], fences `roles`, rejoins with [`PgPair::rejoin_command`] (or
    /// `rejoin_primary` for the primary site's instance); `extra` adds options (`, key = "v"`).
    pub fn database_entry(
        &self,
        roles: &str,
        extra: &str,
        rejoin_primary: Option<Vec<String>>,
    ) -> String {
        let inst = |site: &str, s: &PgServer| {
            format!(
                "{site}_host = \"127.0.0.1\", {site}_port = \"{}\", {site}_user = \"{ADMIN}\", {site}_dbname = \"postgres\", {site}_sslmode = \"disable\"",
                s.port
            )
        };
        format!(
            "[[databases]]\nname = \"orders\"\nprovider = \"postgres\"\nprimary = \"pg-east\"\ndr = \"pg-west\"\n\
             options = {{ {}, {}, app_roles = \"{roles}\"{extra} }}\n\
             [databases.rejoin.primary]\ncommand = {:?}\ntimeout = \"2m\"\n[databases.rejoin.dr]\ncommand = {:?}\ntimeout = \"2m\"\n",
            inst("primary", &self.primary),
            inst("dr", &self.standby),
            rejoin_primary.unwrap_or_else(|| self.rejoin_command(&self.primary)),
            self.rejoin_command(&self.standby),
        )
    }

    /// The CA that signed the TLS pair's certificate (PEM), and another CA that did not.
    pub fn ca_file(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("ca.pem"),
            self.dir.path().join("other-ca.pem"),
        )
    }

    /// Makes the CAs and the server's certificate (for `db.example` only) with openssl.
    fn certificates(&self) {
        let d = self.dir.path();
        let ssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
        };
        for ca in ["ca", "other-ca"] {
            ssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=aegis test {ca}"),
            ]);
        }
        std::fs::write(d.join("san.ext"), "subjectAltName=DNS:db.example\n").expect("san");
        ssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=db.example",
        ]);
        ssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        for f in ["server.key", "server.crt"] {
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(d.join(f))
                .output();
            let _ = Command::new("chmod").arg("600").arg(d.join(f)).output();
        }
    }

    /// The pair's folder (logs, archives).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        for s in [&self.primary, &self.standby] {
            let _ = self
                .command(
                    &self.tool("pg_ctl"),
                    &[
                        "-D",
                        &s.data.display().to_string(),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                )
                .output();
        }
    }
}
