//! A progress bar on stderr for runs that last more than two seconds, when stderr is a terminal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pattern::{Params, Progress, Stop};

pub struct ProgressDisplay {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts watching `progress` (not at all when `quiet` or stderr is no terminal).
    pub fn start(quiet: bool, p: &Params, label: &str, progress: Arc<Progress>) -> ProgressDisplay {
        use std::io::IsTerminal;
        let done = Arc::new(AtomicBool::new(false));
        if quiet || !std::io::stderr().is_terminal() {
            return ProgressDisplay { done, thread: None };
        }
        let (total, label, flag) = (
            match p.stop {
                Stop::Count(n) => Some(n + p.warmup),
                Stop::DurationNs(_) => None,
            },
            label.to_string(),
            done.clone(),
        );
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(2) {
                // Acquire: pairs with the Release store in `finish`.
                if flag.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{elapsed_precise}] {wide_bar} {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(label);
            // Acquire: pairs with the Release store in `finish`.
            while !flag.load(Ordering::Acquire) {
                bar.set_position(progress.get());
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressDisplay { done, thread: Some(thread) }
    }

    pub fn finish(mut self) {
        // Release: pairs with the Acquire loads in the display thread.
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
