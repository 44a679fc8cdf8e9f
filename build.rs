//! Records the git commit and rustc version the binary was built from, for the environment
//! block of every result file. Either may be unknown (a source tarball, a container build).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The libraries transports are built on: Cargo.lock's version of each becomes
/// `IPCBENCH_<NAME>_VERSION` (`unknown` without a lock file), for the configuration key.
const LIBRARIES: &[&str] = &["tonic", "iceoryx2"];

fn locked_versions() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = std::fs::read_to_string(std::path::Path::new(&dir).join("Cargo.lock")).unwrap_or_default();
    for name in LIBRARIES {
        let version = lock
            .split("[[package]]")
            .find_map(|block| {
                let field = |key: &str| {
                    block.lines().find_map(|l| {
                        l.trim().strip_prefix(key)?.trim().strip_prefix("= \"")?.strip_suffix('"')
                    })
                };
                (field("name") == Some(*name)).then(|| field("version")).flatten()
            })
            .unwrap_or("unknown");
        println!("cargo:rustc-env=IPCBENCH_{}_VERSION={version}", name.to_uppercase().replace('-', "_"));
    }
}

fn main() {
    locked_versions();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(v) = output(&rustc, &["--version"]) {
        println!("cargo:rustc-env=IPCBENCH_RUSTC_VERSION={v}");
    }
    if let Some(c) = output("git", &["rev-parse", "--short=12", "HEAD"]) {
        // --no-optional-locks: a plain `git status` refreshes and rewrites .git/index, one of this
        // script's rerun triggers, so every build after it compiled the crate again.
        let dirty = output("git", &["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        println!("cargo:rustc-env=IPCBENCH_GIT_COMMIT={c}{}", if dirty { "-dirty" } else { "" });
    }
    // The git directory, wherever it is: in a worktree `.git` is a file, and watching paths
    // under it that do not exist made cargo rebuild the crate on every build.
    if let Some(head) = output("git", &["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(index) = output("git", &["rev-parse", "--git-path", "index"]) {
        println!("cargo:rerun-if-changed={index}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
