//! The environment block stored with every result: enough to tell whether two results were
//! taken on comparable machines, and to reproduce a run.

use serde::{Deserialize, Serialize};

use super::clock;

/// Where and with what a result was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// `uname -srm`.
    pub kernel: String,
    /// The `model name` of the first CPU in /proc/cpuinfo.
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// CPUs this process may run on (its affinity mask at start).
    pub allowed_cpus: Vec<usize>,
    pub hostname: String,
    pub ipcbench_version: String,
    /// `git rev-parse --short HEAD` at build time (`-dirty` with local changes), when known.
    pub git_commit: Option<String>,
    /// `rustc --version` at build time, when known.
    pub rustc_version: Option<String>,
    /// Median cost of one read of the clock in use (`clock.source`; `CLOCK_MONOTONIC` in results
    /// that do not say) in ns: included once per latency sample.
    pub clock_read_overhead_ns: u64,
    /// The clock every timestamp came from, its rate and its drift: the initiator's only (a peer
    /// stamps with the initiator's clock, and its environment is taken before it learns which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<clock::ClockInfo>,
    /// Whether this process runs inside a container (Podman, Docker or another runtime).
    pub in_container: bool,
    /// What gave the container away (`/run/.containerenv`, `/.dockerenv`, `cgroup`), if anything.
    pub container_evidence: Option<String>,
    /// The name of the container this process runs in, from `IPCBENCH_CONTAINER_NAME` (which
    /// `run_container_server.sh` sets; an engine tells a container nothing of its name, and
    /// its host name is the host's under `--network host`); absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// The Kubernetes pod and node this process runs in, from the `POD_NAME` and `NODE_NAME`
    /// variables a manifest sets through the downward API; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The CPU and memory this container's pod spec gives it, from the [`POD_RESOURCE_VARS`] a
    /// manifest sets through the downward API; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_resources: Option<PodResources>,
    /// The machine's measurement-relevant settings (governor, SMT, THP, cgroup limits, ...).
    #[serde(default)]
    pub fingerprint: super::fingerprint::Fingerprint,
    /// Set only when a build with the test-only delay hook (a dev build, or the `inject-delay`
    /// feature) ran with `IPCBENCH_INJECT_NS`: the nanoseconds it added to every initiator send.
    /// Such numbers are deliberately slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected_delay_ns: Option<u64>,
}

impl Environment {
    /// Describes the machine this process runs on.
    pub fn detect() -> Environment {
        let u = rustix::system::uname();
        let kernel = format!(
            "{} {} {}",
            u.sysname().to_string_lossy(),
            u.release().to_string_lossy(),
            u.machine().to_string_lossy()
        );
        let container_evidence = container_evidence();
        Environment {
            kernel,
            cpu_model: cpu_model().unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()).max(online_cpus()),
            allowed_cpus: crate::sys::allowed_cpus(),
            hostname: u.nodename().to_string_lossy().into_owned(),
            ipcbench_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("IPCBENCH_GIT_COMMIT").map(str::to_string),
            rustc_version: option_env!("IPCBENCH_RUSTC_VERSION").map(str::to_string),
            clock_read_overhead_ns: clock::read_overhead_ns(),
            clock: None,
            in_container: container_evidence.is_some(),
            container_evidence,
            container_name: std::env::var("IPCBENCH_CONTAINER_NAME").ok().filter(|v| !v.is_empty()),
            pod_name: std::env::var("POD_NAME").ok().filter(|v| !v.is_empty()),
            node_name: std::env::var("NODE_NAME").ok().filter(|v| !v.is_empty()),
            pod_resources: PodResources::from_vars(|name| std::env::var(name).ok()),
            fingerprint: super::fingerprint::Fingerprint::detect(),
            injected_delay_ns: super::inject::injected_ns(),
        }
    }
}

/// A downward-API variable: `name` set from the container's `resource` (`resourceFieldRef`),
/// expressed in multiples of `divisor`, which fixes the unit its name states.
#[derive(Clone, Copy, Debug)]
pub struct ResourceVar {
    pub name: &'static str,
    pub resource: &'static str,
    pub divisor: &'static str,
}

/// The variables [`PodResources`] is read from, in its fields' order; `ipcbench kube pod` sets
/// them all.
pub const POD_RESOURCE_VARS: [ResourceVar; 4] = [
    ResourceVar { name: "IPCBENCH_CPU_REQUEST_MILLIS", resource: "requests.cpu", divisor: "1m" },
    ResourceVar { name: "IPCBENCH_CPU_LIMIT_MILLIS", resource: "limits.cpu", divisor: "1m" },
    ResourceVar { name: "IPCBENCH_MEMORY_REQUEST_BYTES", resource: "requests.memory", divisor: "1" },
    ResourceVar { name: "IPCBENCH_MEMORY_LIMIT_BYTES", resource: "limits.memory", divisor: "1" },
];

