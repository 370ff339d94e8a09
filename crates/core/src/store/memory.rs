//! An object store in memory, with the conditional writes of the real ones: for tests of what a
//! run keeps in a store, and of what it does when the store cannot be reached.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
};

use super::{conflict, Object, Objects, PutMode, Version};
use crate::error::{Error, ErrorKind, Result};

/// Each key's content and version.
type Map = BTreeMap<String, (Vec<u8>, u64)>;

/// Objects in memory; versions are a counter.
#[derive(Debug, Default)]
pub struct MemoryObjects {
    objects: Mutex<Map>,
    next: AtomicU64,
    down: AtomicBool,
}

impl MemoryObjects {
    /// An empty store.
    pub fn new() -> MemoryObjects {
        MemoryObjects::default()
    }

    /// Makes every call fail as unreachable (`true`) or serve again (`false`).
    pub fn set_unreachable(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn up(&self) -> Result<std::sync::MutexGuard<'_, Map>> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::new(
                ErrorKind::Unreachable,
                "memory store is unreachable (as told)",
            ));
        }
        Ok(self.objects.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn version(n: u64) -> Version {
    Version {
        e_tag: Some(format!("\"{n}\"")),
        version: None,
    }
}

impl Objects for MemoryObjects {
    fn url(&self) -> String {
        "memory://".into()
    }

    fn get(&self, key: &str) -> Result<Option<Object>> {
        Ok(self.up()?.get(key).map(|(b, n)| Object {
            bytes: b.clone(),
            version: version(*n),
        }))
    }

    fn put(&self, key: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Version> {
        let mut objects = self.up()?;
        match (&mode, objects.get(key)) {
            (PutMode::Create, Some(_)) => return Err(conflict(format!("{key} already exists"))),
            (PutMode::Update(v), Some((_, n))) if *v != version(*n) => {
                return Err(conflict(format!("{key} changed since it was read")))
            }
            (PutMode::Update(_), None) => {
                return Err(conflict(format!("{key} is gone since it was read")))
            }
            _ => {}
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        objects.insert(key.to_string(), (bytes, n));
        Ok(version(n))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .up()?
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.up()?.remove(key);
        Ok(())
    }
}
