//! Reading inputs: files, directories (recursively, `*.yaml`/`*.yml`, sorted), and `-` for stdin.
//!
//! A path named on the command line that does not exist stops the run (a usage error). Anything
//! else that cannot be read (an unreadable file or subdirectory, a file over the size limit, files
//! past the run's total byte budget) is returned as data in [`Inputs::unreadable`], so the run goes
//! on and reports it (MSP001, exit code 2).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mspack_yaml::{Limits, SourceFile};

/// A path that does not exist; the run stops (exit code 2).
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

/// A file or directory that could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    pub path: String,
    pub message: String,
}

/// What [`load_inputs`] read, and what it could not.
#[derive(Debug, Default)]
pub struct Inputs {
    pub sources: Vec<Arc<SourceFile>>,
    pub unreadable: Vec<Unreadable>,
}

/// Expand `paths` and read every file. A directory contributes its `*.yaml`/`*.yml` files,
/// recursively, in sorted order, skipping hidden directories (a directory named on the command
/// line is followed even when it is a symlink; symlinked subdirectories are not, so a link cycle
/// cannot loop); `-` reads stdin once.
pub fn load_inputs(paths: &[String], limits: &Limits) -> Result<Inputs, InputError> {
    let mut inputs = Inputs::default();
    let mut budget = limits.max_total_bytes;
    let mut stdin_read = false;
    for path in paths {
        if path == "-" {
            if !stdin_read {
                stdin_read = true;
                let mut bytes = Vec::new();
                match std::io::stdin()
                    .take(limits.max_bytes as u64 + 1)
                    .read_to_end(&mut bytes)
                {
                    Ok(_) if bytes.len() > limits.max_bytes => inputs.unreadable.push(Unreadable {
                        path: "<stdin>".into(),
                        message: format!(
                            "stdin is larger than the limit of {} bytes",
                            limits.max_bytes
                        ),
                    }),
                    Ok(_) => {
                        budget = budget.saturating_sub(bytes.len() as u64);
                        inputs
                            .sources
                            .push(Arc::new(SourceFile::from_bytes("<stdin>", bytes)));
                    }
                    Err(e) => inputs.unreadable.push(Unreadable {
                        path: "<stdin>".into(),
                        message: e.to_string(),
                    }),
                }
            }
            continue;
        }
        let p = Path::new(path);
        let meta = match std::fs::metadata(p) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(InputError::NotFound { path: path.clone() });
            }
            Err(e) => {
                inputs.unreadable.push(Unreadable {
                    path: path.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let mut files = Vec::new();
        if meta.is_dir() {
            walk(p, &mut files, &mut inputs.unreadable);
            files.sort();
        } else {
            files.push(p.to_path_buf());
        }
        for file in files {
            let shown = if meta.is_dir() {
                file.display().to_string()
            } else {
                path.clone()
            };
            match read_file(&file, &shown, limits, &mut budget) {
                Ok(source) => inputs.sources.push(Arc::new(source)),
                Err(unreadable) => inputs.unreadable.push(unreadable),
            }
        }
    }
    Ok(inputs)
}

/// Collect the `*.yaml`/`*.yml` files under `dir`; a directory or entry that cannot be read is
/// recorded with its own path and the walk goes on.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, unreadable: &mut Vec<Unreadable>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            unreadable.push(Unreadable {
                path: dir.display().to_string(),
                message: e.to_string(),
            });
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                unreadable.push(Unreadable {
                    path: dir.display().to_string(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let Ok(file_type) = entry.file_type() else {
            unreadable.push(Unreadable {
                path: path.display().to_string(),
                message: "cannot tell whether this is a file or a directory".into(),
            });
            continue;
        };
        if file_type.is_dir() {
            if !hidden {
                walk(&path, out, unreadable);
            }
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) && (file_type.is_file() || path.is_file())
        {
            out.push(path);
        }
    }
}

/// Read one file. A file over the size limit is not read: it is reported with its real size.
/// A file that would take the run past its total byte budget is not read either.
fn read_file(
    path: &Path,
    shown: &str,
    limits: &Limits,
    budget: &mut u64,
) -> Result<SourceFile, Unreadable> {
    let unreadable = |message: String| Unreadable {
        path: shown.to_string(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > limits.max_bytes as u64 {
        return Err(unreadable(format!(
            "file is {size} bytes, larger than the limit of {} bytes",
            limits.max_bytes
        )));
    }
    if size > *budget {
        return Err(unreadable(format!(
            "not read: the inputs exceed the run's limit of {} bytes in total",
            limits.max_total_bytes
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // Read at most one byte past the limit: a file that grew since `metadata` is still bounded.
    file.take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() > limits.max_bytes {
        return Err(unreadable(format!(
            "file is larger than the limit of {} bytes",
            limits.max_bytes
        )));
    }
    *budget = budget.saturating_sub(bytes.len() as u64);
    Ok(SourceFile::from_bytes(shown, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn an_unreadable_directory_is_named_and_the_walk_goes_on() {
        let dir = tempdir();
        let good = dir.path().join("good");
        std::fs::create_dir_all(&good).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(good.join("a.yaml"), "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
        // A path that is no directory fails `read_dir` even for root.
        let not_a_dir = dir.path().join("plain");
        std::fs::write(&not_a_dir, "x").unwrap_or_else(|e| panic!("{e}"));
        let (mut files, mut unreadable) = (Vec::new(), Vec::new());
        walk(&not_a_dir, &mut files, &mut unreadable);
        walk(&good, &mut files, &mut unreadable);
        assert_eq!(files, vec![good.join("a.yaml")]);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].path, not_a_dir.display().to_string());
    }

    #[test]
    fn the_size_limit_reports_the_real_size() {
        let dir = tempdir();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, "a: 1\n".repeat(100)).unwrap_or_else(|e| panic!("{e}"));
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        let inputs = load_inputs(&[path.display().to_string()], &limits);
        let inputs = inputs.unwrap_or_else(|e| panic!("{e}"));
        assert!(inputs.sources.is_empty());
        assert_eq!(
            inputs.unreadable[0].message,
            "file is 500 bytes, larger than the limit of 10 bytes"
        );
    }

    #[test]
    fn files_past_the_total_budget_are_reported_not_read() {
        let dir = tempdir();
        for name in ["a.yaml", "b.yaml", "c.yaml"] {
            std::fs::write(dir.path().join(name), "a: 1\n".repeat(20))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let limits = Limits {
            max_total_bytes: 250,
            ..Limits::default()
        };
        let inputs = load_inputs(&[dir.path().display().to_string()], &limits);
        let inputs = inputs.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inputs.sources.len(), 2);
        assert_eq!(inputs.unreadable.len(), 1);
        assert!(inputs.unreadable[0].path.ends_with("c.yaml"));
        assert!(inputs.unreadable[0].message.contains("250 bytes in total"));
    }
}
