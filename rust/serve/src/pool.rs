//! The registry behind the server: a bounded set of read-only connections
//! used from blocking threads. Registry calls block (SQLite, the
//! synchronous PostgreSQL client), so each runs in `spawn_blocking`, at
//! most `workers` at once, each holding one connection for the call.
//!
//! A registry that goes away must give 503 and then recover, with no
//! restart. A connection that failed is dropped rather than reused, and
//! the next call opens a new one. A SQLite file is checked before every
//! call: an open connection would go on reading a deleted or replaced
//! file's old inode, so when the file is gone the call fails, and when it
//! is another file the idle connections are dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata_registry::{OpenOptions, Registry, RegistryError, RegistryLocation};
use tokio::sync::Semaphore;

use crate::error::ServeError;

/// The identity of a SQLite file: its device and inode.
type FileId = (u64, u64);

pub struct Pool {
    location: RegistryLocation,
    options: OpenOptions,
    workers: usize,
    timeout: Duration,
    permits: Arc<Semaphore>,
    idle: Mutex<Idle>,
}

#[derive(Default)]
struct Idle {
    connections: Vec<Box<dyn Registry>>,
    /// The SQLite file the idle connections read.
    file: Option<FileId>,
}

impl Pool {
    pub fn new(
        location: RegistryLocation,
        options: OpenOptions,
        workers: usize,
        timeout: Duration,
    ) -> Pool {
        let workers = workers.max(1);
        Pool {
            location,
            options,
            workers,
            timeout,
            permits: Arc::new(Semaphore::new(workers)),
            idle: Mutex::new(Idle::default()),
        }
    }

    /// Runs `f` on a connection, in a blocking thread, within the
    /// timeout (waiting for a free worker included). A call that runs
    /// over keeps its worker until it ends, so the pool stays bounded.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ServeError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Registry) -> Result<T, ServeError> + Send + 'static,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let permit = match tokio::time::timeout_at(
            deadline,
            Arc::clone(&self.permits).acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => unreachable!("the pool's semaphore is never closed"),
            Err(_) => {
                return Err(ServeError::Busy {
                    workers: self.workers,
                    secs: self.timeout.as_secs_f64(),
                })
            }
        };
        let pool = Arc::clone(self);
        let call = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let (file, registry) = pool.checkout()?;
            let result = f(&*registry);
            // A connection that failed may be broken: the next call opens
            // a new one instead.
            if !matches!(result, Err(ServeError::Unavailable { .. })) {
                pool.checkin(file, registry);
            }
            result
        });
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ServeError::Panicked(join.to_string())),
            Err(_) => Err(ServeError::Timeout {
                location: self.location.to_string(),
                secs: self.timeout.as_secs_f64(),
            }),
        }
    }

    fn checkout(&self) -> Result<(Option<FileId>, Box<dyn Registry>), ServeError> {
        let file = match &self.location {
            RegistryLocation::Sqlite(path) => match rustix::fs::stat(path) {
                Ok(st) => Some((st.st_dev, st.st_ino)),
                Err(e) => {
                    self.lock().connections.clear();
                    return Err(ServeError::Unavailable {
                        source: RegistryError::Missing {
                            db: path.display().to_string(),
                            reason: std::io::Error::from(e).to_string(),
                        },
                    });
                }
            },
            RegistryLocation::Postgres(_) => None,
        };
        {
            let mut idle = self.lock();
            if idle.file != file {
                idle.connections.clear();
                idle.file = file;
            }
            if let Some(registry) = idle.connections.pop() {
                return Ok((file, registry));
            }
        }
        let registry = strata_registry::open_read_only_with(&self.location, &self.options)?;
        Ok((file, registry))
    }

    /// Keeps a connection for the next call, unless the file changed
    /// while it was in use.
    fn checkin(&self, file: Option<FileId>, registry: Box<dyn Registry>) {
        let mut idle = self.lock();
        if idle.file == file && idle.connections.len() < self.workers {
            idle.connections.push(registry);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        // The lock guards a list: a thread that panicked holding it left
        // the list whole.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pool {
    /// A PostgreSQL connection owns a runtime of its own, which must not
    /// be dropped on an async thread (tokio panics): the last idle
    /// connections are closed on a plain thread.
    fn drop(&mut self) {
        let connections = std::mem::take(&mut self.lock().connections);
        if !connections.is_empty() {
            let _ = std::thread::spawn(move || drop(connections)).join();
        }
    }
}
