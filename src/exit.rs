//! What ipcbench's exit status means, for every command. One place, so `--help`, the docs and
//! the code cannot disagree.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; for a gate (`compare --max-regression`, `ab`, `history check`): no gated metric regressed |
//! | 1 | a run failed (a peer died, a wait timed out, an I/O error) |
//! | 2 | a usage error, found before anything ran: a flag, value or combination, or a file or directory named on the command line that is missing or unusable |
//! | 3 | a gate found a regression beyond its threshold (`history check`: a regression change point in its last commits) |
//! | 4 | a gate could not judge a gated metric (too few values, or an interval straddling the threshold; `history check`: no series with enough commits) |
//! | 130 | interrupted (Ctrl-C, SIGTERM): what was measured before is written |

use std::fmt;

pub const OK: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const REGRESSED: i32 = 3;
pub const UNDECIDED: i32 = 4;
pub const INTERRUPTED: i32 = 130;

/// The exit codes as `--help` shows them.
pub const HELP: &str = "Exit status: 0 success (a gate passed); 1 a run failed; 2 a usage error (flag, value, \
combination, or a named file or directory), found before anything ran; 3 a gate found a regression beyond its \
threshold; 4 a gate could not judge (too few values or an interval straddling the threshold: add --repeat or \
--rounds; for history check, too few commits); 130 interrupted.";

/// An error in what the user asked for, found before anything ran: exits [`USAGE`].
#[derive(Debug)]
pub struct Usage(pub anyhow::Error);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for Usage {}

/// Marks an error as a usage error.
pub fn usage(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(Usage(e))
}

/// The exit code an error calls for: [`USAGE`] for a [`Usage`] anywhere in its chain, else
/// [`FAILED`].
pub fn code_of(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<Usage>()) {
        USAGE
    } else {
        FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_usage_error_keeps_its_code_and_message_under_added_context() {
        let e = usage(anyhow::anyhow!("--pin 0,7: CPU 7 is not available"));
        let e = Err::<(), _>(e).context("checking the run options").unwrap_err();
        assert_eq!(code_of(&e), USAGE);
        assert_eq!(format!("{e:#}"), "checking the run options: --pin 0,7: CPU 7 is not available");
        assert_eq!(code_of(&anyhow::anyhow!("the peer closed the connection")), FAILED);
    }
}
