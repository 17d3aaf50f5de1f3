//! A private, throwaway PostgreSQL cluster for tests: `initdb` into a
//! temporary directory, `pg_ctl start` listening on loopback (a free
//! port) and on a Unix socket in that directory, trust authentication,
//! stopped and deleted when dropped. Debian's server binaries live in
//! `/usr/lib/postgresql/<version>/bin` (not on PATH); `$STRATA_PG_BINDIR`
//! overrides. initdb refuses to run as root, so as root the cluster runs
//! as the `postgres` user (`runuser -u postgres --`), its directory owned
//! by that user.
//!
//! A machine without PostgreSQL fails the tests with a message saying
//! what to install; it never skips them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
    databases: AtomicUsize,
}

/// The directory of `initdb` and `pg_ctl`, the newest installed version.
pub fn bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STRATA_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("initdb").is_file(),
            "$STRATA_PG_BINDIR={} has no initdb",
            dir.display()
        );
        return dir;
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb \
             (install Debian's `postgresql` package, as .ci/setup does, or set \
             $STRATA_PG_BINDIR); the PostgreSQL registry tests need a real server"
        ),
    }
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("find a free port on loopback")
        .port()
}

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    pub fn start() -> Cluster {
        let bin = bindir();
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("strata-pg-")
            .tempdir()
            .expect("create a directory for the cluster");
        if as_postgres {
            check(
                "chown postgres: (the cluster directory)",
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path())
                    .output(),
            );
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            as_postgres,
            databases: AtomicUsize::new(0),
        };
        check(
            "initdb",
            cluster
                .command("initdb")
                .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
                .args(["--locale=C", "-D"])
                .arg(cluster.data())
                .output(),
        );
        // Another process may take the port between finding and binding
        // it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            // Durability costs time and proves nothing here; with
            // $STRATA_PG_DURABLE set the server syncs as in production
            // (for comparing timings with SQLite, which does).
            let durability = if std::env::var_os("STRATA_PG_DURABLE").is_some() {
                ""
            } else {
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            };
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} \
                 {durability} -c max_connections=200",
                cluster.port,
                cluster.dir.path().display()
            );
            let out = cluster
                .command("pg_ctl")
                .arg("-D")
                .arg(cluster.data())
                .arg("-l")
                .arg(cluster.dir.path().join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output()
                .expect("run pg_ctl start");
            if out.status.success() {
                return cluster;
            }
            last =
                std::fs::read_to_string(cluster.dir.path().join("server.log")).unwrap_or_default();
        }
        panic!("PostgreSQL did not start; its log:\n{last}");
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The Unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }

    /// The URL of database `name` over TCP on loopback.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL in database `db` through psql, and returns its output
    /// (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = check(
            &format!("psql {sql}"),
            Command::new(self.bin.join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                ])
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    db,
                    "-c",
                    sql,
                ])
                .output(),
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// A new, empty database; returns its URL.
    pub fn create_db(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }
}

/// The cluster's processes, stopped (SIGSTOP) until this is dropped.
pub struct Paused(Vec<String>);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").args(&self.0).output();
    }
}

impl Cluster {
    /// Stops the server (the postmaster and every process it started)
    /// with SIGSTOP, as a hung or frozen server: its kernel still accepts
    /// connections and acknowledges what is sent, nothing answers.
    pub fn pause(&self) -> Paused {
        let pidfile = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        let postmaster = pidfile.lines().next().unwrap().trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            if after.split_whitespace().nth(1) == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let paused = Paused(pids);
        check(
            "kill -STOP",
            Command::new("kill").arg("-STOP").args(&paused.0).output(),
        );
        paused
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
