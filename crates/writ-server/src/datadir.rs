//! The data directory: the database, the token pepper, and a lock so that only one
//! Writ process uses it at a time.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot use data directory `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory `{0}` is in use by another Writ process")]
    Locked(PathBuf),
    #[error("`{0}` is damaged: expected 32 bytes of key material")]
    BadPepper(PathBuf),
}

/// An open, locked data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    _lock: File,
    pepper: Pepper,
}

/// The server-side secret mixed into every API token hash. Never printed.
#[derive(Clone)]
pub struct Pepper([u8; 32]);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

impl Pepper {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a new file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

impl DataDir {
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        fs::create_dir_all(root).map_err(io(root))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io(root))?;
        }
        let lock_path = root.join("writ.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(DataDirError::Locked(root.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let pepper_path = root.join("token-pepper");
        let pepper = if pepper_path.exists() {
            let mut buf = Vec::new();
            File::open(&pepper_path)
                .and_then(|mut f| f.read_to_end(&mut buf))
                .map_err(io(&pepper_path))?;
            let bytes: [u8; 32] = buf
                .try_into()
                .map_err(|_| DataDirError::BadPepper(pepper_path.clone()))?;
            Pepper(bytes)
        } else {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| {
                io(&pepper_path)(std::io::Error::other(format!("no OS randomness: {e}")))
            })?;
            write_private(&pepper_path, &bytes).map_err(io(&pepper_path))?;
            Pepper(bytes)
        };
        Ok(DataDir {
            root: root.to_owned(),
            _lock: lock,
            pepper,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join("writ.db")
    }

    pub fn pepper(&self) -> &Pepper {
        &self.pepper
    }
}
