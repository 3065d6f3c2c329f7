//! Device rules on cgroup v1 (devices.allow / devices.deny), written as the smallest change
//! from what the cgroup already enforces. Writing a config's rules from the top begins with
//! "deny everything": in a cgroup that other containers already run in (one `cgroupsPath`
//! for many containers), that is a moment in which their opens of /dev/null fail. So the
//! kernel's rule list is emulated: rules that change nothing are not written, and between two
//! deny-by-default lists only the differences are.
//!
//! The kernel's model (security/device_cgroup.c): a default (allow or deny) and a list of
//! exceptions; an "a" rule resets both; a rule against the default adds an exception (access
//! merged into one with the same type, major and minor), a rule along it removes access from
//! that exception. devices.list shows the exceptions of a deny-by-default cgroup, and only
//! "a *:* rwm" for an allow-by-default one.

use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::plan::Plan;

const DEVICES: &str = "linux.resources.devices";
const READ: u8 = 1;
const WRITE: u8 = 2;
const MKNOD: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Exception {
    kind: char,
    major: String,
    minor: String,
    access: u8,
}

impl Exception {
    fn same_device(&self, other: &Exception) -> bool {
        (self.kind, &self.major, &self.minor) == (other.kind, &other.major, &other.minor)
    }

    fn line(&self, access: u8) -> String {
        let a: String = [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| access & bit != 0)
            .map(|(_, c)| *c)
            .collect();
        format!("{} {}:{} {a}", self.kind, self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq)]
struct State {
    allow_by_default: bool,
    /// Devices allowed (deny by default) or denied (allow by default), in list order.
    exceptions: Vec<Exception>,
}

impl State {
    fn apply(&mut self, allow: bool, rule: Exception) {
        if rule.kind == 'a' {
            *self = State {
                allow_by_default: allow,
                exceptions: Vec::new(),
            };
        } else if allow != self.allow_by_default {
            match self.exceptions.iter_mut().find(|e| e.same_device(&rule)) {
                Some(e) => e.access |= rule.access,
                None => self.exceptions.push(rule),
            }
        } else {
            for e in self.exceptions.iter_mut().filter(|e| e.same_device(&rule)) {
                e.access &= !rule.access;
            }
            self.exceptions.retain(|e| e.access != 0);
        }
    }
}

fn access_bits(access: &str) -> u8 {
    access.chars().fold(0, |bits, c| match c {
        'r' => bits | READ,
        'w' => bits | WRITE,
        'm' => bits | MKNOD,
        _ => bits,
    })
}

/// A rule as the kernel keeps it (the config's numbers, "*" for any).
fn exception(d: &LinuxDeviceCgroup) -> Exception {
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => 'p',
    };
    let num = |n: Option<i64>| {
        n.filter(|v| *v >= 0)
            .map(|v| v.to_string())
            .unwrap_or_else(|| "*".into())
    };
    Exception {
        kind,
        major: num(d.major()),
        minor: num(d.minor()),
        access: access_bits(
            d.access()
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or("rwm"),
        ),
    }
}

/// A rule as devices.allow/deny take it: "c 1:3 rw", "a *:* rwm".
pub fn rule_line(d: &LinuxDeviceCgroup) -> String {
    let e = exception(d);
    e.line(e.access)
}

/// devices.list as a state; None for an allow-by-default list, whose exceptions the kernel
/// does not show.
fn parse_list(text: &str) -> Option<State> {
    let mut exceptions = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let (kind, numbers, access) = (parts.next()?, parts.next()?, parts.next()?);
        if kind == "a" {
            return None;
        }
        let (major, minor) = numbers.split_once(':')?;
        exceptions.push(Exception {
            kind: kind.chars().next()?,
            major: major.into(),
            minor: minor.into(),
            access: access_bits(access),
        });
    }
    Some(State {
        allow_by_default: false,
        exceptions,
    })
}

