//! The Kubernetes manifests: `ipcbench kube pod` prints a Pod from typed structs, the shipped
//! `container/kube/pod.yaml` is exactly what it prints for the options its header names, and
//! `container/kube/cross-node.yaml` names the image, volumes and arguments a two-node run needs.
//! (`.ci/kube-test.sh` plays pod.yaml for real with `podman kube play`.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use common::{stderr_of, wait_for_exit, Scratch};

/// The image tag the manifests name, the one `run_container_server.sh build` makes.
const IMAGE: &str = concat!("localhost/ipcbench-client:", env!("CARGO_PKG_VERSION"));
/// The downward-API variables each container gets: (name, resource, divisor).
const RESOURCE_VARS: [(&str, &str, &str); 4] = [
    ("IPCBENCH_CPU_REQUEST_MILLIS", "requests.cpu", "1m"),
    ("IPCBENCH_CPU_LIMIT_MILLIS", "limits.cpu", "1m"),
    ("IPCBENCH_MEMORY_REQUEST_BYTES", "requests.memory", "1"),
    ("IPCBENCH_MEMORY_LIMIT_BYTES", "limits.memory", "1"),
];

fn ipcbench(args: &[&str]) -> std::process::Output {
    Command::new(assert_cmd::cargo::cargo_bin("ipcbench")).args(args).output().unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

fn container<'a>(pod_spec: &'a Value, name: &str) -> &'a Value {
    pod_spec["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect()
}

