//! sd_notify through a container (NOTIFY_SOCKET), as runc does it: when vrun is run with
//! NOTIFY_SOCKET set (systemd's Type=notify, podman's --sdnotify=container), the container
//! gets a socket of vrun's own at /run/notify/notify.sock (a read-only bind of a directory in
//! its state directory) and NOTIFY_SOCKET pointing at it. `start` listens there and, when the
//! container says READY=1, tells the caller's socket, adding MAINPID (the container's init),
//! so that systemd watches the container's process rather than vrun.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

/// Where the container finds its socket.
pub const IN_CONTAINER: &str = "/run/notify/notify.sock";

/// The caller's socket, from vrun's environment (a path, or "@name" for an abstract one).
pub fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The directory in the state directory whose socket the container sees.
pub fn dir_of(state_dir: &Path) -> PathBuf {
    state_dir.join("notify")
}

/// Adds the bind mount of `dir` and NOTIFY_SOCKET to the container's config.
pub fn setup_spec(spec: &mut Spec, dir: &Path) -> Result<()> {
    let mount: oci_spec::runtime::Mount = serde_json::from_value(serde_json::json!({
        // the directory the socket is in, inside the container
        "destination": Path::new(IN_CONTAINER).parent(),
        "type": "bind",
        "source": dir,
        "options": ["bind", "nosuid", "noexec", "nodev", "ro"],
    }))
    .map_err(|e| Error::Invalid(format!("the notify socket's mount: {e}")))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(mut process) = spec.process().clone() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}"));
        process.set_env(Some(env));
        spec.set_process(Some(process));
    }
    Ok(())
}

/// Makes the directory (before init mounts it).
pub fn make_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir(dir).map_err(|e| Error::Io {
        what: format!("create {}", dir.display()),
        source: e,
    })?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::Io {
        what: format!("chmod {}", dir.display()),
        source: e,
    })
}

/// `start`'s side: the socket, bound before the container is released so that an early
/// READY is not lost.
pub struct Proxy {
    socket: UnixDatagram,
    host: String,
    pid: i32,
}

impl Proxy {
    /// Binds `dir`/notify.sock (writable by anyone: the container's user may be anyone).
    pub fn bind(dir: &Path, host: String, pid: i32) -> Result<Proxy> {
        // (the name the container knows it by)
        let path = dir.join(Path::new(IN_CONTAINER).file_name().unwrap_or_default());
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).map_err(|e| Error::Io {
            what: format!("bind the notify socket {}", path.display()),
            source: e,
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).map_err(|e| {
            Error::Io {
                what: format!("chmod {}", path.display()),
                source: e,
            }
        })?;
        Ok(Proxy { socket, host, pid })
    }

    /// Waits for the container's READY=1 (or for its init to end) and passes it on to the
    /// caller's socket with MAINPID. Other messages are not forwarded (runc's rule).
    pub fn wait(self) -> Result<()> {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| Error::Io {
                what: "the notify socket".into(),
                source: e,
            })?;
        let mut buf = [0u8; 4096];
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    if let Some(ready) = text.lines().find(|l| l.starts_with("READY=")) {
                        return self.tell_host(ready);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    if !Path::new(&format!("/proc/{}", self.pid)).exists() {
                        return Ok(());
                    }
                }
                Err(e) => {
                    return Err(Error::Io {
                        what: "read the notify socket".into(),
                        source: e,
                    })
                }
            }
        }
    }

    fn tell_host(&self, ready: &str) -> Result<()> {
        let message = format!("{ready}\nMAINPID={}\n", self.pid);
        let out = UnixDatagram::unbound().map_err(|e| Error::Io {
            what: "a socket for NOTIFY_SOCKET".into(),
            source: e,
        })?;
        let sent = match self.host.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                    .and_then(|addr| out.send_to_addr(message.as_bytes(), &addr))
            }
            None => out.send_to(message.as_bytes(), &self.host),
        };
        sent.map(drop).map_err(|e| Error::Io {
            what: format!(
                "tell NOTIFY_SOCKET {} that the container is ready",
                self.host
            ),
            source: e,
        })
    }
}
