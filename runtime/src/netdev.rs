//! `linux.netDevices` (runtime-spec 1.2): host interfaces moved into the container's network
//! namespace, renamed when the entry says so. As with runc, the interface keeps its MTU and
//! hardware address (the kernel moves them with it), and its global-scope addresses, which
//! the kernel drops on the move, are added again inside. It is not moved back: the owner of
//! the network namespace decides what happens to it (a new namespace takes virtual devices
//! with it when it goes, and hands physical ones back to the host's).
//!
//! Netlink through netlink-packet-route and netlink-sys (the crates rtnetlink is built on),
//! used synchronously: vrun is single-threaded and makes a few requests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice};
use vrun_isolation::namespaces::Namespaces;

use crate::error::{Error, Result};

const FIELD: &str = "linux.netDevices";

/// A name the kernel accepts for an interface (dev_valid_name).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

/// The name the device gets inside the container.
fn new_name<'a>(host_name: &'a str, dev: &'a LinuxNetDevice) -> &'a str {
    dev.name()
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(host_name)
}

/// Checks, before anything is made: a network namespace that is not the host's, valid
/// names, no two devices with one name inside, and each device present on the host.
pub fn validate(devices: &HashMap<String, LinuxNetDevice>, ns: &Namespaces) -> Result<()> {
    if !ns.has(LinuxNamespaceType::Network) {
        return Err(Error::Invalid(format!(
            "{FIELD}: moving interfaces needs a network namespace that is not the host's (linux.namespaces)"
        )));
    }
    let mut inside: Vec<&str> = Vec::new();
    for (host_name, dev) in devices {
        let name = new_name(host_name, dev);
        for n in [host_name.as_str(), name] {
            if !valid_name(n) {
                return Err(Error::Invalid(format!(
                    "{FIELD}.{host_name}: {n:?} is not a valid interface name"
                )));
            }
        }
        if inside.contains(&name) {
            return Err(Error::Invalid(format!(
                "{FIELD}.{host_name}: two devices would be named {name:?} in the container"
            )));
        }
        inside.push(name);
        if nix::net::if_::if_nametoindex(host_name.as_str()).is_err() {
            return Err(Error::Invalid(format!(
                "{FIELD}.{host_name}: the host has no interface of that name"
            )));
        }
    }
    Ok(())
}

/// Moves every device into the network namespace `netns` is open on, renames it and adds
/// its global addresses there again.
pub fn move_into(devices: &HashMap<String, LinuxNetDevice>, netns: BorrowedFd) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let host = Netlink::open()?;
    let inside = Netlink::open_in(netns)?;
    // Sorted, so that a failure is the same on every run.
    let mut list: Vec<_> = devices.iter().collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
    for (host_name, dev) in list {
        let field = format!("{FIELD}.{host_name}");
        let name = new_name(host_name, dev);
        let index = nix::net::if_::if_nametoindex(host_name.as_str()).map_err(|e| Error::Sys {
            what: format!("{field}: find the interface on the host"),
            source: e,
        })?;
        let addresses = host.global_addresses(index, &field)?;
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.attributes = vec![
            LinkAttribute::NetNsFd(netns.as_raw_fd()),
            LinkAttribute::IfName(name.to_string()),
        ];
        host.request(RouteNetlinkMessage::SetLink(link), NLM_F_ACK)
            .map_err(|e| {
                Error::Invalid(format!(
                    "{field}: move it into the container's network namespace as {name:?}: {e}"
                ))
            })?;
        let new_index = inside.index_of(name, &field)?;
        for mut addr in addresses {
            addr.header.index = new_index;
            inside
                .request(
                    RouteNetlinkMessage::NewAddress(addr),
                    NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                )
                .map_err(|e| {
                    Error::Invalid(format!(
                        "{field}: add its address again in the container: {e}"
                    ))
                })?;
        }
    }
    Ok(())
}

/// A NETLINK_ROUTE socket.
struct Netlink {
    socket: Socket,
}

impl Netlink {
    fn open() -> Result<Netlink> {
        let io = |e: std::io::Error| Error::Io {
            what: format!("{FIELD}: open a netlink socket"),
            source: e,
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        Ok(Netlink { socket })
    }

    /// A socket of the network namespace `netns` is open on: a socket belongs to the
    /// namespace it was made in, so the thread enters it for the call and goes back.
    fn open_in(netns: BorrowedFd) -> Result<Netlink> {
        let own = vrun_isolation::namespaces::open_of_process(
            std::process::id() as i32,
            LinuxNamespaceType::Network,
        )?;
        let enter = |fd: BorrowedFd, what: &str| {
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| Error::Sys {
                what: format!("{FIELD}: {what}"),
                source: e,
            })
        };
        enter(netns, "enter the container's network namespace")?;
        let socket = Netlink::open();
        enter(
            std::os::fd::AsFd::as_fd(&own),
            "return to vrun's network namespace",
        )?;
        drop::<OwnedFd>(own);
        socket
    }

    /// Sends one request; collects the messages of the answer until the kernel's ACK (or,
    /// for a dump, its end). A NACK is the error.
    fn request(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> std::io::Result<Vec<RouteNetlinkMessage>> {
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        packet.header.flags = NLM_F_REQUEST | flags;
        packet.header.sequence_number = 1;
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf[..]);
        self.socket.send(&buf, 0)?;
        let mut answers = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&data[offset..]).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    })?;
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// The universe-scope addresses of interface `index` (what runc carries over).
    fn global_addresses(&self, index: u32, field: &str) -> Result<Vec<AddressMessage>> {
        let all = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| Error::Io {
                what: format!("{field}: list the interface's addresses"),
                source: e,
            })?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a)
                    if a.header.index == index && a.header.scope == AddressScope::Universe =>
                {
                    Some(keep_for_re_adding(a))
                }
                _ => None,
            })
            .collect())
    }

    fn index_of(&self, name: &str, field: &str) -> Result<u32> {
        let mut link = LinkMessage::default();
        link.attributes = vec![LinkAttribute::IfName(name.to_string())];
        let answer = self
            .request(RouteNetlinkMessage::GetLink(link), NLM_F_ACK)
            .map_err(|e| Error::Io {
                what: format!("{field}: find {name:?} in the container's network namespace"),
                source: e,
            })?;
        answer
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{field}: {name:?} is not in the container's network namespace after the move"
                ))
            })
    }
}

/// An address as listed, reduced to what adding it again takes (its prefix, local and peer
/// address, broadcast and label); lifetimes and cache data are the kernel's.
fn keep_for_re_adding(mut a: AddressMessage) -> AddressMessage {
    a.attributes.retain(|attr| {
        matches!(
            attr,
            AddressAttribute::Address(IpAddr::V4(_) | IpAddr::V6(_))
                | AddressAttribute::Local(_)
                | AddressAttribute::Broadcast(_)
        )
    });
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names() {
        assert!(valid_name("eth0"));
        assert!(valid_name("ctr_dummy0"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("sixteen-chars-xx"));
        assert!(!valid_name(".."));
        assert!(!valid_name("a b"));
    }
}
