//! The measuring modes integration/bench/shim.sh drives (the shims' numbers of issue 24), on
//! the same client as the checks, so that a pod is made as the kubelet makes one:
//!
//! vrun-cri-check --start-latency SOCKET IMAGE WORKDIR ROUNDS HANDLER...
//!     per round, for each handler in turn (the order rotated each round): RunPodSandbox,
//!     CreateContainer and StartContainer of a `sleep` container, timed until StartContainer
//!     returns (the container running); one line `start HANDLER MILLISECONDS` each; the pod
//!     is removed after, untimed
//! vrun-cri-check --pods SOCKET IMAGE WORKDIR HANDLER N CONTAINERS
//!     N pods (with CONTAINERS `sleep` containers each, 0 for idle pods), a line `pod ID` each,
//!     then `ready`; removes them once stdin ends, then `removed`
//! vrun-cri-check --cycles SOCKET IMAGE WORKDIR HANDLER N
//!     one pod (`pod ID`) with one container made and removed (a warm-up), `ready`; at a line
//!     on stdin, N cycles of create, start, stop and remove of a `sleep` container, then
//!     `done`; removes the pod once stdin ends, then `removed`

use std::io::BufRead;
use std::time::Instant;

use k8s_cri::v1::*;

use crate::{default_ns, err, Check, Cri};

const SLEEP: &[&str] = &["sleep", "100000"];

pub async fn start_latency(c: &mut Cri, rounds: usize, handlers: &[String]) -> Check {
    for round in 0..rounds {
        for i in 0..handlers.len() {
            c.handler = handlers[(round + i) % handlers.len()].clone();
            let t0 = Instant::now();
            let config = c.pod_config("bench", default_ns(), false);
            let pod = c.run_pod(&config).await?;
            let container = c.container_config("bench", SLEEP);
            c.start(&pod, &config, container).await?;
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            println!("start {} {ms:.2}", c.handler);
            c.cleanup().await?;
        }
    }
    Ok(())
}

pub async fn pods(c: &mut Cri, n: usize, containers: usize) -> Check {
    for _ in 0..n {
        let config = c.pod_config("idle", default_ns(), false);
        let pod = c.run_pod(&config).await?;
        for _ in 0..containers {
            let container = c.container_config("idle", SLEEP);
            c.start(&pod, &config, container).await?;
        }
        println!("pod {pod}");
    }
    println!("ready");
    wait_for_stdin_end();
    c.cleanup().await?;
    println!("removed");
    Ok(())
}

pub async fn cycles(c: &mut Cri, n: usize) -> Check {
    let config = c.pod_config("cycles", default_ns(), false);
    let pod = c.run_pod(&config).await?;
    println!("pod {pod}");
    cycle(c, &pod, &config).await?;
    println!("ready");
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    for _ in 0..n {
        cycle(c, &pod, &config).await?;
    }
    println!("done");
    wait_for_stdin_end();
    c.cleanup().await?;
    println!("removed");
    Ok(())
}

/// One container of the pod made, started, stopped and removed.
async fn cycle(c: &mut Cri, pod: &str, config: &PodSandboxConfig) -> Check {
    let container = c.container_config("cycle", SLEEP);
    let id = c.start(pod, config, container).await?;
    c.rt.stop_container(StopContainerRequest {
        container_id: id.clone(),
        timeout: 0,
    })
    .await
    .map_err(err)?;
    c.rt.remove_container(RemoveContainerRequest { container_id: id })
        .await
        .map_err(err)?;
    Ok(())
}

fn wait_for_stdin_end() {
    let mut line = String::new();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {
        line.clear();
    }
}
