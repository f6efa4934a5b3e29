//! The file system side of `mspack update`: reading the service's tree and writing the plan,
//! each file atomically (a temporary file in the same directory, renamed over the target), the
//! new base last.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{Action, BASE_PATH, UpdatePlan, Yours};
use crate::TemplateError;

fn io(path: &Path, e: std::io::Error) -> TemplateError {
    TemplateError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// `<path>.mspack-new`: where the new render goes when it can't go into your file.
pub fn beside_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".mspack-new");
    path.with_file_name(name)
}

/// Your files at `paths` (relative to `dir`), as `mspack update` sees them.
pub fn read_tree<'a>(
    dir: &Path,
    paths: impl IntoIterator<Item = &'a Path>,
) -> Result<BTreeMap<PathBuf, Yours>, TemplateError> {
    let mut tree = BTreeMap::new();
    for path in paths {
        let full = dir.join(path);
        let yours = match std::fs::symlink_metadata(&full) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Yours::Missing,
            // A parent that is a file: nothing can be at this path.
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Yours::NotAFile,
            Err(e) => return Err(io(&full, e)),
            Ok(meta) if !meta.is_file() => Yours::NotAFile,
            Ok(_) => {
                let bytes = std::fs::read(&full).map_err(|e| io(&full, e))?;
                match String::from_utf8(bytes) {
                    Ok(text) if !text.contains('\0') => Yours::Text(text),
                    _ => Yours::NotText,
                }
            }
        };
        tree.insert(path.to_path_buf(), yours);
    }
    Ok(tree)
}

/// Write `text` to `path` through a temporary file beside it, keeping an existing file's
/// permissions.
fn write_atomic(path: &Path, text: &str) -> Result<(), TemplateError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".mspack-update-")
        .tempfile_in(&dir)
        .map_err(|e| io(&dir, e))?;
    temp.write_all(text.as_bytes())
        .map_err(|e| io(temp.path(), e))?;
    temp.as_file().sync_all().map_err(|e| io(temp.path(), e))?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(temp.path(), meta.permissions()).map_err(|e| io(path, e))?;
    }
    temp.persist(path).map_err(|e| io(path, e.error))?;
    Ok(())
}

/// Carry out `plan` in `dir`, then record its new base. Files are written one by one (each
/// atomically); the base goes last, so after an interruption `mspack update` can be run again
/// and finishes the job (files already updated are then up to date or merge to themselves).
pub fn apply(plan: &UpdatePlan, dir: &Path) -> Result<(), TemplateError> {
    for step in &plan.steps {
        let full = dir.join(&step.path);
        match &step.action {
            Action::Add(text)
            | Action::Replace(text)
            | Action::Merge(text)
            | Action::Conflict { text, .. } => write_atomic(&full, text)?,
            Action::Beside { text, .. } => write_atomic(&beside_path(&full), text)?,
            Action::Remove => match std::fs::remove_file(&full) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&full, e)),
                _ => {}
            },
            Action::UpToDate | Action::StaysDeleted | Action::Keep(_) => {}
        }
    }
    write_atomic(&dir.join(BASE_PATH), &plan.new_base)
}
