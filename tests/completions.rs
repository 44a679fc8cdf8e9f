//! Shell completions and the man page come from the same clap description as the flags.

use assert_cmd::Command;

fn ipcbench() -> Command {
    Command::cargo_bin("ipcbench").unwrap()
}

#[test]
fn completions_for_each_shell_name_the_commands_and_the_transport_values() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef ipcbench"), ("fish", "complete -c ipcbench")]
    {
        let out = ipcbench().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{shell}: no {marker}");
        for word in ["compare", "uds-uring", "--max-regression"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    let out = ipcbench().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_man_page_is_roff_with_every_command_and_the_exit_status() {
    let out = ipcbench().arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with(".ie") || page.contains(".TH ipcbench"), "{}", &page[..200.min(page.len())]);
    for word in ["run", "compare", "ab", "report", "3 a gate found a regression"] {
        assert!(page.contains(word), "man page lacks {word}");
    }
}

#[test]
fn each_command_has_a_man_page_with_its_flags_and_a_closed_pipe_is_no_failure() {
    let out = ipcbench().args(["man", "run"]).output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.contains(".TH ipcbench-run") && page.contains("shm\\-dir"),
        "{}",
        &page[..300.min(page.len())]
    );
    let out = ipcbench().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no command 'nope' (commands: run, compare"));
    // `ipcbench man | head -1`: the reader is gone. Its end of the pipe is closed before the
    // command starts, so the first write fails with EPIPE every time, not only when it loses a race.
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("ipcbench"))
        .args(["man", "run"])
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