/// A Kubernetes container's resources as the downward API reports them: a request the spec
/// leaves out reads 0, a limit it leaves out reads the node's allocatable amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodResources {
    pub cpu_request_millis: u64,
    pub cpu_limit_millis: u64,
    pub memory_request_bytes: u64,
    pub memory_limit_bytes: u64,
    /// The QoS class these resources give a pod whose every container has the same (ipcbench's
    /// pod: compare `peer_environment`'s): requests equal to limits for CPU and memory make it
    /// `Guaranteed` (exclusive cores under the static CPU manager when the CPUs are whole), no
    /// requests `BestEffort`, anything else `Burstable`.
    pub qos_class: QosClass,
}

/// A Kubernetes pod's quality-of-service class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl PodResources {
    /// From the [`POD_RESOURCE_VARS`] that `var` looks up: `None` unless all four are set to
    /// whole numbers.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<PodResources> {
        let [cpu_request_millis, cpu_limit_millis, memory_request_bytes, memory_limit_bytes] =
            POD_RESOURCE_VARS.map(|v| var(v.name).and_then(|s| s.trim().parse::<u64>().ok()));
        let (cpu_request_millis, cpu_limit_millis, memory_request_bytes, memory_limit_bytes) =
            (cpu_request_millis?, cpu_limit_millis?, memory_request_bytes?, memory_limit_bytes?);
        let qos_class = if cpu_request_millis == 0 && memory_request_bytes == 0 {
            QosClass::BestEffort
        } else if cpu_request_millis == cpu_limit_millis && memory_request_bytes == memory_limit_bytes {
            QosClass::Guaranteed
        } else {
            QosClass::Burstable
        };
        Some(PodResources {
            cpu_request_millis,
            cpu_limit_millis,
            memory_request_bytes,
            memory_limit_bytes,
            qos_class,
        })
    }
}

fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn online_cpus() -> usize {
    // "0-1" or "0,2-5": count the CPUs in each range.
    let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/online") else {
        return 0;
    };
    text.trim()
        .split(',')
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some(b.parse::<usize>().ok()? - a.parse::<usize>().ok()? + 1),
            None => r.parse::<usize>().ok().map(|_| 1),
        })
        .sum()
}

fn container_evidence() -> Option<String> {
    if std::path::Path::new("/run/.containerenv").exists() {
        return Some("/run/.containerenv".into());
    }
    // Docker creates /.dockerenv, but a VM or machine image built from a container image can
    // carry one too: it counts only with the root on an overlay, as a container's is.
    if std::path::Path::new("/.dockerenv").exists()
        && crate::sys::filesystem_name(std::path::Path::new("/")) == "overlayfs"
    {
        return Some("/.dockerenv on an overlay root".into());
    }
    if let Ok(c) = std::env::var("container") {
        return Some(format!("container={c}"));
    }
    let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
    ["docker", "libpod", "containerd", "kubepods"]
        .iter()
        .find(|k| cgroup.contains(*k))
        .map(|k| format!("cgroup mentions {k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_describes_this_machine() {
        let e = Environment::detect();
        assert!(e.kernel.starts_with("Linux "), "{}", e.kernel);
        assert!(e.cores >= 1);
        assert!(!e.allowed_cpus.is_empty());
        assert_eq!(e.ipcbench_version, env!("CARGO_PKG_VERSION"));
    }

    fn resources(values: [&str; 4]) -> Option<PodResources> {
        PodResources::from_vars(|name| {
            let i = POD_RESOURCE_VARS.iter().position(|v| v.name == name).unwrap();
            Some(values[i].to_string()).filter(|v| !v.is_empty())
        })
    }

    #[test]
    fn pod_resources_name_the_qos_class_their_requests_and_limits_give() {
        let mib = 1 << 20;
        let g = resources(["1000", "1000", "268435456", "268435456"]).unwrap();
        assert_eq!(
            (g.cpu_request_millis, g.cpu_limit_millis, g.memory_request_bytes, g.memory_limit_bytes),
            (1000, 1000, 256 * mib, 256 * mib)
        );
        assert_eq!(g.qos_class, QosClass::Guaranteed);
        // No limit reads as the node's allocatable amount.
        assert_eq!(
            resources(["500", "4000", "268435456", "268435456"]).unwrap().qos_class,
            QosClass::Burstable
        );
        assert_eq!(resources(["1000", "1000", "0", "8589934592"]).unwrap().qos_class, QosClass::Burstable);
        assert_eq!(resources(["0", "4000", "0", "8589934592"]).unwrap().qos_class, QosClass::BestEffort);
        assert_eq!(resources(["1000", "1000", "", "268435456"]), None, "all four or nothing");
        assert_eq!(resources(["1", "1", "1Gi", "1Gi"]), None, "whole numbers in the unit named");
    }
}
