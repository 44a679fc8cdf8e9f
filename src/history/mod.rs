//! The results history: every run of every result file added, by commit, in one SQLite file
//! ([`store`]), and change points across commits per series ([`edivisive`], [`check`]): the
//! regression *tracking* that a pairwise gate (`compare`, `ab`) cannot do, since a slide of 3%
//! over ten merges passes every pair.

pub mod check;
pub mod command;
pub mod edivisive;
pub mod export;
pub mod store;
pub mod ttest;
