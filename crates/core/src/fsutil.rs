//! Small file helpers: atomic replace and durable append.

use std::{io::Write, path::Path};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsynced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io(tmp.display(), e))?;
    f.sync_data().map_err(|e| Error::io(tmp.display(), e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}
