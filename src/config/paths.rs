//! The directories and files a run names: sockets and mappings go only where others cannot
//! replace them, outputs only where they can be written, all checked before anything runs.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The socket directory must be a writable directory; a missing one is created (owner-only)
/// when its parent exists, so a typo deeper in the path is still an error.
pub(super) fn check_socket_dir(dir: &Path, trust: DirTrust) -> Result<PathBuf> {
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() && parent.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the socket directory {}", dir.display()))?;
    }
    check_dir(dir, "socket directory", trust)
}

/// Which directories a run may put its sockets and mappings in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirTrust {
    /// Not writable by others: they could replace our sockets.
    NotWorldWritable,
    /// Also world-writable with the sticky bit (`/dev/shm`): nobody can remove or rename the
    /// files we create exclusively there.
    OrSticky,
    /// Any mode (`--trust-dirs`): for volumes no other user can reach, such as a pod's
    /// emptyDirs, which Kubernetes makes mode 0777.
    AnyMode,
}

impl DirTrust {
    pub(super) fn or_sticky(self) -> DirTrust {
        if self == DirTrust::AnyMode {
            self
        } else {
            DirTrust::OrSticky
        }
    }
}

/// `dir` must be an existing, writable directory that others cannot write to (they could
/// replace its sockets) unless `trust` says otherwise, returned as an absolute path.
pub fn check_dir(dir: &Path, what: &str, trust: DirTrust) -> Result<PathBuf> {
    let meta = std::fs::metadata(dir).with_context(|| format!("{what} {} does not exist", dir.display()))?;
    if !meta.is_dir() {
        bail!("{what} {} is not a directory", dir.display());
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
    let sticky_ok = trust == DirTrust::OrSticky && mode & 0o1000 != 0;
    if mode & 0o002 != 0 && !sticky_ok && trust != DirTrust::AnyMode {
        bail!(
            "{what} {} is world-writable (mode {:o}); use a directory of your own (chmod o-w), or --trust-dirs for a volume nobody else reaches",
            dir.display(),
            mode & 0o7777
        );
    }
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK)
        .map_err(|_| anyhow::anyhow!("{what} {} is not writable", dir.display()))?;
    dir.canonicalize().with_context(|| format!("resolving {what} {}", dir.display()))
}

/// An output file must be creatable: its directory exists and is writable.
pub(super) fn check_writable(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Ok(());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        bail!("cannot write {}: directory {} does not exist", path.display(), parent.display());
    }
    if path.is_dir() {
        bail!("cannot write {}: it is a directory", path.display());
    }
    rustix::fs::access(parent, rustix::fs::Access::WRITE_OK).map_err(|_| {
        anyhow::anyhow!("cannot write {}: directory {} is not writable", path.display(), parent.display())
    })?;
    Ok(())
}
