//! Where the approval policy comes from: the `[approval]` configuration for which
//! steps a request needs, and a directory of Cedar files (`[policy] dir`) for who may
//! decide them. Without a directory the shipped set is used.
//!
//! The policy is activated at start-up and on `POST /api/v1/policy/reload`; either
//! way it goes through `decide`, which validates the Cedar set strictly. A refused set
//! changes nothing: the server keeps the policy it has.

use std::path::{Path, PathBuf};

use writ_core::{ApprovalPolicy, Authority, PolicySource};

/// A Cedar file larger than this is refused (a policy set is text people review).
const MAX_FILE_BYTES: u64 = 1 << 20;
/// At most this many `.cedar` files in a policy directory.
const MAX_FILES: usize = 256;

/// The policy as configured: the steps from `[approval]`, the Cedar set from `dir`.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub base: ApprovalPolicy,
    pub dir: Option<PathBuf>,
}

impl PolicyConfig {
    /// The full policy to activate, reading the Cedar directory now.
    pub fn load(&self) -> Result<ApprovalPolicy, String> {
        let source = match &self.dir {
            Some(dir) => read_dir(dir)?,
            None => PolicySource::shipped(),
        };
        Ok(ApprovalPolicy {
            cedar: Some(source),
            ..self.base.clone()
        })
    }
}

/// Reads every `*.cedar` file of `dir` (not its subdirectories). Other files are
/// ignored, so a README can sit beside the policies.
pub fn read_dir(dir: &Path) -> Result<PolicySource, String> {
    let shown = dir.display();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read policy directory `{shown}`: {e}"))?;
    let mut source = PolicySource::default();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read policy directory `{shown}`: {e}"))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("cedar") || !path.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let size = entry
            .metadata()
            .map_err(|e| format!("`{name}`: {e}"))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(format!(
                "`{name}` is {size} bytes; a policy file may hold at most {MAX_FILE_BYTES}"
            ));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("`{name}` cannot be read as UTF-8 text: {e}"))?;
        source.files.insert(name, text);
        if source.files.len() > MAX_FILES {
            return Err(format!(
                "policy directory `{shown}` holds more than {MAX_FILES} .cedar files"
            ));
        }
    }
    if source.files.is_empty() {
        return Err(format!(
            "policy directory `{shown}` holds no .cedar file; an empty set would let nobody decide"
        ));
    }
    Ok(source)
}

/// Reads and strictly validates a policy directory, as `writ policy check` does.
pub fn check_dir(dir: &Path) -> Result<(PolicySource, Authority), Vec<String>> {
    let source = read_dir(dir).map_err(|e| vec![e])?;
    match Authority::compile(&source) {
        Ok(a) => Ok((source, a)),
        Err(e) => Err(e.problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_cedar_files_and_refuses_an_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_dir(dir.path()).unwrap_err().contains("no .cedar file"));
        std::fs::write(dir.path().join("README.md"), "not policy").unwrap();
        std::fs::write(
            dir.path().join("a.cedar"),
            r#"permit(principal, action == Writ::Action::"decide", resource);"#,
        )
        .unwrap();
        let s = read_dir(dir.path()).unwrap();
        assert_eq!(s.files.keys().collect::<Vec<_>>(), ["a.cedar"]);
        assert!(check_dir(dir.path()).is_ok());
        std::fs::write(dir.path().join("b.cedar"), "permit(").unwrap();
        let problems = check_dir(dir.path()).unwrap_err();
        assert!(problems[0].starts_with("b.cedar"), "{problems:?}");
        assert!(read_dir(&dir.path().join("missing")).is_err());
    }
}
