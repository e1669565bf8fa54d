//! The data directory: the database, the token pepper, the ledger's signing key, and
//! a lock so that only one Writ process uses it at a time.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use writ_store::LedgerKey;

use crate::config::LedgerConfig;

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
    #[error("ledger signing key `{path}`: {message}")]
    BadLedgerKey { path: PathBuf, message: String },
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

    #[cfg(test)]
    pub(crate) fn from_seed(b: u8) -> Pepper {
        Pepper([b; 32])
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

    /// The ledger's signing key: the configured file, which must exist, or
    /// `<data dir>/ledger-key`, created (mode 0600) at first start.
    pub fn ledger_key(&self, config: &LedgerConfig) -> Result<LedgerKey, DataDirError> {
        if let Some(path) = &config.key_file {
            return read_ledger_key(path);
        }
        let path = default_key_path(&self.root);
        if path.exists() {
            return read_ledger_key(&path);
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| io(&path)(std::io::Error::other(format!("no OS randomness: {e}"))))?;
        let origin = match &config.origin {
            Some(o) => o.clone(),
            None => {
                let mut tag = [0u8; 4];
                getrandom::fill(&mut tag).map_err(|e| {
                    io(&path)(std::io::Error::other(format!("no OS randomness: {e}")))
                })?;
                format!("writ.local/ledger-{}", hex::encode(tag))
            }
        };
        let key = LedgerKey::from_seed(&origin, seed).map_err(|e| DataDirError::BadLedgerKey {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_private(&path, format!("{}\n", key.to_private_string()).as_bytes())
            .map_err(io(&path))?;
        tracing::info!(origin = %key.origin(), "created the ledger signing key");
        Ok(key)
    }
}

/// Where a data dir keeps its ledger signing key unless configured otherwise.
pub fn default_key_path(root: &Path) -> PathBuf {
    root.join("ledger-key")
}

/// Reads a ledger signing key file. The key never appears in an error message.
pub fn read_ledger_key(path: &Path) -> Result<LedgerKey, DataDirError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    LedgerKey::parse(&text).map_err(|e| DataDirError::BadLedgerKey {
        path: path.to_owned(),
        message: e.to_string(),
    })
}