/// The writes that make the cgroup in `dir` enforce `rules` (the config's, then the
/// defaults), given what its devices.list shows now.
pub(crate) fn writes(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Plan {
    let current = std::fs::read_to_string(dir.join("devices.list")).unwrap_or_default();
    plan(dir, rules, &current)
}

fn plan(dir: &Path, rules: &[LinuxDeviceCgroup], current: &str) -> Plan {
    let mut plan = Plan::default();
    let field = |i: usize| format!("{DEVICES}[{i}]");
    let all_in_order = |mut plan: Plan| {
        for (i, d) in rules.iter().enumerate() {
            let file = if d.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            plan.add(dir, file, rule_line(d), field(i));
        }
        plan
    };
    let current = parse_list(current);
    let resets = rules.first().is_some_and(|d| exception(d).kind == 'a');
    let start = match (&current, resets) {
        (_, true) => State {
            allow_by_default: false,
            exceptions: Vec::new(),
        },
        (Some(c), false) => c.clone(),
        // allow by default with exceptions the kernel does not show: nothing to compare with
        (None, false) => return all_in_order(plan),
    };
    let mut target = start;
    for d in rules {
        target.apply(d.allow(), exception(d));
    }
    let (Some(current), false) = (current, target.allow_by_default) else {
        return all_in_order(plan);
    };
    // Both deny by default: take away what is no longer allowed, then add what is new.
    for cur in &current.exceptions {
        let kept = target
            .exceptions
            .iter()
            .filter(|t| t.same_device(cur))
            .fold(0, |a, t| a | t.access);
        if cur.access & !kept != 0 {
            plan.add(dir, "devices.deny", cur.line(cur.access & !kept), DEVICES);
        }
    }
    for t in &target.exceptions {
        let had = current
            .exceptions
            .iter()
            .filter(|c| c.same_device(t))
            .fold(0, |a, c| a | c.access);
        if t.access & !had != 0 {
            plan.add(dir, "devices.allow", t.line(t.access & !had), DEVICES);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{default_allowed, rule};

    fn lines(p: &Plan) -> Vec<String> {
        p.writes
            .iter()
            .map(|w| {
                format!(
                    "{} {}",
                    w.path.file_name().unwrap().to_string_lossy(),
                    w.value
                )
            })
            .collect()
    }

    /// runc's spec: deny everything, then the defaults.
    fn runc_rules() -> Vec<LinuxDeviceCgroup> {
        let mut r = vec![rule(false, LinuxDeviceType::A, None, None, "rwm")];
        r.extend(default_allowed());
        r
    }

    /// devices.list as the kernel shows it after `rules` on a fresh cgroup.
    fn list_after(rules: &[LinuxDeviceCgroup]) -> String {
        let mut s = State {
            allow_by_default: true,
            exceptions: Vec::new(),
        };
        for d in rules {
            s.apply(d.allow(), exception(d));
        }
        if s.allow_by_default {
            return "a *:* rwm\n".into();
        }
        s.exceptions
            .iter()
            .map(|e| e.line(e.access) + "\n")
            .collect()
    }

    #[test]
    fn a_new_cgroup_gets_every_rule_in_order() {
        let p = plan(Path::new("/cg"), &runc_rules(), "a *:* rwm\n");
        let l = lines(&p);
        assert_eq!(l[0], "devices.deny a *:* rwm");
        assert_eq!(l[3], "devices.allow c 1:3 rwm");
        assert_eq!(l.len(), runc_rules().len());
    }

    #[test]
    fn the_same_rules_again_write_nothing() {
        let rules = runc_rules();
        let p = plan(Path::new("/cg"), &rules, &list_after(&rules));
        assert_eq!(lines(&p), Vec::<String>::new());
    }

    #[test]
    fn between_deny_lists_only_the_differences_are_written() {
        let mut old = runc_rules();
        old.push(rule(true, LinuxDeviceType::C, Some(1), Some(11), "rw"));
        let mut new = runc_rules();
        new.push(rule(true, LinuxDeviceType::C, Some(1), Some(11), "r"));
        new.push(rule(true, LinuxDeviceType::B, Some(7), None, "rwm"));
        let p = plan(Path::new("/cg"), &new, &list_after(&old));
        assert_eq!(
            lines(&p),
            vec!["devices.deny c 1:11 w", "devices.allow b 7:* rwm"]
        );
    }

    #[test]
    fn rules_along_the_default_take_access_away() {
        let mut s = State {
            allow_by_default: false,
            exceptions: Vec::new(),
        };
        s.apply(
            true,
            exception(&rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm")),
        );
        s.apply(
            false,
            exception(&rule(false, LinuxDeviceType::C, Some(1), Some(3), "w")),
        );
        assert_eq!(s.exceptions[0].line(s.exceptions[0].access), "c 1:3 rm");
        s.apply(
            false,
            exception(&rule(false, LinuxDeviceType::C, Some(1), Some(3), "rm")),
        );
        assert!(s.exceptions.is_empty());
    }

    #[test]
    fn rule_lines() {
        let all = rule(false, LinuxDeviceType::A, None, None, "rwm");
        assert_eq!(rule_line(&all), "a *:* rwm");
        let null = rule(true, LinuxDeviceType::C, Some(1), Some(3), "wr");
        assert_eq!(rule_line(&null), "c 1:3 rw");
    }

    #[test]
    fn an_allow_all_config_is_written_as_given() {
        let rules = vec![rule(true, LinuxDeviceType::A, None, None, "rwm")];
        let p = plan(Path::new("/cg"), &rules, "c 1:3 rwm\n");
        assert_eq!(lines(&p), vec!["devices.allow a *:* rwm"]);
    }
}
