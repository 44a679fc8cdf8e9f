//! Docs that run. Every `ipcbench` command in a shell block of README.md and docs/*.md parses
//! with the real command line (`ipcbench::cli::Cli`); the README's quick experiments (those that
//! need no container, cluster or second machine) run for real through the built binary, in a
//! scratch directory; and every relative link in the docs names a file and heading that exist.
//!
//! A shell block is a fenced block tagged `sh`, `bash`, `shell` or `console`, or untagged;
//! output goes in `text` blocks. In a block, `\` continuations are joined, `$ ` prompts and `#`
//! comments stripped, leading `NAME=value` assignments skipped, and the command ends at the
//! first `|`, `&`, `;`, `<` or `>`. Lines holding a placeholder (`<order>`) are not checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use clap::Parser;
use ipcbench::cli::Cli;

/// An `ipcbench` command shown in a doc.
#[derive(Debug)]
struct Shown {
    file: String,
    line: usize,
    text: String,
    words: Vec<String>,
}

impl Shown {
    fn at(&self) -> String {
        format!("{}:{}: {}", self.file, self.line, self.text)
    }

    /// The subcommand, if any (`None` for plain `ipcbench`).
    fn subcommand(&self) -> Option<&str> {
        self.words.get(1).map(String::as_str).filter(|w| !w.starts_with('-'))
    }

    /// The value of `-t`/`--transport`, if given.
    fn transports(&self) -> Option<&str> {
        self.words.windows(2).find(|w| w[0] == "-t" || w[0] == "--transport").map(|w| w[1].as_str())
    }

