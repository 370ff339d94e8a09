//! A lease in an object store: one holder at a time, taken and renewed by compare-and-swap (create
//! only if absent, replace only the version read), ended by expiry when its holder stops renewing.
//! The run lock and the controller's leadership are leases when the state is in a store.
//!
//! Expiry is wall time, compared across machines: their clocks must agree to well within the lease
//! (NTP does). A holder stops acting a tenth of the lease before its expiry, as it sees it.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use super::{LeaseTerms, Objects, PutMode, Version};
use crate::error::{Error, ErrorKind, Result};

/// What a lease object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Who holds it: a run id, or a controller replica's identity.
    pub holder: String,
    /// What for (`failover`, `controller`, ...).
    pub operation: String,
    /// The holder's host name.
    pub host: String,
    /// The holder's process id.
    pub pid: u32,
    /// Wall time (epoch ms) of the last renewal.
    pub renewed_ms: u64,
    /// Wall time (epoch ms) the lease ends unless renewed; 0 once released.
    pub expires_ms: u64,
}

impl LeaseRecord {
    /// True while it is held: not released and not expired at `now_ms`.
    pub fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }

    /// How a refusal names it: `run X (failover, host h, pid p) until 2026-...`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, host {}, pid {}) until {}",
            self.holder,
            self.operation,
            self.host,
            self.pid,
            crate::clock::rfc3339(self.expires_ms)
        )
    }
}

/// Wall time in epoch ms.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// This machine's name, for holders.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The lease at `key` as it stands, live or not.
pub fn read(objects: &dyn Objects, key: &str) -> Result<Option<(LeaseRecord, Version)>> {
    let Some(o) = objects.get(key)? else {
        return Ok(None);
    };
    let record = serde_json::from_slice(&o.bytes).map_err(|e| {
        Error::new(ErrorKind::Io, format!("lease object is not a lease: {e}"))
            .with_resource(format!("{}/{key}", objects.url().trim_end_matches('/')))
    })?;
    Ok(Some((record, o.version)))
}

/// The live holder of the lease at `key`, if any.
pub fn holder(objects: &dyn Objects, key: &str) -> Result<Option<LeaseRecord>> {
    Ok(read(objects, key)?
        .map(|(r, _)| r)
        .filter(|r| r.live(wall_ms())))
}

/// What the holder and its renewer share.
#[derive(Debug)]
struct Shared {
    objects: Arc<dyn Objects>,
    key: String,
    terms: LeaseTerms,
    record: Mutex<(LeaseRecord, Version)>,
    /// Wall ms until which the holder may act (a tenth of the lease before its expiry).
    valid_until: AtomicU64,
    /// Why it was lost, once lost: another holder took it.
    lost: Mutex<Option<String>>,
    /// The last renewal's failure, while renewals fail.
    last_error: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn set_valid(&self, expires_ms: u64) {
        let margin = ms(self.terms.ttl) / 10;
        self.valid_until
            .store(expires_ms.saturating_sub(margin), Ordering::SeqCst);
    }

