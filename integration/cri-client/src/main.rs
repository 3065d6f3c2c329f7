//! Drives containerd's CRI as the kubelet does, for one runtime handler, and prints one line
//! per check: `ok   NAME` or `FAIL NAME: why`. integration/cri.sh runs it once with handler
//! `runc` and once with `vrun`, and vrun must pass every check runc passes.
//!
//! vrun-cri-check SOCKET HANDLER IMAGE WORKDIR [ONLY]
//!
//! (and the measuring modes of integration/bench/shim.sh: see bench.rs)
//!
//! Each check removes the pods it made, also when it fails. Exit status: 0 when every check
//! passed, 1 otherwise.

mod bench;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::security_profile::ProfileType;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

type Check<T = ()> = Result<T, String>;

/// The namespace every pod of this run is made in, to list and clean up by.
const NAMESPACE: &str = "vrun-cri-check";

struct Cri {
    rt: RuntimeServiceClient<Channel>,
    handler: String,
    image: String,
    work: PathBuf,
    /// Pods made by the running check, removed after it whatever its outcome.
    pods: Vec<String>,
    seq: u32,
    /// A check or its cleanup did not finish: containerd is still waiting on the runtime.
    wedged: bool,
}

fn err(e: tonic::Status) -> String {
    format!("{}: {}", e.code(), e.message())
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

impl Cri {
    fn name(&mut self, what: &str) -> String {
        self.seq += 1;
        format!("{what}-{}-{}", self.handler, self.seq)
    }

    fn pod_config(
        &mut self,
        what: &str,
        ns: NamespaceOption,
        privileged: bool,
    ) -> PodSandboxConfig {
        let name = self.name(what);
        let logs = self.work.join("logs").join(&name);
        PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.clone(),
                uid: format!("{name}-uid"),
                namespace: NAMESPACE.into(),
                attempt: 0,
            }),
            hostname: name.clone(),
            log_directory: logs.to_string_lossy().into_owned(),
            linux: Some(LinuxPodSandboxConfig {
                // relative: under the caller's own cgroup, as a kubelet's kubepods/...
                cgroup_parent: format!("vrun-cri/{name}"),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(ns),
                    privileged,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn run_pod(&mut self, config: &PodSandboxConfig) -> Check<String> {
        let id = self
            .rt
            .run_pod_sandbox(RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: self.handler.clone(),
            })
            .await
            .map_err(err)?
            .into_inner()
            .pod_sandbox_id;
        self.pods.push(id.clone());
        Ok(id)
    }

    /// A pod of the kubelet's default namespaces (network and ipc of the pod, pid of each
    /// container).
    async fn pod(&mut self, what: &str) -> Check<(String, PodSandboxConfig)> {
        let config = self.pod_config(what, default_ns(), false);
        let id = self.run_pod(&config).await?;
        Ok((id, config))
    }

    fn container_config(&mut self, what: &str, cmd: &[&str]) -> ContainerConfig {
        let name = self.name(what);
        ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: name.clone(),
                attempt: 0,
            }),
            image: Some(ImageSpec {
                image: self.image.clone(),
                ..Default::default()
            }),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}.log"),
            linux: Some(LinuxContainerConfig {
                security_context: Some(LinuxContainerSecurityContext::default()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn start(
        &mut self,
        pod: &str,
        pod_config: &PodSandboxConfig,
        mut c: ContainerConfig,
    ) -> Check<String> {
        // as the kubelet: the container's namespaces are the pod's
        let pod_ns = pod_config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|s| s.namespace_options.clone());
        security(&mut c).namespace_options = pod_ns;
        let id = self
            .rt
            .create_container(CreateContainerRequest {
                pod_sandbox_id: pod.into(),
                config: Some(c),
                sandbox_config: Some(pod_config.clone()),
            })
            .await
            .map_err(|e| format!("create: {}", err(e)))?
            .into_inner()
            .container_id;
        self.rt
            .start_container(StartContainerRequest {
                container_id: id.clone(),
            })
            .await
            .map_err(|e| format!("start: {}", err(e)))?;
        Ok(id)
    }

    /// A running container of `cmd` in a new pod of the default namespaces, with `edit`
    /// applied to its config (and the pod's privileged flag set to match).
    async fn one(
        &mut self,
        what: &str,
        cmd: &[&str],
        edit: impl FnOnce(&mut ContainerConfig),
    ) -> Check<String> {
        let mut c = self.container_config(what, cmd);
        edit(&mut c);
        let privileged = c
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .is_some_and(|s| s.privileged);
        let config = self.pod_config(what, default_ns(), privileged);
        let pod = self.run_pod(&config).await?;
        self.start(&pod, &config, c).await
    }

    async fn pod_status(&mut self, id: &str) -> Check<PodSandboxStatus> {
        self.rt
            .pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(err)?
            .into_inner()
            .status
            .ok_or_else(|| "no pod status".to_string())
    }

    async fn status(&mut self, id: &str) -> Check<ContainerStatus> {
        self.rt
            .container_status(ContainerStatusRequest {
                container_id: id.into(),
                verbose: false,
            })
            .await
            .map_err(err)?
            .into_inner()
            .status
            .ok_or_else(|| "no status".to_string())
    }

    async fn wait_exited(&mut self, id: &str, within: Duration) -> Check<ContainerStatus> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(id).await?;
            if s.state == ContainerState::ContainerExited as i32 {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(format!("still in state {} after {within:?}", s.state));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn exec(&mut self, id: &str, cmd: &[&str], timeout: i64) -> Check<(i32, String, String)> {
        let r = self
            .rt
            .exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout,
            })
            .await
            .map_err(|e| format!("exec {cmd:?}: {}", err(e)))?
            .into_inner();
        Ok((
            r.exit_code,
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        ))
    }

    /// The output of a shell script that must succeed.
    async fn sh(&mut self, id: &str, script: &str) -> Check<String> {
        let (code, out, e) = self.exec(id, &["sh", "-c", script], 20).await?;
        ensure(code == 0, || format!("`{script}` exited {code}: {out}{e}"))?;
        Ok(out.trim().to_string())
    }

    async fn remove_pod(&mut self, id: &str) -> Check {
        self.rt
            .stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .map_err(|e| format!("stop pod: {}", err(e)))?;
        self.rt
            .remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            })
            .await
            .map_err(|e| format!("remove pod: {}", err(e)))?;
        Ok(())
    }

    async fn cleanup(&mut self) -> Check {
        let mut first = Ok(());
        for id in std::mem::take(&mut self.pods) {
            if let Err(e) = self.remove_pod(&id).await {
                first = first.and(Err(e));
            }
        }
        first
    }

    async fn our_pods(&mut self) -> Check<Vec<PodSandbox>> {
        let pods = self
            .rt
            .list_pod_sandbox(ListPodSandboxRequest { filter: None })
            .await
            .map_err(err)?
            .into_inner()
            .items;
        Ok(pods
            .into_iter()
            .filter(|p| {
                p.metadata
                    .as_ref()
                    .is_some_and(|m| m.namespace == NAMESPACE)
            })
            .collect())
    }
}

