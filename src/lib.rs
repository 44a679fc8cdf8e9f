//! ipcbench: a zero-copy IPC benchmarking harness.
//!
//! The pipeline is measurement -> analysis -> reporting: a [`transport::Transport`] moves
//! messages, a [`pattern`] drives it and records into [`measure`] histograms, the
//! [`control`] protocol joins the two processes' results, and [`export`] writes them out.

pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod config;
pub mod control;
pub mod export;
pub mod measure;
pub mod pattern;
pub mod report;
pub mod sys;
pub mod transport;
