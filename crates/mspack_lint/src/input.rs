//! Reading inputs: files, directories (recursively, `*.yaml`/`*.yml`, sorted), and `-` for stdin.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mspack_yaml::{Limits, SourceFile};

/// A path that cannot be read; the run stops (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// Expand `paths` and read every file. A directory contributes its `*.yaml`/`*.yml` files,
/// recursively, in sorted order, skipping hidden directories; `-` reads stdin once.
pub fn load_inputs(paths: &[String], limits: &Limits) -> Result<Vec<Arc<SourceFile>>, InputError> {
    let mut sources = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path == "-" {
            if !stdin_read {
                stdin_read = true;
                let mut bytes = Vec::new();
                std::io::stdin()
                    .take(limits.max_bytes as u64 + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|source| InputError::Read {
                        path: "<stdin>".into(),
                        source,
                    })?;
                sources.push(Arc::new(decode("<stdin>", bytes)));
            }
            continue;
        }
        let p = Path::new(path);
        let meta = std::fs::metadata(p).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => InputError::NotFound { path: path.clone() },
            _ => InputError::Read {
                path: path.clone(),
                source,
            },
        })?;
        if meta.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files).map_err(|source| InputError::Read {
                path: path.clone(),
                source,
            })?;
            files.sort();
            for file in files {
                sources.push(Arc::new(read_file(
                    &file,
                    &file.display().to_string(),
                    limits,
                )?));
            }
        } else {
            sources.push(Arc::new(read_file(p, path, limits)?));
        }
    }
    Ok(sources)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if !hidden {
                walk(&path, out)?;
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && (file_type.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Read one file. A file over the size limit is read only up to the limit plus one byte, so the
/// parser refuses it with a positioned finding instead of the process running out of memory.
fn read_file(path: &Path, shown: &str, limits: &Limits) -> Result<SourceFile, InputError> {
    let file = std::fs::File::open(path).map_err(|source| InputError::Read {
        path: shown.to_string(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Read {
            path: shown.to_string(),
            source,
        })?;
    Ok(decode(shown, bytes))
}

fn decode(path: &str, bytes: Vec<u8>) -> SourceFile {
    SourceFile::from_bytes(path, bytes)
}