fn ns(network: NamespaceMode, pid: NamespaceMode, ipc: NamespaceMode) -> NamespaceOption {
    NamespaceOption {
        network: network as i32,
        pid: pid as i32,
        ipc: ipc as i32,
        ..Default::default()
    }
}

/// What the kubelet asks for a pod without shareProcessNamespace or host namespaces.
fn default_ns() -> NamespaceOption {
    ns(
        NamespaceMode::Pod,
        NamespaceMode::Container,
        NamespaceMode::Pod,
    )
}

fn security(c: &mut ContainerConfig) -> &mut LinuxContainerSecurityContext {
    c.linux
        .get_or_insert_with(Default::default)
        .security_context
        .get_or_insert_with(Default::default)
}

/// The effective capability mask of a container's shell, from /proc/self/status.
fn cap_eff(status: &str) -> Check<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .ok_or_else(|| format!("no CapEff in {status}"))?;
    u64::from_str_radix(hex.trim(), 16).map_err(|e| e.to_string())
}

const SLEEP: &[&str] = &["sleep", "1000"];
/// A container that exits at once on SIGTERM.
const TERMINABLE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 7' TERM; while true; do sleep 0.1; done",
];

async fn pod_lifecycle(c: &mut Cri) -> Check {
    let (id, _) = c.pod("lifecycle").await?;
    let s = c.pod_status(&id).await?;
    ensure(s.state == PodSandboxState::SandboxReady as i32, || {
        format!("pod state {}", s.state)
    })?;
    ensure(c.our_pods().await?.iter().any(|p| p.id == id), || {
        "the pod is not listed".into()
    })?;
    c.rt.stop_pod_sandbox(StopPodSandboxRequest {
        pod_sandbox_id: id.clone(),
    })
    .await
    .map_err(|e| format!("stop: {}", err(e)))?;
    let s = c.pod_status(&id).await?;
    ensure(s.state == PodSandboxState::SandboxNotready as i32, || {
        format!("stopped pod state {}", s.state)
    })?;
    c.rt.remove_pod_sandbox(RemovePodSandboxRequest {
        pod_sandbox_id: id.clone(),
    })
    .await
    .map_err(|e| format!("remove: {}", err(e)))?;
    c.pods.retain(|p| *p != id);
    ensure(!c.our_pods().await?.iter().any(|p| p.id == id), || {
        "the removed pod is still listed".into()
    })
}

