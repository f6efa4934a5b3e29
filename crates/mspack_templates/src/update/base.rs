//! `.mspack/base.toml`: what mspack generated for this service, file by file, the base of
//! `mspack update`'s three-way merge. `mspack new` writes it beside the files it generates and
//! `mspack update` replaces it with the new render once the merge is done, so the base is always
//! what the recorded mspack version produced (old versions' templates are not needed at update
//! time). One TOML file: tools that look for `Cargo.toml` or `*.yaml` (cargo, cargo-chef,
//! linters) don't see copies of the service's files in it, and it is replaced in one rename.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::TemplateError;
use crate::scaffold::FileSet;

/// Where the base is recorded, relative to the service directory.
pub const BASE_PATH: &str = ".mspack/base.toml";

#[derive(Serialize, Deserialize)]
struct Stored {
    mspack_version: String,
    files: BTreeMap<String, String>,
}

/// The generated files a base was recorded from, and the mspack version that generated them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    pub mspack_version: String,
    pub files: BTreeMap<PathBuf, String>,
}

/// The text of `.mspack/base.toml` recording `files` (every generated file but the base itself).
pub fn record(files: &FileSet, mspack_version: &str) -> Result<String, TemplateError> {
    let stored = Stored {
        mspack_version: mspack_version.to_owned(),
        files: files
            .files
            .iter()
            .filter(|(p, _)| p.as_path() != Path::new(BASE_PATH))
            .map(|(p, t)| (slash_path(p), t.clone()))
            .collect(),
    };
    let body = toml::to_string_pretty(&stored).map_err(|e| TemplateError::Recorded {
        path: BASE_PATH.to_owned(),
        message: format!("can't be written: {e}"),
    })?;
    Ok(format!(
        "# What mspack {mspack_version} generated here, file by file: the base of `mspack update`'s\n\
         # three-way merge (your edits are the changes from it). Written by `mspack new` and\n\
         # `mspack update`; don't edit it.\n{body}"
    ))
}

/// `files` plus the recorded base of them: what `mspack new` writes.
pub fn with_base(mut files: FileSet) -> Result<FileSet, TemplateError> {
    let text = record(&files, crate::MSPACK_VERSION)?;
    files.files.insert(PathBuf::from(BASE_PATH), text);
    Ok(files)
}

/// The base recorded in `text` (the contents of `.mspack/base.toml`).
pub fn parse(text: &str) -> Result<Base, TemplateError> {
    let stored: Stored = toml::from_str(text).map_err(|e| TemplateError::Recorded {
        path: BASE_PATH.to_owned(),
        message: format!(
            "not a recorded base ({}); restore it from version control, or delete it to update \
             without one (every file you changed is then written beside yours as .mspack-new)",
            e.message()
        ),
    })?;
    let mut files = BTreeMap::new();
    for (path, text) in stored.files {
        let relative = PathBuf::from(&path);
        // A recorded path names a file inside the service, never outside it.
        if !is_inside(&relative) {
            return Err(TemplateError::Recorded {
                path: BASE_PATH.to_owned(),
                message: format!("{path:?} is not a path inside the service"),
            });
        }
        files.insert(relative, text);
    }
    Ok(Base {
        mspack_version: stored.mspack_version,
        files,
    })
}

/// Whether `path` is relative and has only normal components (no `..`, no root).
pub fn is_inside(path: &Path) -> bool {
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_base_reads_back_byte_for_byte() {
        let mut files = FileSet::default();
        for (path, text) in [
            ("a.txt", "plain\n"),
            ("quotes.md", "'''\n\"\"\"\n\\ backslash \\n not a newline\n"),
            ("crlf.txt", "one\r\ntwo\r\n"),
            ("no-final-newline", "x"),
            ("control", "tab\there\u{7f}\u{1}\n"),
            ("empty", ""),
            ("deploy/nested.yaml", "a: b\n"),
        ] {
            files.files.insert(PathBuf::from(path), text.to_owned());
        }
        let text = record(&files, "1.2.3").unwrap_or_else(|e| panic!("{e}"));
        let base = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(base.mspack_version, "1.2.3");
        assert_eq!(base.files, files.files);
    }

    #[test]
    fn paths_outside_the_service_are_refused() {
        for path in ["../x", "/etc/passwd", "a/../../b", ""] {
            let text = format!("mspack_version = \"0.1.0\"\n[files]\n{path:?} = \"x\"\n");
            assert!(parse(&text).is_err(), "{path}");
        }
        assert!(parse("not toml [").is_err());
    }

    #[test]
    fn the_base_of_a_new_service_is_its_files() {
        let spec = crate::scaffold::ServiceSpec::new(
            "orders",
            None,
            8080,
            mspack_lint::Multicluster::Off,
            crate::scaffold::Messaging::None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let files = crate::scaffold::plan(&spec).unwrap_or_else(|e| panic!("{e}"));
        let with = with_base(files.clone()).unwrap_or_else(|e| panic!("{e}"));
        let base = parse(&with.files[Path::new(BASE_PATH)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(base.files, files.files);
    }
}
