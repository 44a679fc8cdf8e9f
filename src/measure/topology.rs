//! How two CPUs relate, read from sysfs (`/sys/devices/system/cpu/cpuN/topology` and
//! `.../cache/indexK`): one CPU, SMT siblings of one core, sharing an L2 or an L3, or sharing
//! no cache. The cost of moving a cache line between them follows from this.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What two CPUs share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    SameCpu,
    /// Two hardware threads of one core (share L1 and L2).
    SmtSiblings,
    /// Different cores sharing an L2.
    SharedL2,
    /// Different cores sharing an L3 (one die or CCX).
    SharedL3,
    /// No shared cache: a line moves across the interconnect (another die or socket).
    NoSharedCache,
    /// sysfs did not say (a container that hides it, say).
    Unknown,
}

crate::display_as_value_name!(Relation);

/// Parses a sysfs CPU list like `0-3,8,10-11`.
pub fn parse_cpu_list(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    out.extend(a..=b.min(a.saturating_add(4096)));
                }
            }
            None => out.extend(part.trim().parse::<usize>().ok()),
        }
    }
    out
}

/// How `a` and `b` relate on this machine.
pub fn relation(a: usize, b: usize) -> Relation {
    relation_in(Path::new("/sys/devices/system/cpu"), a, b)
}

/// [`relation`] on a sysfs tree rooted at `root` (a copy, in tests).
pub fn relation_in(root: &Path, a: usize, b: usize) -> Relation {
    if a == b {
        return Relation::SameCpu;
    }
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let cpu = root.join(format!("cpu{a}"));
    let Some(siblings) = read(&cpu.join("topology/thread_siblings_list")) else {
        return Relation::Unknown;
    };
    if parse_cpu_list(&siblings).contains(&b) {
        return Relation::SmtSiblings;
    }
    // The lowest cache level that a and b share.
    let mut shared: Option<u32> = None;
    for k in 0..8 {
        let idx = cpu.join(format!("cache/index{k}"));
        let (Some(level), Some(list)) = (read(&idx.join("level")), read(&idx.join("shared_cpu_list"))) else {
            continue;
        };
        if let Ok(level) = level.trim().parse::<u32>() {
            if parse_cpu_list(&list).contains(&b) {
                shared = Some(shared.map_or(level, |s| s.min(level)));
            }
        }
    }
    match shared {
        Some(l) if l <= 2 => Relation::SharedL2,
        Some(_) => Relation::SharedL3,
        None => Relation::NoSharedCache,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("5"), [5]);
        assert!(parse_cpu_list("").is_empty());
        assert!(parse_cpu_list("x-y").is_empty());
    }

    #[test]
    fn siblings_shared_caches_and_strangers_are_told_apart_in_a_sysfs_tree() {
        let root = tempfile::tempdir().unwrap();
        // Four CPUs: 0 and 1 SMT siblings, 0-1 and 2 share an L3, 3 shares nothing with 0.
        let put = |rel: &str, text: &str| {
            let p = root.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        put("cpu0/topology/thread_siblings_list", "0-1\n");
        put("cpu0/cache/index0/level", "1\n");
        put("cpu0/cache/index0/shared_cpu_list", "0-1\n");
        put("cpu0/cache/index2/level", "2\n");
        put("cpu0/cache/index2/shared_cpu_list", "0-1\n");
        put("cpu0/cache/index3/level", "3\n");
        put("cpu0/cache/index3/shared_cpu_list", "0-2\n");
        let r = |b| relation_in(root.path(), 0, b);
        assert_eq!(r(0), Relation::SameCpu);
        assert_eq!(r(1), Relation::SmtSiblings);
        assert_eq!(r(2), Relation::SharedL3);
        assert_eq!(r(3), Relation::NoSharedCache);
        assert_eq!(relation_in(root.path(), 7, 0), Relation::Unknown);
        assert_eq!(Relation::SharedL3.to_string(), "shared-l3");
    }
}
