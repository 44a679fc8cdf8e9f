//! Kubernetes manifests for ipcbench, built from typed structs (only the fields ipcbench uses)
//! and written as YAML by serde: `ipcbench kube pod` prints the Pod that
//! `container/kube/pod.yaml` is, for the options given.
//!
//! The Pod: restartPolicy Never; containers `host` (`ipcbench host`, the JSON summary on its
//! stdout, so in its log) and `client` (`ipcbench client`, which ends when the host says bye);
//! an `emptyDir` for the socket directory at `/app/sockets` and a memory-backed `emptyDir` at
//! `/dev/shm` for the shared-memory rings; `POD_NAME` from the downward API on both sides, so
//! the summary's topology says `pod-sidecar`. Both sides pass `--trust-dirs`: Kubernetes makes
//! emptyDirs mode 0777, which ipcbench otherwise refuses, and only this pod's containers reach
//! them.
//!
//! Each container requests whole CPUs and a memory amount equal to its limits, so the Pod is
//! Guaranteed QoS and a kubelet with the static CPU manager gives each container cores of its
//! own; the downward API tells ipcbench what it got ([`POD_RESOURCE_VARS`]), and the summary
//! records it. The image is a fixed tag, this version's by default, pulled only when the node
//! lacks it (`IfNotPresent`): `:latest` would make a cluster pull on every start.

use std::collections::BTreeMap;
use std::ffi::OsString;

use serde::Serialize;

use crate::measure::env::POD_RESOURCE_VARS;

/// The image `run_container_server.sh build` makes: tagged with this version, never `latest`.
pub const IMAGE: &str = concat!("localhost/ipcbench-client:", env!("CARGO_PKG_VERSION"));

/// Where the pod mounts the shared socket directory.
pub const SOCKET_DIR: &str = "/app/sockets";
/// Where the pod mounts its memory-backed volume for shm rings.
pub const SHM_DIR: &str = "/dev/shm";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: PodSpec,
}

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub restart_policy: String,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    /// `IfNotPresent`: a node that has the image uses it.
    pub image_pull_policy: String,
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub resources: Resources,
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value_from: EnvSource,
}

/// Where a variable's value comes from: one of the two is set.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvSource {
    /// A field of the pod (`metadata.name`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
    /// A resource of this container (`limits.cpu`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldRef>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldRef {
    pub resource: String,
    /// The unit the value is given in (`1m`: millicores, `1`: bytes).
    pub divisor: String,
}

/// A container's resources: equal requests and limits.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

/// Quantities in Kubernetes notation (`"1"` CPU, `"256Mi"`).
#[derive(Debug, Clone, Serialize)]
pub struct ResourceList {
    pub cpu: String,
    pub memory: String,
}

impl Resources {
    /// Requests equal to limits, whole CPUs: what Guaranteed QoS and exclusive cores ask.
    pub fn guaranteed(cpus: u32, memory_mib: u64) -> Resources {
        let list = ResourceList { cpu: cpus.to_string(), memory: format!("{memory_mib}Mi") };
        Resources { requests: list.clone(), limits: list }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub empty_dir: EmptyDir,
}

#[derive(Debug, Default, Serialize)]
pub struct EmptyDir {
    /// `Memory` for a tmpfs; absent for the node's disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
}

/// The Pod for `image`, named `name`, each container with `resources`, whose host runs with
/// `run_args` (run options as `--flag=value`), with `clients` client sidecars (`client`,
/// `client-2`, ...: one per subscriber, publisher or client of a fan-out, fan-in or
/// many-clients run; one otherwise).
pub fn pod(name: &str, image: &str, resources: &Resources, run_args: &[OsString], clients: usize) -> Pod {
    let mounts = || {
        vec![
            VolumeMount { name: "sockets".into(), mount_path: SOCKET_DIR.into() },
            VolumeMount { name: "shm".into(), mount_path: SHM_DIR.into() },
        ]
    };
    // metadata.name works with podman kube play too; spec.nodeName only on a cluster.
    let env = || {
        let pod_name = EnvVar {
            name: "POD_NAME".into(),
            value_from: EnvSource {
                field_ref: Some(FieldRef { field_path: "metadata.name".into() }),
                ..EnvSource::default()
            },
        };
        let resources = POD_RESOURCE_VARS.iter().map(|v| EnvVar {
            name: v.name.into(),
            value_from: EnvSource {
                resource_field_ref: Some(ResourceFieldRef {
                    resource: v.resource.into(),
                    divisor: v.divisor.into(),
                }),
                ..EnvSource::default()
            },
        });
        std::iter::once(pod_name).chain(resources).collect::<Vec<_>>()
    };
    let container = |name: &str, args: Vec<String>| Container {
        name: name.into(),
        image: image.into(),
        image_pull_policy: "IfNotPresent".into(),
        args,
        env: env(),
        resources: resources.clone(),
        volume_mounts: mounts(),
    };
    let mut host_args: Vec<String> =
        ["host", "--socket-dir", SOCKET_DIR, "--shm-dir", SHM_DIR, "--trust-dirs", "--out", "-", "--quiet"]
            .map(String::from)
            .to_vec();
    host_args.extend(run_args.iter().map(|a| a.to_string_lossy().into_owned()));
    Pod {
        api_version: "v1".into(),
        kind: "Pod".into(),
        metadata: Metadata { name: name.into(), labels: BTreeMap::from([("app".into(), "ipcbench".into())]) },
        spec: PodSpec {
            restart_policy: "Never".into(),
            containers: std::iter::once(container("host", host_args))
                .chain((1..=clients.max(1)).map(|i| {
                    container(
                        &if i == 1 { "client".to_string() } else { format!("client-{i}") },
                        ["client", "--socket-dir", SOCKET_DIR, "--trust-dirs"].map(String::from).to_vec(),
                    )
                }))
                .collect(),
            volumes: vec![
                Volume { name: "sockets".into(), empty_dir: EmptyDir::default() },
                Volume { name: "shm".into(), empty_dir: EmptyDir { medium: Some("Memory".into()) } },
            ],
        },
    }
}

/// The manifest as YAML.
pub fn to_yaml(p: &Pod) -> String {
    serde_yaml_ng::to_string(p).expect("a manifest always serializes")
}
