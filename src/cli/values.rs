//! Typed parsing of flag values, and passing run options on to another ipcbench: each works
//! from clap's own description of the flags, so a flag's values and help live in one place.

use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;

/// One item of an enum flag's comma list: a value, `default` (the set a plain `ipcbench` runs)
/// or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrAll<T> {
    All,
    Default,
    One(T),
}

impl<T: Copy + PartialEq> OrAll<T> {
    /// The values a list names, `default` and `all` expanded, in order, each once.
    pub fn expand(items: &[OrAll<T>], default: &[T], all: &[T]) -> Vec<T> {
        let mut out: Vec<T> = Vec::new();
        for item in items {
            let values = match item {
                OrAll::All => all.to_vec(),
                OrAll::Default => default.to_vec(),
                OrAll::One(v) => vec![*v],
            };
            for v in values {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

/// Parses one value of `T`'s [`ValueEnum`] names, `default` or `all` (meaning `default_means`
/// and `all_means`, for the help): the values, their help and their parsing come from the enum
/// itself.
pub(super) fn one_or_all<T: ValueEnum + Clone + Send + Sync + 'static>(
    default_means: &'static str,
    all_means: &'static str,
) -> impl TypedValueParser<Value = OrAll<T>> {
    let names = T::value_variants().iter().filter_map(|v| v.to_possible_value()).chain([
        PossibleValue::new("default").help(default_means),
        PossibleValue::new("all").help(all_means),
    ]);
    PossibleValuesParser::new(names).map(|name: String| match (T::from_str(&name, false), name.as_str()) {
        (Ok(v), _) => OrAll::One(v),
        (Err(_), "default") => OrAll::Default,
        (Err(_), _) => OrAll::All,
    })
}

/// A rate per second like 5000, 10k or 2M (k and M are powers of 1000), at least 1.
pub(super) fn parse_rate(text: &str) -> Result<u64, String> {
    match parse_rate_item(text)? {
        RateItem::PerS(r) => Ok(r),
        RateItem::Auto => Err("auto is for --rates (a sweep); --rate takes one rate like 10k".into()),
    }
}

/// A whole number of at least 1.
pub(super) fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("'{text}' is not a whole number")),
    }
}

/// A duration like 500ms or 10s, longer than zero.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("not a duration like 500ms or 10s: {e}"))?;
    if d.is_zero() {
        return Err("must be longer than 0".into());
    }
    Ok(d)
}

/// One item of `--rates`: an offered rate per second, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateItem {
    Auto,
    PerS(u64),
}

/// A rate per second like 5000, 10k or 2M (k and M are powers of 1000), at least 1, or `auto`.
pub(super) fn parse_rate_item(text: &str) -> Result<RateItem, String> {
    let t = text.trim();
    if t == "auto" {
        return Ok(RateItem::Auto);
    }
    let (digits, factor) = match t.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1_000),
        None => match t.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (t, 1),
        },
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{text}' is not a rate like 5000, 10k, 2M or auto"))?;
    match n.checked_mul(factor) {
        Some(0) => Err("a rate must be at least 1 per second".into()),
        Some(r) if r <= 1_000_000_000 => Ok(RateItem::PerS(r)),
        _ => Err(format!("'{text}' is over a billion messages per second")),
    }
}

/// One item of `--pin-pairs`: an (initiator, peer) CPU pair `A:B`, or `all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairItem {
    All,
    Pair(usize, usize),
}

/// `A:B` (initiator CPU, peer CPU) or `all`.
pub(super) fn parse_pair_item(text: &str) -> Result<PairItem, String> {
    let t = text.trim();
    if t == "all" {
        return Ok(PairItem::All);
    }
    let bad = || format!("'{text}' is not a CPU pair like 0:1 (initiator:peer) or all");
    let (a, b) = t.split_once(':').ok_or_else(bad)?;
    Ok(PairItem::Pair(a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?))
}

/// A minimum measuring time: a duration, 0s allowed (none).
pub(super) fn parse_min_time(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("not a duration like 1s or 0s: {e}"))
}

/// An interval-histogram slice: a duration of at least 1 ms (shorter slices would be mostly
/// histogram bookkeeping).
pub(super) fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < Duration::from_millis(1) {
        return Err(format!("must be at least 1ms, not {}", humantime::format_duration(d)));
    }
    Ok(d)
}

/// The run options given on the command line of `cmd` (a subcommand that flattens
/// [`RunArgs`]), as `--flag=value` arguments for another `run` or `host`: taken from clap's own
/// description of the flags, so no flag is listed twice. `own` are the subcommand's own flags
/// (not passed on); a `refused` flag given is an error with its reason.
pub fn passthrough_args(
    matches: &clap::ArgMatches,
    cmd: &clap::Command,
    own: &[&str],
    refused: &[(&str, &str)],
) -> Result<Vec<std::ffi::OsString>, String> {
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if own.contains(&id) || matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let long = arg.get_long().ok_or_else(|| format!("--{id} has no long form"))?;
        if let Some((_, why)) = refused.iter().find(|(r, _)| *r == id) {
            return Err(format!("--{long} {why}"));
        }
        if !arg.get_action().takes_values() {
            out.push(format!("--{long}").into());
            continue;
        }
        for v in matches.get_raw(id).into_iter().flatten() {
            let mut a = std::ffi::OsString::from(format!("--{long}="));
            a.push(v);
            out.push(a);
        }
    }
    Ok(out)
}
