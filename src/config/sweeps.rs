//! The two sweep axes whose values need checking against the machine or each other: offered
//! rates (`--rate`, `--rates`) and placements (`--pin`, `--pin-pairs`).

use anyhow::{anyhow, bail, Result};

use super::dedup;
use crate::cli::{PairItem, RateItem};

/// The offered rates of a run (`[None]`: closed loop) and whether they are the `auto` climb.
pub(super) fn rates(rate: Option<u64>, rates: Option<&[RateItem]>) -> Result<(Vec<Option<u64>>, bool)> {
    Ok(match rates {
        Some(items) if items.contains(&RateItem::Auto) => {
            if items.len() > 1 {
                bail!("--rates auto climbs on its own: give it alone, or a list of rates");
            }
            (crate::analysis::load::auto_ladder().into_iter().map(Some).collect(), true)
        }
        Some(items) => {
            let mut v: Vec<u64> = items
                .iter()
                .filter_map(|i| if let RateItem::PerS(r) = i { Some(*r) } else { None })
                .collect();
            v.sort_unstable();
            v.dedup();
            (v.into_iter().map(Some).collect(), false)
        }
        None => (vec![rate], false),
    })
}

/// Where the streams' writer thread runs: `--writer-cpu` (checked, and only with a stream), or
/// an allowed CPU that none of `pins` and `group_pins` measures, or any allowed CPU.
pub(super) fn writer_place(
    flag: Option<usize>,
    streams: bool,
    pins: &[Option<(usize, usize)>],
    group_pins: Option<&[usize]>,
) -> Result<crate::export::WriterPlace> {
    let allowed = crate::sys::allowed_cpus();
    if let Some(cpu) = flag {
        if !streams {
            bail!("--writer-cpu places the stream writer: give it with --stream-json or --stream-csv");
        }
        if !allowed.contains(&cpu) {
            bail!("--writer-cpu: CPU {cpu} is not available to this process (allowed: {allowed:?})");
        }
    }
    let mut pinned: Vec<usize> = pins.iter().flatten().flat_map(|&(a, b)| [a, b]).collect();
    pinned.extend(group_pins.into_iter().flatten());
    Ok(crate::export::WriterPlace::resolve(flag, &allowed, &pinned))
}

/// The (initiator, peer) placements of a run: `[None]` unpinned, `[Some(p)]` for `--pin`, every
/// pair of `--pin-pairs`; each CPU must be one this process may use.
pub(super) fn pins(pin: Option<&[usize]>, pairs: Option<&[PairItem]>) -> Result<Vec<Option<(usize, usize)>>> {
    let allowed = crate::sys::allowed_cpus();
    let check = |flag: &str, cpu: usize| {
        if allowed.contains(&cpu) {
            Ok(())
        } else {
            Err(anyhow!("{flag}: CPU {cpu} is not available to this process (allowed: {allowed:?})"))
        }
    };
    let Some(items) = pairs else {
        return Ok(vec![match pin {
            None => None,
            Some(&[x, y]) => {
                check("--pin", x)?;
                check("--pin", y)?;
                Some((x, y))
            }
            Some(other) => bail!(
                "--pin takes two CPUs, initiator and peer (e.g. --pin 0,1), got {} value(s)",
                other.len()
            ),
        }]);
    };
    let mut out = Vec::new();
    for item in items {
        match *item {
            PairItem::All => {
                for &x in &allowed {
                    out.extend(allowed.iter().filter(|&&y| y != x).map(|&y| (x, y)));
                }
            }
            PairItem::Pair(x, y) => {
                check("--pin-pairs", x)?;
                check("--pin-pairs", y)?;
                if x == y {
                    bail!("--pin-pairs {x}:{y}: initiator and peer need two CPUs (one CPU is a context switch per message, not IPC between CPUs)");
                }
                out.push((x, y));
            }
        }
    }
    if out.is_empty() {
        bail!("--pin-pairs all: this process may use only CPU {allowed:?}, no pair of two");
    }
    Ok(dedup(&out).into_iter().map(Some).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_list_is_sorted_and_deduplicated_and_auto_is_the_ladder() {
        let (v, auto) =
            rates(None, Some(&[RateItem::PerS(5), RateItem::PerS(1), RateItem::PerS(5)])).unwrap();
        assert_eq!((v, auto), (vec![Some(1), Some(5)], false));
        let (v, auto) = rates(None, Some(&[RateItem::Auto])).unwrap();
        assert!(auto && v.len() > 10 && v[0] == Some(1_000));
        assert_eq!(rates(Some(7), None).unwrap(), (vec![Some(7)], false));
        assert!(rates(None, Some(&[RateItem::Auto, RateItem::PerS(3)])).is_err());
    }

    #[test]
    fn all_pairs_are_every_ordered_pair_of_two_allowed_cpus() {
        let cpus = crate::sys::allowed_cpus();
        let all = pins(None, Some(&[PairItem::All]));
        if cpus.len() < 2 {
            assert!(all.is_err());
            return;
        }
        let all = all.unwrap();
        assert_eq!(all.len(), cpus.len() * (cpus.len() - 1));
        assert!(all.iter().flatten().all(|(a, b)| a != b));
        let (a, b) = (cpus[0], cpus[1]);
        let twice = pins(None, Some(&[PairItem::Pair(a, b), PairItem::Pair(a, b)])).unwrap();
        assert_eq!(twice, vec![Some((a, b))], "a pair given twice runs once");
        assert!(pins(None, Some(&[PairItem::Pair(a, a)])).is_err());
        assert_eq!(pins(Some(&[a, b]), None).unwrap(), vec![Some((a, b))]);
        assert!(pins(Some(&[a]), None).is_err());
    }
}