async fn shared_namespaces(c: &mut Cri) -> Check {
    let (pod, config) = c.pod("shared").await?;
    let mut seen = Vec::new();
    for name in ["one", "two"] {
        let cc = c.container_config(name, SLEEP);
        let id = c.start(&pod, &config, cc).await?;
        seen.push(
            c.sh(
                &id,
                "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; hostname",
            )
            .await?,
        );
    }
    ensure(seen[0].lines().count() == 5, || {
        format!("namespaces: {seen:?}")
    })?;
    ensure(seen[0].lines().take(3).eq(seen[1].lines().take(3)), || {
        format!("net/ipc/uts differ: {seen:?}")
    })?;
    ensure(seen[0].lines().nth(3) != seen[1].lines().nth(3), || {
        format!("pid namespaces are shared: {seen:?}")
    })?;
    ensure(
        seen[0].lines().last() == Some(config.hostname.as_str()),
        || format!("hostname: {seen:?}"),
    )
}

async fn pid_namespaces(c: &mut Cri) -> Check {
    // pid: POD: the pod's pause process is pid 1 for the container too
    let config = c.pod_config(
        "pidpod",
        ns(NamespaceMode::Pod, NamespaceMode::Pod, NamespaceMode::Pod),
        false,
    );
    let pod = c.run_pod(&config).await?;
    let cc = c.container_config("p", SLEEP);
    let id = c.start(&pod, &config, cc).await?;
    let one = c.sh(&id, "tr '\\0' ' ' </proc/1/cmdline").await?;
    ensure(one.contains("catatonit"), || {
        format!("pid: POD, pid 1 is `{one}`, not the pause process")
    })?;
    let ps = c.sh(&id, "ps -o comm").await?;
    ensure(ps.contains("sleep"), || format!("ps: {ps}"))?;
    // pid: CONTAINER: the container's own command is pid 1
    let config = c.pod_config(
        "pidctr",
        ns(
            NamespaceMode::Pod,
            NamespaceMode::Container,
            NamespaceMode::Pod,
        ),
        false,
    );
    let pod = c.run_pod(&config).await?;
    let cc = c.container_config("c", SLEEP);
    let id = c.start(&pod, &config, cc).await?;
    let one = c.sh(&id, "tr '\\0' ' ' </proc/1/cmdline").await?;
    ensure(one.trim() == "sleep 1000", || {
        format!("pid: CONTAINER, pid 1 is `{one}`")
    })
}