fn env_names(c: &Value) -> Vec<&str> {
    c["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect()
}

/// `c` requests what it is limited to, `cpu` whole CPUs and `memory`, and is told so through
/// the downward API: Guaranteed QoS, recorded in the summary.
fn assert_guaranteed(c: &Value, cpu: &str, memory: &str) {
    let what = c["name"].as_str().unwrap();
    assert_eq!(c["resources"]["requests"], c["resources"]["limits"], "{what}: requests = limits");
    assert_eq!(c["resources"]["limits"]["cpu"], cpu, "{what}");
    assert_eq!(c["resources"]["limits"]["memory"], memory, "{what}");
    for (name, resource, divisor) in RESOURCE_VARS {
        let var = c["env"].as_array().unwrap().iter().find(|e| e["name"] == name);
        let field = &var.unwrap_or_else(|| panic!("{what}: no {name}"))["valueFrom"]["resourceFieldRef"];
        assert_eq!((field["resource"].as_str(), field["divisor"].as_str()), (Some(resource), Some(divisor)));
    }
}

#[test]
fn a_generated_pod_shares_a_socket_emptydir_and_memory_backed_shm_and_passes_the_run_options() {
    let out = ipcbench(&[
        "kube",
        "pod",
        "--image",
        "registry.example/ipcbench:1",
        "--name",
        "bench",
        "-t",
        "uds,shm",
        "--wait",
        "spin",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod = yaml(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "bench");
    let spec = &pod["spec"];
    assert_eq!(spec["restartPolicy"], "Never");
    let volumes = spec["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["name"] == "sockets"
        && v["emptyDir"].is_object()
        && v["emptyDir"].get("medium").is_none()));
    assert!(volumes.iter().any(|v| v["name"] == "shm" && v["emptyDir"]["medium"] == "Memory"));
    for name in ["host", "client"] {
        let c = container(spec, name);
        assert_eq!(c["image"], "registry.example/ipcbench:1");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_guaranteed(c, "1", "256Mi");
        let mounts: Vec<(&str, &str)> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
            .collect();
        assert_eq!(mounts, [("sockets", "/app/sockets"), ("shm", "/dev/shm")]);
        assert_eq!(
            c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
            "POD_NAME for the topology"
        );
    }
    let host = strings(&container(spec, "host")["args"]);
    let fixed = [
        "host",
        "--socket-dir",
        "/app/sockets",
        "--shm-dir",
        "/dev/shm",
        "--trust-dirs",
        "--out",
        "-",
        "--quiet",
    ];
    assert_eq!(
        host[..fixed.len()],
        fixed,
        "emptyDirs are 0777 on a cluster: trusted, they are the pod's own"
    );
    assert_eq!(host[fixed.len()..], ["--transport=uds", "--transport=shm", "--wait=spin"]);
    assert_eq!(
        strings(&container(spec, "client")["args"]),
        ["client", "--socket-dir", "/app/sockets", "--trust-dirs"]
    );
}

#[test]
fn by_default_both_containers_run_this_versions_image_tag_which_a_node_that_has_it_does_not_pull() {
    let out = ipcbench(&["kube", "pod"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod = yaml(&String::from_utf8_lossy(&out.stdout));
    for name in ["host", "client"] {
        let c = container(&pod["spec"], name);
        assert_eq!(c["image"], IMAGE, "never :latest, which a cluster pulls on every start");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    }
}

#[test]
fn cpus_and_memory_are_each_containers_requests_and_limits_alike() {
    let out = ipcbench(&["kube", "pod", "--cpus", "2", "--memory-mib", "1024", "-t", "uds"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod = yaml(&String::from_utf8_lossy(&out.stdout));
    for name in ["host", "client"] {
        let c = container(&pod["spec"], name);
        assert_guaranteed(c, "2", "1024Mi");
        assert_eq!(env_names(c)[0], "POD_NAME");
    }
    let host = strings(&container(&pod["spec"], "host")["args"]);
    assert!(!host.iter().any(|a| a.contains("cpus") || a.contains("memory")), "not run options: {host:?}");
}

#[test]
fn options_the_manifest_decides_and_bad_values_are_refused() {
    for (args, needle) in [
        (&["kube", "pod", "--socket-dir", "/x"][..], "--socket-dir is the manifest's"),
        (&["kube", "pod", "--out", "r.json"][..], "--out is the manifest's"),
        (&["kube", "pod", "-t", "smoke-signals"][..], "invalid value 'smoke-signals'"),
        (&["kube", "pod", "--cpus", "0"][..], "invalid value '0' for '--cpus"),
        (&["kube", "pod", "--cpus", "1.5"][..], "invalid value '1.5' for '--cpus"),
        (&["kube", "pod", "--memory-mib", "256Mi"][..], "invalid value '256Mi' for '--memory-mib"),
    ] {
        let out = ipcbench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_shipped_pod_manifest_is_what_the_generator_prints() {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("container/kube/pod.yaml"))
            .unwrap();
    let made_by = shipped
        .lines()
        .find_map(|l| l.split_once("Made by `ipcbench "))
        .expect("the header names the command")
        .1;
    let cmd: Vec<&str> = made_by.split('`').next().unwrap().split_whitespace().collect();
    let out = ipcbench(&cmd);
    assert!(out.status.success());
    assert_eq!(
        yaml(&shipped),
        yaml(&String::from_utf8_lossy(&out.stdout)),
        "regenerate container/kube/pod.yaml"
    );
}

#[test]
fn the_cross_node_manifest_keeps_the_ends_apart_and_joins_them_over_tcp_with_a_token() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("container/kube/cross-node.yaml"))
            .unwrap();
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Secret", "Service", "Job", "Pod"]);
    let (service, job, pod) = (&docs[1], &docs[2], &docs[3]);
    assert_eq!(service["spec"]["clusterIP"], "None", "headless");
    let host_spec = &job["spec"]["template"]["spec"];
    assert_eq!(service["spec"]["selector"], job["spec"]["template"]["metadata"]["labels"]);
    let host = container(host_spec, "host");
    let args = strings(&host["args"]);
    assert!(args.windows(2).any(|w| w == ["--control", "tcp://0.0.0.0:7700"]), "{args:?}");
    assert!(args.contains(&"--transport=tcp,udp"), "only what crosses hosts: {args:?}");
    let client = container(&pod["spec"], "client");
    let cargs = strings(&client["args"]);
    assert!(cargs.windows(2).any(|w| w == ["--control", "tcp://ipcbench-host:7700"]), "{cargs:?}");
    for c in [host, client] {
        assert_eq!(c["image"], IMAGE);
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(env_names(c)[..3], ["IPCBENCH_TOKEN", "POD_NAME", "NODE_NAME"]);
        assert_eq!(c["env"][0]["valueFrom"]["secretKeyRef"]["name"], docs[0]["metadata"]["name"]);
        assert_guaranteed(c, "1", "256Mi");
    }
    let anti =
        &pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(anti["labelSelector"]["matchLabels"], job["spec"]["template"]["metadata"]["labels"]);
}

#[test]
fn the_pods_host_writes_the_json_summary_alone_so_its_log_is_a_result_file() {
    // The generated Pod's own arguments, its volumes replaced by scratch directories, and the
    // environment the kubelet gives: the host's stdout and stderr are what `kubectl logs` shows.
    let out = ipcbench(&["kube", "pod", "-t", "uds,shm", "-p", "round-trip", "-s", "64", "-n", "200"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pod = yaml(&String::from_utf8_lossy(&out.stdout));
    let s = Scratch::new();
    let shm = s.path("shm");
    std::fs::create_dir(&shm).unwrap();
    let args = |name: &str| -> Vec<String> {
        strings(&container(&pod["spec"], name)["args"])
            .into_iter()
            .map(|a| match a {
                "/app/sockets" => s.sockets().display().to_string(),
                "/dev/shm" => shm.display().to_string(),
                a => a.to_string(),
            })
            .collect()
    };
    let kubelet_env = [
        ("POD_NAME", "bench"),
        ("IPCBENCH_CPU_REQUEST_MILLIS", "1000"),
        ("IPCBENCH_CPU_LIMIT_MILLIS", "1000"),
        ("IPCBENCH_MEMORY_REQUEST_BYTES", "268435456"),
        ("IPCBENCH_MEMORY_LIMIT_BYTES", "268435456"),
    ];
    let bin = assert_cmd::cargo::cargo_bin("ipcbench");
    let mut client =
        Command::new(&bin).args(args("client")).envs(kubelet_env).stderr(Stdio::piped()).spawn().unwrap();
    let host = Command::new(&bin)
        .args(args("host"))
        .args(["--min-time", "0s", "--timeout-s", "5", "--client-timeout-s", "10"])
        .envs(kubelet_env)
        .output()
        .unwrap();
    assert!(wait_for_exit(&mut client, Duration::from_secs(10)).success(), "{}", stderr_of(&mut client));
    assert!(host.status.success(), "{}", String::from_utf8_lossy(&host.stderr));
    assert_eq!(String::from_utf8_lossy(&host.stderr), "", "--quiet: nothing on stderr when all goes well");
    let summary: Value = serde_json::from_slice(&host.stdout).expect("stdout is one JSON document");
    assert_eq!(summary["topology"], "pod-sidecar");
    assert_eq!(summary["runs"].as_array().unwrap().len(), 2);
    for side in ["environment", "peer_environment"] {
        let r = &summary[side]["pod_resources"];
        assert_eq!(r["cpu_request_millis"], 1000, "{side}");
        assert_eq!(r["memory_limit_bytes"], 268435456, "{side}");
        assert_eq!(r["qos_class"], "Guaranteed", "{side}");
    }
}

#[test]
fn a_fan_out_pod_gets_a_client_sidecar_per_subscriber_and_a_plain_one_gets_one() {
    let names = |args: &[&str]| -> Vec<String> {
        let out = ipcbench(&[&["kube", "pod"], args].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let pod = yaml(&String::from_utf8_lossy(&out.stdout));
        pod["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().into())
            .collect()
    };
    assert_eq!(names(&["-t", "shm"]), ["host", "client"]);
    assert_eq!(
        names(&["-t", "shm", "-p", "fan-out", "--subscribers", "1,3"]),
        ["host", "client", "client-2", "client-3"],
        "one sidecar per subscriber of the largest count"
    );
    let pod = yaml(&String::from_utf8_lossy(
        &ipcbench(&["kube", "pod", "-p", "many-clients", "--clients", "2", "-t", "uds"]).stdout,
    ));
    let sidecar = container(&pod["spec"], "client-2");
    assert_eq!(strings(&sidecar["args"])[0], "client");
    assert_eq!(sidecar["volumeMounts"], container(&pod["spec"], "client")["volumeMounts"]);
    let host = strings(&container(&pod["spec"], "host")["args"]).join(" ");
    assert!(host.contains("--clients=2") || host.contains("--clients 2"), "{host}");
}
