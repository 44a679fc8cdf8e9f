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