async fn exit_status_and_logs(c: &mut Cri) -> Check {
    let (pod, config) = c.pod("exit").await?;
    let cc = c.container_config("exit", &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let log = PathBuf::from(&config.log_directory).join(&cc.log_path);
    let id = c.start(&pod, &config, cc).await?;
    let s = c.wait_exited(&id, Duration::from_secs(20)).await?;
    ensure(s.exit_code == 3, || format!("exit code {}", s.exit_code))?;
    ensure(s.reason == "Error", || format!("reason {:?}", s.reason))?;
    // (containerd may stamp a quick exit before the start: both are only checked to be set)
    ensure(s.started_at > 0 && s.finished_at >= s.created_at, || {
        format!(
            "created {} started {} finished {}",
            s.created_at, s.started_at, s.finished_at
        )
    })?;
    // the CRI log format: TIMESTAMP STREAM TAG MESSAGE
    let text = std::fs::read_to_string(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.splitn(4, ' ').collect()).collect();
    let has = |stream: &str, msg: &str| {
        lines.iter().any(|l| {
            l.len() == 4 && l[1] == stream && l[2] == "F" && l[3] == msg && l[0].contains('T')
        })
    };
    ensure(has("stdout", "out") && has("stderr", "err"), || {
        format!("log: {text:?}")
    })
}

async fn exec_sync(c: &mut Cri) -> Check {
    let id = c.one("exec", SLEEP, |_| {}).await?;
    let (code, out, e) = c
        .exec(&id, &["sh", "-c", "echo hi; echo oops >&2; exit 2"], 10)
        .await?;
    ensure(
        (code, out.as_str(), e.as_str()) == (2, "hi\n", "oops\n"),
        || format!("{code} {out:?} {e:?}"),
    )?;
    // a timeout ends the call on time (an error or a failed status, as containerd reports it)
    let t0 = Instant::now();
    let timed_out = match c.exec(&id, &["sleep", "30"], 1).await {
        Err(e) => e.contains("timeout") || e.contains("deadline") || e.contains("Deadline"),
        Ok((code, ..)) => code != 0,
    };
    let took = t0.elapsed();
    ensure(timed_out && took < Duration::from_secs(15), || {
        format!("timeout 1 s: ended after {took:?} (timed out: {timed_out})")
    })
}

async fn exec_streaming_url(c: &mut Cri) -> Check {
    let id = c.one("stream", SLEEP, |_| {}).await?;
    let url =
        c.rt.exec(ExecRequest {
            container_id: id,
            cmd: vec!["echo".into(), "hi".into()],
            stdout: true,
            stderr: true,
            ..Default::default()
        })
        .await
        .map_err(err)?
        .into_inner()
        .url;
    ensure(url.starts_with("http://"), || format!("url {url:?}"))
}

async fn stats(c: &mut Cri) -> Check {
    let id = c
        .one(
            "stats",
            &[
                "sh",
                "-c",
                "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec sleep 1000",
            ],
            |_| {},
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let s =
        c.rt.container_stats(ContainerStatsRequest { container_id: id })
            .await
            .map_err(err)?
            .into_inner()
            .stats
            .ok_or("no stats")?;
    let cpu = s
        .cpu
        .and_then(|c| c.usage_core_nano_seconds)
        .map(|v| v.value)
        .unwrap_or(0);
    let mem = s
        .memory
        .and_then(|m| m.working_set_bytes)
        .map(|v| v.value)
        .unwrap_or(0);
    ensure(cpu > 0 && mem > 0, || {
        format!("cpu {cpu} ns, memory working set {mem}")
    })
}

/// What the container's own cgroup files say: memory limit, cpu shares (or weight) and quota.
const CGROUP_LIMITS: &str = "cd /sys/fs/cgroup; \
    if [ -d memory ]; then cat memory/memory.limit_in_bytes cpu/cpu.shares cpu/cpu.cfs_quota_us; \
    else cat memory.max cpu.weight; cut -d' ' -f1 cpu.max; fi";

async fn update_resources(c: &mut Cri) -> Check {
    let id = c.one("update", SLEEP, |_| {}).await?;
    c.rt.update_container_resources(UpdateContainerResourcesRequest {
        container_id: id.clone(),
        linux: Some(LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_shares: 512,
            cpu_quota: 50000,
            cpu_period: 100000,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .map_err(err)?;
    let seen = c.sh(&id, CGROUP_LIMITS).await?;
    let lines: Vec<&str> = seen.lines().collect();
    // cgroup v2 weight of 512 shares: 1 + (512 - 2) * 9999 / 262142 = 20
    let ok = lines == ["67108864", "512", "50000"] || lines == ["67108864", "20", "50000"];
    ensure(ok, || format!("limits inside: {lines:?}"))
}

async fn stop_with_timeout(c: &mut Cri) -> Check {
    // pid 1 ignores SIGTERM it has no handler for: SIGKILL after the 2 s timeout
    let id = c.one("stopkill", SLEEP, |_| {}).await?;
    let t0 = Instant::now();
    c.rt.stop_container(StopContainerRequest {
        container_id: id.clone(),
        timeout: 2,
    })
    .await
    .map_err(|e| format!("stop: {}", err(e)))?;
    let took = t0.elapsed();
    let s = c.status(&id).await?;
    ensure(
        s.state == ContainerState::ContainerExited as i32 && s.exit_code == 137,
        || format!("state {} exit {}", s.state, s.exit_code),
    )?;
    ensure(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        || format!("stop took {took:?}"),
    )?;
    // a handler of SIGTERM exits at once, with its own status
    let id = c.one("stopterm", TERMINABLE, |_| {}).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    c.rt.stop_container(StopContainerRequest {
        container_id: id.clone(),
        timeout: 30,
    })
    .await
    .map_err(|e| format!("stop: {}", err(e)))?;
    let took = t0.elapsed();
    let s = c.status(&id).await?;
    ensure(s.exit_code == 7 && took < Duration::from_secs(5), || {
        format!("exit {} after {took:?}", s.exit_code)
    })?;
    // and remove
    c.rt.remove_container(RemoveContainerRequest {
        container_id: id.clone(),
    })
    .await
    .map_err(|e| format!("remove: {}", err(e)))?;
    ensure(c.status(&id).await.is_err(), || {
        "the removed container still has a status".into()
    })
}

async fn oom_killed(c: &mut Cri) -> Check {
    // tmpfs pages cannot be reclaimed without swap: filling /dev/shm past the limit, by the
    // container's main process
    let id = c
        .one(
            "oom",
            &[
                "sh",
                "-c",
                "sleep 1; exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=64",
            ],
            |cc| {
                cc.linux.get_or_insert_with(Default::default).resources =
                    Some(LinuxContainerResources {
                        memory_limit_in_bytes: 24 << 20,
                        ..Default::default()
                    });
            },
        )
        .await?;
    let s = c.wait_exited(&id, Duration::from_secs(30)).await?;
    ensure(s.reason == "OOMKilled", || {
        format!("reason {:?}, exit {}", s.reason, s.exit_code)
    })
}

async fn run_as_user_and_readonly_rootfs(c: &mut Cri) -> Check {
    let id = c
        .one("user", SLEEP, |cc| {
            let s = security(cc);
            s.run_as_user = Some(Int64Value { value: 1000 });
            s.readonly_rootfs = true;
        })
        .await?;
    let uid = c.sh(&id, "id -u").await?;
    ensure(uid == "1000", || format!("id -u: {uid}"))?;
    let (code, _, e) = c.exec(&id, &["touch", "/newfile"], 10).await?;
    ensure(code != 0 && e.contains("Read-only"), || {
        format!("touch /newfile: {code} {e}")
    })?;
    // the pod's /dev/shm stays writable
    c.sh(&id, "echo x > /dev/shm/x").await.map(|_| ())
}

async fn capabilities(c: &mut Cri) -> Check {
    let id = c
        .one("caps", SLEEP, |cc| {
            security(cc).capabilities = Some(Capability {
                add_capabilities: vec!["NET_ADMIN".into()],
                drop_capabilities: vec!["ALL".into()],
                ..Default::default()
            });
        })
        .await?;
    let caps = cap_eff(&c.sh(&id, "cat /proc/self/status").await?)?;
    ensure(caps == 1 << 12, || {
        format!("drop ALL add NET_ADMIN: CapEff {caps:#x}")
    })?;
    let id = c
        .one("privileged", SLEEP, |cc| security(cc).privileged = true)
        .await?;
    let caps = cap_eff(&c.sh(&id, "cat /proc/self/status").await?)?;
    ensure(caps & (1 << 21) != 0, || {
        format!("privileged: CapEff {caps:#x} lacks SYS_ADMIN")
    })?;
    let devices = c.sh(&id, "ls /dev | wc -l").await?;
    let n: u32 = devices.parse().unwrap_or(0);
    ensure(n > 20, || {
        format!("privileged: /dev holds {n} entries, not the host's")
    })?;
    // and nothing masked: /proc/timer_list (masked by default) is the kernel's, not /dev/null
    let size = c.sh(&id, "wc -c < /proc/timer_list").await?;
    ensure(size != "0", || {
        "privileged: /proc/timer_list is masked".into()
    })
}

async fn no_new_privs_and_seccomp(c: &mut Cri) -> Check {
    let id = c
        .one("nnp", SLEEP, |cc| {
            let s = security(cc);
            s.no_new_privs = true;
            s.seccomp = Some(SecurityProfile {
                profile_type: ProfileType::RuntimeDefault as i32,
                ..Default::default()
            });
        })
        .await?;
    let status = c.sh(&id, "cat /proc/self/status").await?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    ensure(field("NoNewPrivs:") == "1", || {
        format!("NoNewPrivs {}", field("NoNewPrivs:"))
    })?;
    ensure(field("Seccomp:") == "2", || {
        format!("Seccomp {}", field("Seccomp:"))
    })?;
    // RuntimeDefault refuses what containerd's profile refuses to an unprivileged container
    let (code, _, _) = c.exec(&id, &["sh", "-c", "unshare -U true"], 10).await?;
    ensure(code != 0, || {
        "unshare -U worked under RuntimeDefault".into()
    })
}

async fn masked_and_readonly_paths(c: &mut Cri) -> Check {
    let id = c
        .one("paths", SLEEP, |cc| {
            let s = security(cc);
            s.masked_paths = vec!["/proc/kcore".into(), "/proc/cpuinfo".into()];
            s.readonly_paths = vec!["/proc/sys".into()];
        })
        .await?;
    let cpuinfo = c.sh(&id, "wc -c < /proc/cpuinfo").await?;
    ensure(cpuinfo == "0", || {
        format!("masked /proc/cpuinfo has {cpuinfo} bytes")
    })?;
    let (code, _, _) = c
        .exec(
            &id,
            &["sh", "-c", "echo vrun > /proc/sys/kernel/domainname"],
            10,
        )
        .await?;
    ensure(code != 0, || "read-only /proc/sys took a write".into())
}

async fn twenty_pods(c: &mut Cri) -> Check {
    for i in 0..20 {
        let (pod, config) = c.pod(&format!("loop{i}")).await?;
        let cc = c.container_config("loop", TERMINABLE);
        c.start(&pod, &config, cc).await?;
        c.remove_pod(&pod).await?;
        c.pods.retain(|p| *p != pod);
    }
    let left = c.our_pods().await?;
    ensure(left.is_empty(), || format!("{} pods left", left.len()))?;
    let containers =
        c.rt.list_containers(ListContainersRequest { filter: None })
            .await
            .map_err(err)?
            .into_inner()
            .containers;
    ensure(containers.is_empty(), || {
        format!("{} containers left", containers.len())
    })
}

/// How long a check, and then the removal of its pods, may take: a runtime that leaves
/// containerd waiting (as one whose `kill` answers containerd does not understand) fails the
/// check instead of stalling the run.
const CHECK_LIMIT: Duration = Duration::from_secs(180);
const CLEANUP_LIMIT: Duration = Duration::from_secs(60);
const UNFINISHED: &str = "did not finish";

async fn bounded<T>(
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = Check<T>>,
) -> Check<T> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(format!("{what} {UNFINISHED} within {limit:?}")))
}

async fn connect(socket: String) -> Result<Channel, String> {
    Endpoint::try_from("http://[::]")
        .map_err(|e| e.to_string())?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .map_err(|e| e.to_string())
}

/// A client of containerd's CRI at `socket`; exits 2 when it cannot connect.
async fn client(socket: &str, handler: String, image: &str, work: &str) -> Cri {
    let channel = match connect(socket.to_string()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vrun-cri-check: connect to {socket}: {e}");
            std::process::exit(2);
        }
    };
    Cri {
        rt: RuntimeServiceClient::new(channel),
        handler,
        image: image.to_string(),
        work: PathBuf::from(work),
        pods: Vec::new(),
        seq: 0,
        wedged: false,
    }
}

/// The measuring modes (bench.rs): `--MODE SOCKET IMAGE WORKDIR ARGS...`.
async fn bench_mode(args: &[String]) -> ! {
    let usage = || -> ! {
        eprintln!("usage: vrun-cri-check --start-latency|--pods|--cycles SOCKET IMAGE WORKDIR ...");
        std::process::exit(2)
    };
    if args.len() < 6 {
        usage();
    }
    let mut c = client(&args[2], String::new(), &args[3], &args[4]).await;
    let number = |i: usize| -> usize {
        match args.get(i).and_then(|a| a.parse().ok()) {
            Some(n) => n,
            None => usage(),
        }
    };
    let outcome = match args[1].as_str() {
        "--start-latency" => bench::start_latency(&mut c, number(5), &args[6..]).await,
        "--pods" if args.len() == 8 => {
            c.handler = args[5].clone();
            bench::pods(&mut c, number(6), number(7)).await
        }
        "--cycles" if args.len() == 7 => {
            c.handler = args[5].clone();
            bench::cycles(&mut c, number(6)).await
        }
        _ => usage(),
    };
    if let Err(e) = outcome {
        eprintln!("vrun-cri-check {}: {e}", args[1]);
        let _ = c.cleanup().await;
        std::process::exit(1);
    }
    std::process::exit(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a.starts_with("--")) {
        bench_mode(&args).await;
    }
    if args.len() < 5 {
        eprintln!("usage: vrun-cri-check SOCKET HANDLER IMAGE WORKDIR [ONLY]");
        std::process::exit(2);
    }
    let mut c = client(&args[1], args[2].clone(), &args[3], &args[4]).await;
    let only = args.get(5).cloned();
    let mut failed = 0;
    let mut results: HashMap<&str, bool> = HashMap::new();
    macro_rules! checks {
        ($($name:literal => $f:ident),* $(,)?) => {$(
            if only.as_deref().is_none_or(|o| $name.contains(o)) {
                let outcome = match c.wedged {
                    // containerd is still waiting on the runtime: the rest would wait too
                    true => Err("not run: an earlier check did not finish".to_string()),
                    false => {
                        let outcome = bounded("the check", CHECK_LIMIT, $f(&mut c)).await;
                        let cleaned =
                            bounded("removing its pods", CLEANUP_LIMIT, c.cleanup()).await;
                        c.wedged = [&outcome, &cleaned]
                            .iter()
                            .any(|r| r.as_ref().is_err_and(|e| e.contains(UNFINISHED)));
                        outcome.and(cleaned)
                    }
                };
                match outcome {
                    Ok(()) => println!("ok   {}", $name),
                    Err(e) => {
                        failed += 1;
                        println!("FAIL {}: {}", $name, e.replace('\n', " | "));
                    }
                }
                results.insert($name, true);
            }
        )*};
    }
    checks! {
        "pod sandbox: run, status, list, stop, remove" => pod_lifecycle,
        "two containers share the pod's network, ipc and uts namespaces" => shared_namespaces,
        "pid: POD shares the pod's pid namespace, pid: CONTAINER has its own" => pid_namespaces,
        "a container that exits: status, exit code, reason, finishedAt, CRI logs" => exit_status_and_logs,
        "ExecSync: output, exit status, timeout" => exec_sync,
        "Exec: a streaming URL" => exec_streaming_url,
        "ContainerStats: cpu and memory" => stats,
        "UpdateContainerResources: memory, cpu shares and quota, seen inside" => update_resources,
        "StopContainer: SIGTERM, SIGKILL after the timeout; RemoveContainer" => stop_with_timeout,
        "a container killed by its memory limit: reason OOMKilled" => oom_killed,
        "security context: run_as_user, read-only rootfs" => run_as_user_and_readonly_rootfs,
        "security context: capabilities drop ALL + add, privileged" => capabilities,
        "security context: no_new_privs, seccomp RuntimeDefault" => no_new_privs_and_seccomp,
        "security context: masked and read-only paths" => masked_and_readonly_paths,
        "20 pods created and removed in a loop leave no pod or container" => twenty_pods,
    }
    println!("{} checks, {failed} failed", results.len());
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