    /// One renewal: the version read is replaced, or the lease was lost.
    fn renew(&self) -> Result<()> {
        if let Some(why) = self.lost_reason() {
            return Err(super::lost(why));
        }
        let mut held = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let now = wall_ms();
        let mut next = held.0.clone();
        next.renewed_ms = now;
        next.expires_ms = now + ms(self.terms.ttl);
        let bytes = serde_json::to_vec(&next).unwrap_or_default();
        match self
            .objects
            .put(&self.key, bytes, PutMode::Update(held.1.clone()))
        {
            Ok(v) => {
                self.set_valid(next.expires_ms);
                *held = (next, v);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                // A write answered late and retried finds its own first attempt: it is renewed.
                if let Ok(Some((cur, v))) = read(self.objects.as_ref(), &self.key) {
                    if cur == next {
                        self.set_valid(next.expires_ms);
                        *held = (next, v);
                        return Ok(());
                    }
                }
                let by = holder(self.objects.as_ref(), &self.key)
                    .ok()
                    .flatten()
                    .map(|r| format!(": it is now held by {}", r.describe()))
                    .unwrap_or_default();
                let why = format!(
                    "this process lost the lease {}/{} (another process took it after this one could not renew it in time){by}",
                    self.objects.url().trim_end_matches('/'),
                    self.key
                );
                *self.lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
                Err(super::lost(why))
            }
            Err(e) => {
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn lost_reason(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A lease held by this process; renewed by [`Lease::keep_renewed`], released when dropped.
#[derive(Debug)]
pub struct Lease {
    shared: Arc<Shared>,
}

/// A view of a held lease, to check before acting.
#[derive(Debug, Clone)]
pub struct LeaseWatch {
    shared: Arc<Shared>,
}

impl LeaseWatch {
    /// `Ok` while this process may act: it holds the lease and its last renewal is recent enough.
    /// Otherwise a refusal saying why (lost to another holder, or not renewed: the store cannot be
    /// reached).
    pub fn check(&self) -> Result<()> {
        if let Some(why) = self.shared.lost_reason() {
            return Err(super::lost(why));
        }
        if wall_ms() < self.shared.valid_until.load(Ordering::SeqCst) {
            return Ok(());
        }
        // The renewer may be late (a busy machine): one renewal now decides.
        match self.shared.renew() {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Refused => Err(e),
            Err(e) => Err(Error::new(
                ErrorKind::Unreachable,
                format!(
                    "could not renew the lease {}/{} within its {} s: {e}; no step starts without it",
                    self.shared.objects.url().trim_end_matches('/'),
                    self.shared.key,
                    self.shared.terms.ttl.as_secs_f64()
                ),
            )),
        }
    }
}

impl Lease {
    /// Takes the lease at `key` for `holder` (doing `operation`), or refuses naming the live holder.
    /// An expired or released lease is taken over; two takers race by compare-and-swap and one wins.
    pub fn acquire(
        objects: Arc<dyn Objects>,
        key: &str,
        holder: &str,
        operation: &str,
        terms: LeaseTerms,
    ) -> Result<Lease> {
        let now = wall_ms();
        let record = LeaseRecord {
            holder: holder.to_string(),
            operation: operation.to_string(),
            host: host_name(),
            pid: std::process::id(),
            renewed_ms: now,
            expires_ms: now + ms(terms.ttl),
        };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        let taken = match read(objects.as_ref(), key) {
            Ok(None) => objects.put(key, bytes, PutMode::Create),
            Ok(Some((cur, _))) if cur.live(now) => {
                return Err(busy(objects.as_ref(), key, &cur));
            }
            Ok(Some((_, v))) => objects.put(key, bytes, PutMode::Update(v)),
            // Not a lease (a corrupt object): refuse, naming it; someone must look.
            Err(e) => return Err(e),
        };
        let version = match taken {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                // Another taker won the race: name it.
                return Err(match holder_of(objects.as_ref(), key) {
                    Some(cur) => busy(objects.as_ref(), key, &cur),
                    None => Error::refused(format!(
                        "another process took the lease {}/{key} at the same moment",
                        objects.url().trim_end_matches('/')
                    )),
                });
            }
            Err(e) => return Err(e),
        };
        let shared = Arc::new(Shared {
            objects,
            key: key.to_string(),
            terms,
            record: Mutex::new((record.clone(), version)),
            valid_until: AtomicU64::new(0),
            lost: Mutex::new(None),
            last_error: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        shared.set_valid(record.expires_ms);
        Ok(Lease { shared })
    }

    /// Renews it once now.
    pub fn renew(&self) -> Result<()> {
        self.shared.renew()
    }

    /// Renews it on a thread of its own every third of the lease (wall time, so a run on a virtual
    /// clock does not move it) until released or lost.
    pub fn keep_renewed(&self) {
        let shared = self.shared.clone();
        std::thread::spawn(move || {
            let every = shared.terms.renew_every();
            let step = Duration::from_millis(50).min(every);
            let mut next = std::time::Instant::now() + every;
            while !shared.stop.load(Ordering::SeqCst) {
                if std::time::Instant::now() >= next {
                    match shared.renew() {
                        Err(e) if e.kind() == ErrorKind::Refused => return,
                        Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                        Ok(()) => {}
                    }
                    next = std::time::Instant::now() + every;
                }
                std::thread::sleep(step);
            }
        });
    }

    /// A view to check before acting.
    pub fn watch(&self) -> LeaseWatch {
        LeaseWatch {
            shared: self.shared.clone(),
        }
    }

    /// The holder as recorded.
    pub fn record(&self) -> LeaseRecord {
        self.shared
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }
}

impl Drop for Lease {
    /// Released: its expiry set to 0 by compare-and-swap, so the next taker need not wait. A lease
    /// lost meanwhile is left to its new holder.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if self.shared.lost_reason().is_some() {
            return;
        }
        let held = self
            .shared
            .record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut released = held.0;
        released.expires_ms = 0;
        let bytes = serde_json::to_vec(&released).unwrap_or_default();
        let _ = self
            .shared
            .objects
            .put(&self.shared.key, bytes, PutMode::Update(held.1));
    }
}

fn holder_of(objects: &dyn Objects, key: &str) -> Option<LeaseRecord> {
    holder(objects, key).ok().flatten()
}

fn busy(objects: &dyn Objects, key: &str, cur: &LeaseRecord) -> Error {
    Error::refused(format!(
        "the lease {}/{key} is held by {} (a holder that is gone loses it at that time)",
        objects.url().trim_end_matches('/'),
        cur.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryObjects;

    fn terms(ms: u64) -> LeaseTerms {
        LeaseTerms {
            ttl: Duration::from_millis(ms),
        }
    }

    #[test]
    fn one_holder_then_release_frees_it() {
        let o: Arc<dyn Objects> = Arc::new(MemoryObjects::new());
        let a = Lease::acquire(
            o.clone(),
            "locks/p.json",
            "run-a",
            "failover",
            terms(60_000),
        )
        .unwrap();
        let e = Lease::acquire(
            o.clone(),
            "locks/p.json",
            "run-b",
            "failover",
            terms(60_000),
        )
        .unwrap_err();
        assert!(e.to_string().contains("run-a (failover"), "{e}");
        assert_eq!(
            holder(o.as_ref(), "locks/p.json").unwrap().unwrap().holder,
            "run-a"
        );
        drop(a);
        assert!(holder(o.as_ref(), "locks/p.json").unwrap().is_none());
        Lease::acquire(o, "locks/p.json", "run-b", "failover", terms(60_000)).unwrap();
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_old_holder_learns_it_lost() {
        let o: Arc<dyn Objects> = Arc::new(MemoryObjects::new());
        let a = Lease::acquire(o.clone(), "k", "run-a", "failover", terms(1)).unwrap();
        // Expired by the time it is read again (1 ms lease).
        while holder(o.as_ref(), "k").unwrap().is_some() {
            std::thread::yield_now();
        }
        let b = Lease::acquire(o.clone(), "k", "run-b", "failover", terms(60_000)).unwrap();
        let e = a.watch().check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert!(crate::store::is_lost(&e), "{e}");
        assert!(e.to_string().contains("lost the lease"), "{e}");
        assert!(e.to_string().contains("run-b"), "{e}");
        drop(a);
        // The loser's drop does not release the winner's lease.
        assert_eq!(holder(o.as_ref(), "k").unwrap().unwrap().holder, "run-b");
        b.watch().check().unwrap();
    }

    #[test]
    fn an_unreachable_store_stops_the_holder_once_its_lease_runs_out() {
        let m = Arc::new(MemoryObjects::new());
        let o: Arc<dyn Objects> = m.clone();
        let a = Lease::acquire(o, "k", "run-a", "failover", terms(1)).unwrap();
        m.set_unreachable(true);
        let until = a.shared.valid_until.load(Ordering::SeqCst);
        while wall_ms() < until {
            std::thread::yield_now();
        }
        let e = a.watch().check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
        assert!(e.to_string().contains("no step starts"), "{e}");
        m.set_unreachable(false);
        a.watch().check().unwrap();
    }
}
