//! Small file helpers: atomic replace and durable append.

use std::{io::Write, path::Path};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsynced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, bytes, true)
}

/// Replaces `path` with `bytes` atomically against a crash of this process (a reader finds the old
/// or the new content, never part of it) without waiting for the disk: for files whose content is
/// durable elsewhere (a report folded from the fsynced journal) or fsynced later by their writer.
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, bytes, false)
}

fn write_via_temp(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        f.write_all(bytes)
            .map_err(|e| Error::io(tmp.display(), e))?;
        if durable {
            f.sync_data().map_err(|e| Error::io(tmp.display(), e))?;
        }
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
    })();
    // A full disk (or any failure) leaves no temporary file behind.
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
