//! What about the machine makes two results comparable or not, read from sysfs and procfs once
//! per run (each field absent where the machine does not say): frequency scaling, SMT, isolated
//! CPUs, transparent huge pages, the cgroup and its limits, kernel mitigations, the clock
//! source. Results carry it in their environment; `compare` and `ab` say what differs, and a
//! run warns before it starts about what is known to add noise.

use serde::{Deserialize, Serialize};

/// The machine's measurement-relevant settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `scaling_governor` of CPU 0 (`performance`, `powersave`, `schedutil`, ...).
    pub cpu_governor: Option<String>,
    /// Whether frequency boost (turbo) is on.
    pub cpu_boost: Option<bool>,
    /// Whether simultaneous multithreading is active.
    pub smt_active: Option<bool>,
    /// CPUs isolated from the scheduler (`isolcpus`), as the kernel lists them.
    pub isolated_cpus: Option<String>,
    /// Transparent huge pages: `always`, `madvise` or `never`.
    pub transparent_hugepages: Option<String>,
    /// 1 or 2.
    pub cgroup_version: Option<u32>,
    /// This process's cgroup CPU limit (`cpu.max`, or `cfs_quota_us cfs_period_us` on v1).
    pub cgroup_cpu_max: Option<String>,
    /// This process's cgroup memory limit, bytes or `max`.
    pub cgroup_memory_max: Option<String>,
    /// The `mitigations=` kernel parameter, when given.
    pub mitigations: Option<String>,
    /// The clock source (`tsc` is the fast, stable one).
    pub clocksource: Option<String>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The bracketed choice of a sysfs selector (`always [madvise] never` -> `madvise`).
fn selected(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = text[start..].find(']')? + start;
    Some(text[start..end].to_string())
}

/// This process's cgroup directory for `controller` (v1) or the unified one (v2).
fn cgroup_dir(v2: bool, controller: &str) -> Option<String> {
    let own = read("/proc/self/cgroup")?;
    let path = own.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let wanted =
            if v2 { controllers.is_empty() } else { controllers.split(',').any(|c| c == controller) };
        wanted.then(|| path.to_string())
    })?;
    Some(if v2 { format!("/sys/fs/cgroup{path}") } else { format!("/sys/fs/cgroup/{controller}{path}") })
}

impl Fingerprint {
    /// Reads this machine's settings.
    pub fn detect() -> Fingerprint {
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let cpu_max = if v2 {
            cgroup_dir(true, "").and_then(|d| read(&format!("{d}/cpu.max")))
        } else {
            cgroup_dir(false, "cpu").and_then(|d| {
                Some(format!(
                    "{} {}",
                    read(&format!("{d}/cpu.cfs_quota_us"))?,
                    read(&format!("{d}/cpu.cfs_period_us"))?
                ))
            })
        };
        let memory_max = if v2 {
            cgroup_dir(true, "").and_then(|d| read(&format!("{d}/memory.max")))
        } else {
            cgroup_dir(false, "memory").and_then(|d| read(&format!("{d}/memory.limit_in_bytes")))
        };
        let boost = read("/sys/devices/system/cpu/cpufreq/boost")
            .map(|b| b == "1")
            .or_else(|| read("/sys/devices/system/cpu/intel_pstate/no_turbo").map(|n| n == "0"));
        Fingerprint {
            cpu_governor: read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            cpu_boost: boost,
            smt_active: read("/sys/devices/system/cpu/smt/active").map(|a| a == "1"),
            isolated_cpus: read("/sys/devices/system/cpu/isolated"),
            transparent_hugepages: read("/sys/kernel/mm/transparent_hugepage/enabled")
                .and_then(|t| selected(&t)),
            cgroup_version: Some(if v2 { 2 } else { 1 }),
            cgroup_cpu_max: cpu_max,
            cgroup_memory_max: memory_max,
            mitigations: read("/proc/cmdline").and_then(|c| {
                c.split_whitespace().find_map(|w| w.strip_prefix("mitigations=").map(str::to_string))
            }),
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        }
    }

    /// What is known to add noise to a measurement here, one line each.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(g) = self.cpu_governor.as_deref().filter(|g| *g != "performance") {
            w.push(format!("the CPU frequency governor is {g}: frequency scaling adds noise (the performance governor does not)"));
        }
        if let Some(c) = self.clocksource.as_deref().filter(|c| *c != "tsc") {
            w.push(format!("the clock source is {c}, not tsc: every clock read is slower and coarser"));
        }
        w
    }

    /// The fields whose values differ between `self` and `other`, as `name: a vs b`.
    pub fn differences(&self, other: &Fingerprint) -> Vec<String> {
        let (a, b) =
            (serde_json::to_value(self).unwrap_or_default(), serde_json::to_value(other).unwrap_or_default());
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else { return Vec::new() };
        a.iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                format!("{k}: {} vs {}", show(v), show(b.get(k).unwrap_or(&serde_json::Value::Null)))
            })
            .collect()
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "unknown".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selector_choice_and_the_differences_between_two_machines_are_named() {
        assert_eq!(selected("always [madvise] never").as_deref(), Some("madvise"));
        assert_eq!(selected("none"), None);
        let a = Fingerprint {
            cpu_governor: Some("performance".into()),
            smt_active: Some(false),
            ..Default::default()
        };
        let b = Fingerprint {
            cpu_governor: Some("powersave".into()),
            smt_active: Some(false),
            ..Default::default()
        };
        assert_eq!(a.differences(&b), ["cpu_governor: performance vs powersave"]);
        assert!(a.differences(&a).is_empty());
        assert!(a.warnings().is_empty());
        assert_eq!(b.warnings().len(), 1);
        assert!(b.warnings()[0].contains("powersave"));
        let none = Fingerprint { clocksource: Some("hpet".into()), ..Default::default() };
        assert!(none.warnings()[0].contains("hpet, not tsc"));
    }

    #[test]
    fn this_machine_says_at_least_its_cgroup_version_and_clock_source() {
        let f = Fingerprint::detect();
        assert!(matches!(f.cgroup_version, Some(1) | Some(2)));
        assert!(f.clocksource.is_some(), "Linux always names its clock source");
    }
}
