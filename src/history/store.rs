//! The history database: one SQLite file (rusqlite's bundled SQLite, no system library).
//!
//! A result file becomes one row of `results` (its commit, branch, testbed and time, and a
//! digest of its content, unique: the same result added twice is stored once) and one row of
//! `measurements` per run, repetition and metric. Everything one `add` stores is one
//! transaction: a failure halfway leaves the database as it was.
//!
//! The file says what it is: SQLite's `application_id` is [`APPLICATION_ID`] and its
//! `user_version` the schema version. Opening refuses another program's database, a damaged
//! file, and a schema newer than this binary knows; an older schema is migrated on the next
//! write ([`MIGRATIONS`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::analysis::key::ConfigKey;
use crate::analysis::stats::Metric;
use crate::analysis::summary::Summary;
use crate::measure::env::Environment;

/// `ipcb` in the SQLite header: this file is an ipcbench history.
pub const APPLICATION_ID: i32 = 0x6970_6362;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// `MIGRATIONS[i]` takes a database from schema version `i` to `i + 1` (0 is an empty file).
pub const MIGRATIONS: &[&str] = &["
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        -- FNV-1a 64 of the result's canonical JSON, in hex: one result is stored once.
        digest TEXT NOT NULL UNIQUE,
        commit_id TEXT NOT NULL,
        branch TEXT NOT NULL,
        testbed TEXT NOT NULL,
        -- The commit's time (RFC 3339) where git knows it, else the result's start.
        time TEXT NOT NULL,
        started_at TEXT NOT NULL,
        -- The file name it was added from.
        source TEXT NOT NULL
    );
    CREATE TABLE measurements (
        result_id INTEGER NOT NULL REFERENCES results(id),
        -- The configuration key as JSON (crate::analysis::key::ConfigKey).
        config TEXT NOT NULL,
        repetition INTEGER NOT NULL,
        -- p50 and p99 in ns, throughput in bytes/s (crate::analysis::stats::Metric).
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (result_id, config, repetition, metric)
    ) WITHOUT ROWID;
    CREATE INDEX results_by_branch ON results (branch, id);
"];

/// An open history.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Where a result came from: its commit, branch and testbed, already resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    pub commit: String,
    pub branch: String,
    pub testbed: String,
    /// RFC 3339.
    pub time: String,
    pub source: String,
}

/// What `add` did with one result.
#[derive(Clone, Debug, PartialEq)]
pub enum Added {
    /// Stored, with this many measurements.
    New { measurements: usize },
    /// The same result was stored before, under this commit: nothing changed.
    AlreadyStored { commit: String },
}

/// One commit of one series: every value of its metric there (repetitions, and every result
/// of that commit).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub commit: String,
    pub time: String,
    pub values: Vec<f64>,
}

/// A series: one metric of one configuration on one testbed, commit by commit.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub testbed: String,
    pub config: ConfigKey,
    pub metric: Metric,
    pub points: Vec<Point>,
}

/// A branch's history: its commits in the order they were first added, and its series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BranchHistory {
    pub commits: Vec<String>,
    pub series: Vec<Series>,
}

/// FNV-1a, 64 bits: a stable digest (std's hasher may change between Rust releases).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A testbed name for the machine a result was measured on: its CPU model and count, then a
/// digest of what else makes numbers comparable (the fingerprint's settings, container or
/// not), e.g. `amd-epyc-2cpu-5d1c0e7a`. The host name is left out: hosted CI runners get a
/// new one for every job.
pub fn testbed_of(env: &Environment) -> String {
    let model: String = env
        .cpu_model
        .replace("(R)", "")
        .replace("(TM)", "")
        .split_whitespace()
        .filter(|w| !w.eq_ignore_ascii_case("processor") && !w.eq_ignore_ascii_case("cpu"))
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    let model: String =
        model.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let identity = serde_json::json!({
        "cpu_model": env.cpu_model,
        "cores": env.cores,
        "in_container": env.in_container,
        "fingerprint": env.fingerprint,
    });
    let digest = fnv1a(identity.to_string().as_bytes());
    let model = if model.is_empty() { "cpu".to_string() } else { model };
    format!("{model}-{}cpu-{:08x}", env.cores, digest as u32)
}

/// A result's identity for [`Added::AlreadyStored`].
pub fn digest_of(summary: &Summary) -> Result<String> {
    Ok(format!("{:016x}", fnv1a(serde_json::to_string(summary)?.as_bytes())))
}

/// An SQLite error in words a user can act on, naming the file.
fn explain(path: &Path, e: rusqlite::Error) -> anyhow::Error {
    use rusqlite::ErrorCode::*;
    let shown = path.display();
    match e.sqlite_error_code() {
        Some(DatabaseBusy) | Some(DatabaseLocked) => {
            anyhow!("{shown} is locked by another process (another `ipcbench history add`?): try again when it is done")
        }
        Some(NotADatabase) => anyhow!("{shown} is not an SQLite database (damaged, or another kind of file)"),
        Some(DatabaseCorrupt) => anyhow!("{shown} is damaged (SQLite: {e})"),
        Some(ReadOnly) | Some(CannotOpen) | Some(PermissionDenied) => {
            anyhow!("{shown} cannot be written: {e}")
        }
        _ => anyhow!("{shown}: {e}"),
    }
}

