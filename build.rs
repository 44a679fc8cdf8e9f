//! Records the git commit and rustc version the binary was built from, for the environment
//! block of every result file. Either may be unknown (a source tarball, a container build).

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
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
    println!("cargo:rerun-if-env-changed=IPCBENCH_INJECT_NS");
}
