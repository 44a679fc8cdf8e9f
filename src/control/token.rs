//! The shared secret a client must prove it holds when the host's control channel is a TCP
//! port reachable from other machines (the proof, never the token, travels: see
//! [`crate::auth`]). It keeps strangers from joining (and from reading the host's
//! environment): it is not encryption, so use it on networks you trust.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The environment variable a token may come from (after `--token-file`).
pub const TOKEN_ENV: &str = "IPCBENCH_TOKEN";

/// The token from `file` (its content, trimmed), else from [`TOKEN_ENV`], else none.
pub fn load(file: Option<&Path>) -> Result<Option<String>> {
    let token = match file {
        Some(f) => {
            let t = std::fs::read_to_string(f)
                .with_context(|| format!("reading the token file {}", f.display()))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                bail!("the token file {} is empty", f.display());
            }
            Some(t)
        }
        None => std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
    };
    Ok(token)
}

/// Where a host that was given no token writes the one it generated (in the socket
/// directory; removed when the host ends).
pub const GENERATED_FILE: &str = "ipcbench.token";

/// Writes `token` to a new file at `path` that only this user can read (mode 0600), removed
/// at exit like the socket files.
pub fn write_private(path: &Path, token: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the token file {}", path.display()))?;
    crate::cleanup::register_file(path);
    let _ = GENERATED.set(path.to_path_buf());
    writeln!(f, "{token}").with_context(|| format!("writing the token file {}", path.display()))
}

static GENERATED: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Removes the token file [`write_private`] wrote, if it wrote one (the host is done).
pub fn remove_generated() {
    if let Some(p) = GENERATED.get() {
        crate::cleanup::remove_file(p);
    }
}

/// A new random token: 16 bytes from the kernel's generator, as 32 hex digits.
pub fn generate() -> Result<String> {
    let bytes = crate::auth::nonce().context("reading random bytes for a token")?;
    Ok(crate::auth::to_hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_32_hex_digits_and_random() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_token_file_is_read_trimmed_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "s3cret\n").unwrap();
        assert_eq!(load(Some(&f)).unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&f, "  \n").unwrap();
        assert!(load(Some(&f)).unwrap_err().to_string().contains("is empty"));
        assert!(load(Some(&dir.path().join("none")))
            .unwrap_err()
            .to_string()
            .contains("reading the token file"));
    }
}