impl Store {
    /// Opens the history at `path` to read it; it must exist and be a history.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.is_file() {
            bail!("no history at {} (start one with `ipcbench history add RESULT.json`)", path.display());
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| explain(path, e))?;
        let store = Store { conn, path: path.to_path_buf() };
        store.configure()?;
        match store.version()? {
            0 => bail!("{} is an empty SQLite database, not yet a history", path.display()),
            v if v < SCHEMA_VERSION => bail!(
                "{} has history schema version {v}; this ipcbench reads version {SCHEMA_VERSION} (`ipcbench history add` upgrades it)",
                path.display()
            ),
            _ => Ok(store),
        }
    }

    /// Opens the history at `path` to add to it, creating it (and its directory) if missing,
    /// migrating an older schema.
    pub fn open_for_writing(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).map_err(|e| explain(path, e))?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.configure()?;
        let version = store.version()?;
        if version < SCHEMA_VERSION {
            store.migrate(version)?;
        }
        Ok(store)
    }

    fn configure(&self) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(5)).map_err(|e| explain(&self.path, e))
    }

    /// The schema version, refusing what is not ours or is newer.
    fn version(&self) -> Result<i32> {
        let pragma = |name: &str| -> Result<i32> {
            self.conn.pragma_query_value(None, name, |r| r.get(0)).map_err(|e| explain(&self.path, e))
        };
        let (app, version) = (pragma("application_id")?, pragma("user_version")?);
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| explain(&self.path, e))?;
        if app != APPLICATION_ID && (app != 0 || tables > 0) {
            bail!(
                "{} is an SQLite database of another program, not an ipcbench history",
                self.path.display()
            );
        }
        if version > SCHEMA_VERSION {
            bail!(
                "{} has history schema version {version}, newer than this ipcbench knows ({SCHEMA_VERSION}): use a newer ipcbench",
                self.path.display()
            );
        }
        Ok(version)
    }

    fn migrate(&mut self, from: i32) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| explain(&path, e))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            tx.execute_batch(sql)
                .map_err(|e| explain(&path, e))
                .with_context(|| format!("migrating to history schema version {}", i + 1))?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| explain(&path, e))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(|e| explain(&path, e))?;
        tx.commit().map_err(|e| explain(&path, e))
    }

    /// Adds every result, in order, in one transaction: all of them or, on any error, none.
    pub fn add(&mut self, results: &[(Summary, Provenance)]) -> Result<Vec<Added>> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| explain(&path, e))?;
        let mut out = Vec::new();
        for (summary, p) in results {
            let digest = digest_of(summary)?;
            let before: Option<String> = tx
                .query_row("SELECT commit_id FROM results WHERE digest = ?1", [&digest], |r| r.get(0))
                .optional()
                .map_err(|e| explain(&path, e))?;
            if let Some(commit) = before {
                out.push(Added::AlreadyStored { commit });
                continue;
            }
            tx.execute(
                "INSERT INTO results (digest, commit_id, branch, testbed, time, started_at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![digest, p.commit, p.branch, p.testbed, p.time, summary.started_at, p.source],
            )
            .map_err(|e| explain(&path, e))?;
            let id = tx.last_insert_rowid();
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO measurements (result_id, config, repetition, metric, value)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| explain(&path, e))?;
            let mut n = 0;
            for r in &summary.runs {
                let config = serde_json::to_string(&ConfigKey::of(r))?;
                for m in Metric::ALL {
                    if let Some(v) = m.of(r).filter(|v| v.is_finite()) {
                        insert
                            .execute(params![id, config, r.repetition, m.to_string(), v])
                            .map_err(|e| explain(&path, e))?;
                        n += 1;
                    }
                }
            }
            out.push(Added::New { measurements: n });
        }
        tx.commit().map_err(|e| explain(&path, e))?;
        Ok(out)
    }

    /// The branch the newest result was added on; `None` for an empty history.
    pub fn newest_branch(&self) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT branch FROM results ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| explain(&self.path, e))
    }

    /// Every branch, sorted.
    pub fn branches(&self) -> Result<Vec<String>> {
        let mut q = self
            .conn
            .prepare("SELECT DISTINCT branch FROM results ORDER BY branch")
            .map_err(|e| explain(&self.path, e))?;
        let rows = q.query_map([], |r| r.get(0)).map_err(|e| explain(&self.path, e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>().map_err(|e| explain(&self.path, e))
    }

    /// One branch's commits and series. Series are ordered by testbed, configuration and
    /// metric; points by the commit's first addition.
    pub fn branch(&self, branch: &str) -> Result<BranchHistory> {
        let mut q = self
            .conn
            .prepare(
                "SELECT r.id, r.commit_id, r.time, r.testbed, m.config, m.metric, m.value
                 FROM results r JOIN measurements m ON m.result_id = r.id
                 WHERE r.branch = ?1
                 ORDER BY r.id, m.config, m.metric, m.repetition",
            )
            .map_err(|e| explain(&self.path, e))?;
        let mut commits: Vec<String> = Vec::new();
        let mut position: BTreeMap<String, usize> = BTreeMap::new();
        let mut times: BTreeMap<usize, String> = BTreeMap::new();
        type Values = BTreeMap<usize, Vec<f64>>;
        let mut series: BTreeMap<(String, ConfigKey, Metric), Values> = BTreeMap::new();
        let mut configs: BTreeMap<String, ConfigKey> = BTreeMap::new();
        let mut rows = q.query([branch]).map_err(|e| explain(&self.path, e))?;
        while let Some(row) = rows.next().map_err(|e| explain(&self.path, e))? {
            let get = |i| -> Result<String> { row.get(i).map_err(|e| explain(&self.path, e)) };
            let commit = get(1)?;
            let at = *position.entry(commit.clone()).or_insert_with(|| {
                commits.push(commit.clone());
                commits.len() - 1
            });
            times.entry(at).or_insert(get(2)?);
            let config_json = get(4)?;
            let config = match configs.get(&config_json) {
                Some(c) => c.clone(),
                None => {
                    let c: ConfigKey = serde_json::from_str(&config_json).with_context(|| {
                        format!(
                            "{}: a configuration this ipcbench cannot read: {config_json}",
                            self.path.display()
                        )
                    })?;
                    configs.insert(config_json, c.clone());
                    c
                }
            };
            let metric_name = get(5)?;
            let metric = <Metric as clap::ValueEnum>::from_str(&metric_name, false)
                .map_err(|_| anyhow!("{}: unknown metric '{metric_name}'", self.path.display()))?;
            let value: f64 = row.get(6).map_err(|e| explain(&self.path, e))?;
            series.entry((get(3)?, config, metric)).or_default().entry(at).or_default().push(value);
        }
        let series = series
            .into_iter()
            .map(|((testbed, config, metric), by_commit)| Series {
                testbed,
                config,
                metric,
                points: by_commit
                    .into_iter()
                    .map(|(at, values)| Point {
                        commit: commits[at].clone(),
                        time: times[&at].clone(),
                        values,
                    })
                    .collect(),
            })
            .collect();
        Ok(BranchHistory { commits, series })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::fixtures::{run, summary};
    use crate::pattern::Pattern;
    use crate::transport::TransportKind;

    fn provenance(commit: &str) -> Provenance {
        Provenance {
            commit: commit.into(),
            branch: "main".into(),
            testbed: "t".into(),
            time: "2026-01-01T00:00:00Z".into(),
            source: format!("{commit}.json"),
        }
    }

    #[test]
    fn an_add_that_fails_halfway_leaves_the_history_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut store = Store::open_for_writing(&path).unwrap();
        let a = summary(vec![run(TransportKind::Uds, Pattern::RoundTrip, 1000)]);
        let b = summary(vec![run(TransportKind::Tcp, Pattern::RoundTrip, 2000)]);
        store.add(&[(a.clone(), provenance("c1"))]).unwrap();
        // The second insert of the next add fails inside the transaction.
        store
            .conn
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON results WHEN NEW.commit_id = 'c3'
                 BEGIN SELECT RAISE(ABORT, 'disk full, say'); END;",
            )
            .unwrap();
        let b2 = summary(vec![run(TransportKind::Shm, Pattern::RoundTrip, 3000)]);
        assert!(store.add(&[(b, provenance("c2")), (b2, provenance("c3"))]).is_err());
        let h = store.branch("main").unwrap();
        assert_eq!(h.commits, ["c1"], "c2 was rolled back with c3");
        assert_eq!(
            store.add(&[(a, provenance("c9"))]).unwrap(),
            [Added::AlreadyStored { commit: "c1".into() }]
        );
    }

    #[test]
    fn a_testbed_name_is_the_cpu_and_a_digest_of_the_machine() {
        let mut env = summary(vec![]).environment;
        env.cpu_model = "Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz".into();
        env.cores = 4;
        let name = testbed_of(&env);
        assert!(name.starts_with("intel-xeon-platinum-4cpu-"), "{name}");
        let mut other = env.clone();
        other.fingerprint.smt_active = Some(!other.fingerprint.smt_active.unwrap_or(false));
        assert_ne!(testbed_of(&other), name, "another machine, another series");
        let mut renamed = env.clone();
        renamed.hostname = "fv-az123-456".into();
        assert_eq!(testbed_of(&renamed), name, "a CI runner's host name changes every job");
    }
}