    /// The CPUs of `--pin A,B`, if given.
    fn pinned(&self) -> Vec<usize> {
        self.words
            .windows(2)
            .find(|w| w[0] == "--pin")
            .map(|w| w[1].split(',').filter_map(|c| c.parse().ok()).collect())
            .unwrap_or_default()
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, then docs/*.md in name order.
fn doc_files() -> Vec<PathBuf> {
    let mut guide: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    guide.sort();
    std::iter::once(root().join("README.md")).chain(guide).collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

fn is_shell_block(info: &str) -> bool {
    matches!(info.trim(), "" | "sh" | "bash" | "shell" | "console")
}

/// The command lines of `text`'s shell blocks, continuations joined, prompts stripped, each with
/// the (1-based) line it starts on.
fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut in_shell: Option<bool> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_shell = match in_shell {
                None => Some(is_shell_block(info)),
                Some(_) => None,
            };
            lines.extend(pending.take());
            continue;
        }
        if in_shell != Some(true) {
            continue;
        }
        let (start, mut joined) = match pending.take() {
            Some(p) => p,
            None => (i + 1, String::new()),
        };
        let body = if joined.is_empty() { trimmed.strip_prefix("$ ").unwrap_or(trimmed) } else { trimmed };
        match body.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head.trim_end());
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(body);
                lines.push((start, joined));
            }
        }
    }
    lines
}

/// A placeholder such as `<order>` or `<peer pid>`: not a command as it stands.
fn has_placeholder(line: &str) -> bool {
    line.match_indices('<').any(|(i, _)| {
        let rest = &line[i + 1..];
        rest.starts_with(|c: char| c.is_ascii_alphabetic()) && rest.contains('>')
    })
}

/// The words of a simple shell command as sh splits them (quotes, backslashes), up to a comment
/// or the first operator (`|`, `&`, `;`, `<`, `>`; a file descriptor number before a
/// redirection is dropped).
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => word.push(q),
                        None => return Err("an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some('$' | '`') => return Err("a substitution inside double quotes".into()),
                        Some(q) => word.push(q),
                        None => return Err("an unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '$' | '`' => return Err("a substitution".into()),
            '#' if !in_word => break,
            '|' | '&' | ';' | '<' | '>' => {
                let fd = matches!(c, '<' | '>') && in_word && word.chars().all(|d| d.is_ascii_digit());
                if in_word && !fd {
                    words.push(std::mem::take(&mut word));
                }
                return Ok(words);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Every `ipcbench` command in the shell blocks of `file`.
fn commands_in(file: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut shown = Vec::new();
    for (line, command) in shell_lines(&text) {
        if has_placeholder(&command) {
            continue;
        }
        let words = shell_words(&command).unwrap_or_else(|e| {
            panic!("{}:{line}: {command}: cannot split it into words: {e}", relative(file))
        });
        let words: Vec<String> = words
            .into_iter()
            .skip_while(|w| {
                w.split_once('=').is_some_and(|(name, _)| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            })
            .collect();
        if words.first().map(String::as_str) == Some("ipcbench") {
            shown.push(Shown { file: relative(file), line, text: command.trim().to_string(), words });
        }
    }
    shown
}

fn all_commands() -> Vec<Shown> {
    doc_files().iter().flat_map(|f| commands_in(f)).collect()
}

#[test]
fn the_extractor_joins_continuations_and_strips_prompts_comments_and_redirections() {
    let doc = "text\n```sh\n$ ipcbench run -t uds \\\n    --wait spin   # a comment\nX=1 ipcbench man > ipcbench.1\nipcbench run -t <order>\n```\n```text\nipcbench run --not-a-command\n```\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc).unwrap();
    let shown = commands_in(file.path());
    let words: Vec<Vec<&str>> = shown.iter().map(|s| s.words.iter().map(String::as_str).collect()).collect();
    assert_eq!(words, vec![vec!["ipcbench", "run", "-t", "uds", "--wait", "spin"], vec!["ipcbench", "man"]]);
    assert_eq!((shown[0].line, shown[1].line), (3, 5));
    assert_eq!(shell_words("a 'b c' \"d\\\"e\" f\\ g 2>/dev/null").unwrap(), ["a", "b c", "d\"e", "f g"]);
}

#[test]
fn every_ipcbench_command_in_the_docs_parses_with_the_real_command_line() {
    let shown = all_commands();
    // A guard on the extractor itself: the docs show dozens of commands, the README several.
    assert!(shown.len() >= 30, "only {} ipcbench commands found in the docs", shown.len());
    assert!(
        shown.iter().filter(|s| s.file == "README.md").count() >= 5,
        "too few commands found in README.md"
    );
    let failures: Vec<String> = shown
        .iter()
        .filter_map(|s| Cli::try_parse_from(&s.words).err().map(|e| format!("{}\n{e}", s.at())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} commands in the docs do not parse:\n\n{}",
        failures.len(),
        shown.len(),
        failures.join("\n")
    );
}

/// The README's experiments `run` and `ab`, and plain `ipcbench`: the ones that need no other
/// party. `host`, `client` and `kube` need a container, a cluster or a second machine; `compare`,
/// `report` and `export` need result files: those are only parsed.
fn readme_experiments() -> Vec<Shown> {
    commands_in(&root().join("README.md"))
        .into_iter()
        .filter(|s| matches!(s.subcommand(), None | Some("run") | Some("ab")))
        .collect()
}

/// Asserts that `stdout` holds a table: a header naming p50, and a row for every transport.
fn assert_table(shown: &Shown, stdout: &str) {
    assert!(
        stdout.lines().any(|l| l.contains("p50")),
        "{}: no table header with p50 in:\n{stdout}",
        shown.at()
    );
    let transports = match shown.transports() {
        None | Some("default") => "uds,tcp,shm",
        Some("all") => "",
        Some(t) => t,
    };
    for t in transports.split(',').filter(|t| !t.is_empty()) {
        assert!(
            stdout.lines().any(|l| l.split_whitespace().next() == Some(t)),
            "{}: no row for {t} in:\n{stdout}",
            shown.at()
        );
    }
}

#[test]
fn the_readme_quick_experiments_run_print_their_table_and_leave_no_socket_behind() {
    let experiments = readme_experiments();
    assert!(experiments.len() >= 3, "the README shows fewer experiments than expected: {experiments:?}");
    let allowed = ipcbench::sys::allowed_cpus();
    for shown in &experiments {
        if shown.pinned().iter().any(|c| !allowed.contains(c)) {
            eprintln!("skipped (CPUs {:?} not all allowed here): {}", shown.pinned(), shown.at());
            continue;
        }
        let scratch = tempfile::tempdir().unwrap();
        let work = scratch.path().join("work");
        let sockets = scratch.path().join("sockets");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&sockets).unwrap();
        let mut cmd = Command::cargo_bin("ipcbench").unwrap();
        cmd.current_dir(&work).args(&shown.words[1..]).timeout(Duration::from_secs(300));
        let ab = shown.subcommand() == Some("ab");
        // Plain `ipcbench` takes no flags: its sockets/ and output/ go to the working directory.
        let sockets = if shown.subcommand().is_none() { work.join("sockets") } else { sockets };
        if shown.subcommand().is_some() {
            cmd.arg("--socket-dir").arg(&sockets).arg("--out").arg(scratch.path().join("out.json"));
        }
        if shown.subcommand() == Some("run") {
            cmd.arg("--shm-dir").arg(&sockets);
        }
        if ab {
            // The two builds the README names, as paths relative to where it runs: this build.
            let cli = Cli::try_parse_from(&shown.words).unwrap();
            let Some(ipcbench::cli::Command::Ab(args)) = cli.command else {
                panic!("{}: does not parse as ab", shown.at())
            };
            for build in [&args.old, &args.new] {
                assert!(build.is_relative(), "{}: name the builds by relative paths", shown.at());
                let path = work.join(build);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("ipcbench"), &path).unwrap();
            }
        }
        let started = std::time::Instant::now();
        let out = cmd.output().unwrap();
        eprintln!("{:.1} s: {}", started.elapsed().as_secs_f64(), shown.at());
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // An A/A gate must not find a regression (3); on a busy machine it may not decide (4).
        let ok = match out.status.code() {
            Some(0) => true,
            Some(4) => ab,
            _ => false,
        };
        assert!(ok, "{}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", shown.at(), out.status.code());
        assert_table(shown, &stdout);
        let left: Vec<_> = std::fs::read_dir(&sockets).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{}: left in the socket directory: {left:?}", shown.at());
    }
}

#[test]
fn the_readme_completion_and_man_commands_print_something() {
    let shown: Vec<Shown> = commands_in(&root().join("README.md"))
        .into_iter()
        .filter(|s| matches!(s.subcommand(), Some("completions") | Some("man")))
        .collect();
    assert!(!shown.is_empty(), "the README shows no completions or man command");
    for s in &shown {
        let out = Command::cargo_bin("ipcbench").unwrap().args(&s.words[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{}: exit {:?}: {}",
            s.at(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.len() > 100, "{}: printed only {} bytes", s.at(), out.stdout.len());
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            !in_code
        })
        .filter_map(|l| l.strip_prefix('#').map(|h| anchor(h.trim_start_matches('#'))))
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_names_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices("](") {
                let target = &line[i + 2..];
                let Some(end) = target.find(')') else { continue };
                let target = &target[..end];
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let linked = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
                let at = format!("{}:{}: {target}", relative(&file), n + 1);
                if !linked.exists() {
                    broken.push(format!("{at}: no such file"));
                } else if !fragment.is_empty() {
                    let linked_text = std::fs::read_to_string(&linked).unwrap_or_default();
                    if !anchors(&linked_text).iter().any(|a| a == fragment) {
                        broken.push(format!("{at}: no such heading"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
