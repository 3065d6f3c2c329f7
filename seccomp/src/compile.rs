//! OCI profile -> classic BPF program, generated here rather than by seccompiler (the chosen
//! crate) because seccompiler has no SCMP_ACT_NOTIFY (SECCOMP_RET_USER_NOTIF) action, only
//! x86_64/aarch64/riscv64 (no x86, x32 or arm, which Docker's and podman's profiles list),
//! and no way to answer syscalls newer than its table with ENOSYS. The program is small and
//! regular enough to write directly:
//!
//! ```text
//!   ld arch; one jeq/ja per audit arch; ret KILL_PROCESS      (an arch not in the profile)
//! section per arch:
//!   ld nr; [x86_64: nr >= 0x40000000 -> x32 section or KILL_PROCESS]
//!   blocks of 64 `jeq nr -> pool entry`, each block followed by its pool
//!     (`ret ACTION` shared by the block, or `ja body` for syscalls with conditions)
//!   [nr > highest known -> ret ERRNO(ENOSYS)]; ret DEFAULT
//!   bodies: per rule, its conditions (each fails to the next rule), then ret ACTION;
//!     ret DEFAULT after the last rule
//! ```
//! Rules for one syscall are tried in profile order and the first whose conditions all hold
//! decides. Like runc, a rule naming the same argument twice becomes one rule per condition
//! (libseccomp cannot AND two conditions on one argument), syscall names unknown for an
//! architecture are skipped, and a rule with the default action is left out.

use std::collections::BTreeMap;

use crate::arch::{self, ArchInfo, X32_SYSCALL_BIT};
use crate::bpf::{Asm, Label, Target, JEQ, JGE, JGT};
use crate::profile::{Action, Arch, Arg, Flag, Op, Profile};
use crate::sys;
use crate::Error;

/// What the container's syscalls are checked against before anything else.
const BAD_ARCH_RET: u32 = 0x8000_0000; // SECCOMP_RET_KILL_PROCESS
const DISPATCH_BLOCK: usize = 64;
/// After loading a filter with a listener, vrun passes the listener with sendmsg(2): a
/// profile may not send that syscall to the listener, which does not have the fd yet.
pub const SYSCALLS_VRUN_NEEDS_AFTER_LOAD: [&str; 1] = ["sendmsg"];
/// The runtime writes after the filter is loaded (its handshake, a hook's output): runc
/// refuses to hand write(2) to a listener, whose agent could then deadlock on its own
/// runtime, and says so in these words, which its users' tests look for.
const NOTIFY_REFUSED_LIKE_RUNC: [&str; 1] = ["write"];

#[derive(Debug, Clone)]
pub struct Filter {
    pub program: Vec<libc::sock_filter>,
    /// For seccomp(2): the profile's flags, plus NEW_LISTENER when a rule notifies.
    pub flags: u32,
    pub notify: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    conds: Vec<Arg>,
    ret: u32,
}

/// Compiles `profile` for the architectures it lists plus `native`. Errors name the field
/// under linux.seccomp.
pub fn compile(profile: &Profile, native: Arch) -> Result<Filter, Error> {
    compile_checked(profile, native).map_err(Error::Profile)
}

/// The phases of a compile: the default action, the architectures, the rules per
/// architecture, what notifying needs, the flags, and the program.
fn compile_checked(profile: &Profile, native: Arch) -> Result<Filter, String> {
    let default_ret = default_action(profile)?;
    let infos = architectures(profile, native)?;
    let (mut per_arch, notify) = rules_per_arch(profile, &infos)?;
    if let Some(p) = &profile.listener_path {
        if !notify && !p.as_os_str().is_empty() {
            tracing::debug!("seccomp: listenerPath is set but no rule uses SCMP_ACT_NOTIFY");
        }
    }
    for rules in &mut per_arch {
        rules.retain(|_, list| simplify(list, default_ret));
    }
    if notify && !sendmsg_allowed(&infos[0], &per_arch[0], default_ret) {
        return Err(field("syscalls: vrun passes the listener fd with sendmsg(2) after loading the filter, so a profile with SCMP_ACT_NOTIFY must allow sendmsg"));
    }
    let flags = flags(profile, notify);
    let enosys = !matches!(profile.default_action, Action::Allow | Action::Log);
    let program = emit(&infos, &per_arch, default_ret, enosys)?;
    Ok(Filter {
        program,
        flags,
        notify,
    })
}

fn field(f: impl std::fmt::Display) -> String {
    format!("linux.seccomp.{f}")
}

/// The default action's return value, once its errno is checked.
fn default_action(profile: &Profile) -> Result<u32, String> {
    if profile.default_action == Action::Notify {
        return Err(field("defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the runtime's own last syscalls would wait on a listener that does not have the fd yet)"));
    }
    if profile.default_errno_ret.is_some() && !profile.default_action.takes_errno() {
        return Err(field(format!(
            "defaultErrnoRet: {} does not take an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)",
            profile.default_action.name()
        )));
    }
    check_errno(profile.default_errno_ret, || field("defaultErrnoRet"))?;
    Ok(profile.default_action.ret(profile.default_errno_ret))
}

/// `native` first, then the profile's, each once.
fn architectures(profile: &Profile, native: Arch) -> Result<Vec<ArchInfo>, String> {
    let mut archs = vec![native];
    for (i, a) in profile.architectures.iter().flatten().enumerate() {
        if arch::info(*a).is_none() {
            return Err(field(format!(
                "architectures[{i}]: {} is not supported by vrun's filter compiler (it supports {})",
                a.name(),
                arch::SUPPORTED.map(|a| a.name()).join(", ")
            )));
        }
        if !archs.contains(a) {
            archs.push(*a);
        }
    }
    Ok(archs.iter().filter_map(|a| arch::info(*a)).collect())
}

type RulesByNumber = BTreeMap<u32, Vec<Rule>>;

/// Each architecture's rules by syscall number, and whether any rule notifies.
fn rules_per_arch(
    profile: &Profile,
    infos: &[ArchInfo],
) -> Result<(Vec<RulesByNumber>, bool), String> {
    let mut notify = false;
    let mut per_arch: Vec<RulesByNumber> = vec![BTreeMap::new(); infos.len()];
    for (i, rule) in profile.syscalls.iter().flatten().enumerate() {
        let f = |s: &str| field(format!("syscalls[{i}]{s}"));
        check_rule(profile, rule, &f)?;
        notify |= rule.action == Action::Notify;
        let ret = rule.action.ret(rule.errno_ret);
        for group in condition_groups(rule.args.as_deref().unwrap_or(&[])) {
            for name in &rule.names {
                let mut known = false;
                for (info, rules) in infos.iter().zip(per_arch.iter_mut()) {
                    if let Some(nr) = info.number(name) {
                        known = true;
                        rules.entry(nr).or_default().push(Rule {
                            conds: group.clone(),
                            ret,
                        });
                    }
                }
                if !known {
                    tracing::debug!("seccomp: syscall {name:?} is unknown, skipped");
                }
            }
        }
    }
    Ok((per_arch, notify))
}

/// One rule's names, errno and argument indexes, and what SCMP_ACT_NOTIFY needs of it.
fn check_rule(
    profile: &Profile,
    rule: &crate::profile::SyscallRule,
    f: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    if rule.names.is_empty() || rule.names.iter().any(|n| n.is_empty()) {
        return Err(f(".names: must list syscall names"));
    }
    if rule.errno_ret.is_some() && !rule.action.takes_errno() {
        return Err(f(&format!(
            ".errnoRet: {} does not take an errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)",
            rule.action.name()
        )));
    }
    check_errno(rule.errno_ret, || f(".errnoRet"))?;
    for (j, a) in rule.args.iter().flatten().enumerate() {
        if a.index > 5 {
            return Err(f(&format!(
                ".args[{j}].index: {} is not a syscall argument (0 to 5)",
                a.index
            )));
        }
    }
    if rule.action != Action::Notify {
        return Ok(());
    }
    if profile
        .listener_path
        .as_ref()
        .is_none_or(|p| p.as_os_str().is_empty())
    {
        return Err(f(
            ".action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath, the socket the listener fd goes to",
        ));
    }
    if let Some(n) = rule
        .names
        .iter()
        .find(|n| NOTIFY_REFUSED_LIKE_RUNC.contains(&n.as_str()))
    {
        return Err(f(&format!(
            ".names: SCMP_ACT_NOTIFY cannot be used for the {n} syscall"
        )));
    }
    if let Some(n) = rule
        .names
        .iter()
        .find(|n| SYSCALLS_VRUN_NEEDS_AFTER_LOAD.contains(&n.as_str()))
    {
        return Err(f(&format!(
            ".names: SCMP_ACT_NOTIFY cannot be used for {n}: vrun sends the listener fd with it after loading the filter"
        )));
    }
    Ok(())
}

/// Whether the native architecture's filter lets sendmsg(2) through unconditionally.
fn sendmsg_allowed(native: &ArchInfo, rules: &RulesByNumber, default_ret: u32) -> bool {
    let allow = [Action::Allow.ret(None), Action::Log.ret(None)];
    match native.number("sendmsg") {
        None => true,
        Some(nr) => match rules.get(&nr) {
            Some(list) => list
                .first()
                .is_some_and(|r| r.conds.is_empty() && allow.contains(&r.ret)),
            None => allow.contains(&default_ret),
        },
    }
}

/// seccomp(2)'s flags: the profile's, with NEW_LISTENER (and TSYNC_ESRCH beside TSYNC) when
/// a rule notifies.
fn flags(profile: &Profile, notify: bool) -> u32 {
    let mut flags = 0;
    for f in profile.flags.iter().flatten() {
        if *f == Flag::WaitKillableRecv && !notify {
            tracing::debug!(
                "seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV without SCMP_ACT_NOTIFY, dropped"
            );
            continue;
        }
        flags |= f.bits();
    }
    if notify {
        flags |= sys::FLAG_NEW_LISTENER;
        if flags & sys::FLAG_TSYNC != 0 {
            flags |= sys::FLAG_TSYNC_ESRCH;
        }
    }
    flags
}

fn check_errno(errno: Option<u32>, field: impl Fn() -> String) -> Result<(), String> {
    match errno {
        Some(e) if e > 0xffff => Err(format!(
            "{}: {e} does not fit the 16 bits seccomp returns",
            field()
        )),
        _ => Ok(()),
    }
}

/// The rule's conditions as the AND-groups to emit: one group, or (an argument named twice)
/// one group per condition, as runc does.
fn condition_groups(args: &[Arg]) -> Vec<Vec<Arg>> {
    let mut seen = [0u8; 6];
    for a in args {
        seen[a.index as usize] += 1;
    }
    if seen.iter().any(|n| *n > 1) {
        args.iter().map(|a| vec![*a]).collect()
    } else {
        vec![args.to_vec()]
    }
}

/// Drops rules that can never decide or that decide the default; false if none is left.
fn simplify(rules: &mut Vec<Rule>, default_ret: u32) -> bool {
    if let Some(first_unconditional) = rules.iter().position(|r| r.conds.is_empty()) {
        rules.truncate(first_unconditional + 1);
        if rules[first_unconditional].ret == default_ret {
            rules.pop();
        }
    }
    !rules.is_empty()
}

fn emit(
    infos: &[ArchInfo],
    per_arch: &[BTreeMap<u32, Vec<Rule>>],
    default_ret: u32,
    enosys: bool,
) -> Result<Vec<libc::sock_filter>, String> {
    let mut asm = Asm::default();
    let sections: Vec<Label> = infos.iter().map(|_| asm.label()).collect();

    // Arch check. x86_64 and x32 share an audit arch: the x86_64 entry (or x32's, if only
    // it is listed) leads to a split on the x32 bit.
    asm.ld(4);
    let mut audits: Vec<u32> = Vec::new();
    for info in infos {
        if !audits.contains(&info.audit) {
            audits.push(info.audit);
        }
    }
    let mut split_labels = Vec::new();
    for audit in &audits {
        let to = if *audit == arch::AUDIT_ARCH_X86_64 {
            let l = asm.label();
            split_labels.push(l);
            l
        } else {
            let i = infos.iter().position(|i| i.audit == *audit).unwrap_or(0);
            sections[i]
        };
        let after = asm.label();
        asm.jump(JEQ, *audit, Target::Next, Target::To(after));
        asm.ja(to);
        asm.bind(after);
    }
    asm.ret(BAD_ARCH_RET);

    if let Some(split) = split_labels.first() {
        let low = infos.iter().position(|i| i.arch == Arch::X86_64);
        let high = infos.iter().position(|i| i.arch == Arch::X32);
        asm.bind(*split);
        asm.ld(0);
        let high_label = asm.label();
        asm.jump(JGE, X32_SYSCALL_BIT, Target::To(high_label), Target::Next);
        match low {
            Some(i) => asm.ja(sections[i]),
            None => asm.ret(BAD_ARCH_RET),
        }
        asm.bind(high_label);
        match high {
            Some(i) => asm.ja(sections[i]),
            None => asm.ret(BAD_ARCH_RET),
        }
    }

    for ((info, rules), section) in infos.iter().zip(per_arch).zip(&sections) {
        asm.bind(*section);
        emit_section(&mut asm, info, rules, default_ret, enosys);
    }
    asm.finish()
}

enum PoolEntry {
    Ret(u32),
    Body(Label),
}

fn emit_section(
    asm: &mut Asm,
    info: &ArchInfo,
    rules: &BTreeMap<u32, Vec<Rule>>,
    default_ret: u32,
    enosys: bool,
) {
    asm.ld(0);
    let entries: Vec<(&u32, &Vec<Rule>)> = rules.iter().collect();
    let mut bodies: Vec<(Label, &Vec<Rule>)> = Vec::new();
    for block in entries.chunks(DISPATCH_BLOCK) {
        let mut pool: Vec<(Label, PoolEntry)> = Vec::new();
        for (nr, list) in block {
            let target = if list.len() == 1 && list[0].conds.is_empty() {
                let ret = list[0].ret;
                match pool
                    .iter()
                    .find(|(_, e)| matches!(e, PoolEntry::Ret(r) if *r == ret))
                {
                    Some((l, _)) => *l,
                    None => {
                        let l = asm.label();
                        pool.push((l, PoolEntry::Ret(ret)));
                        l
                    }
                }
            } else {
                let body = asm.label();
                bodies.push((body, list));
                let l = asm.label();
                pool.push((l, PoolEntry::Body(body)));
                l
            };
            asm.jump(JEQ, **nr, Target::To(target), Target::Next);
        }
        let next_block = asm.label();
        asm.ja(next_block);
        for (l, e) in pool {
            asm.bind(l);
            match e {
                PoolEntry::Ret(r) => asm.ret(r),
                PoolEntry::Body(b) => asm.ja(b),
            }
        }
        asm.bind(next_block);
    }
    if enosys {
        let known = asm.label();
        asm.jump(JGT, info.max_number(), Target::Next, Target::To(known));
        asm.ret(Action::Errno.ret(Some(libc::ENOSYS as u32)));
        asm.bind(known);
    }
    asm.ret(default_ret);
    for (body, list) in bodies {
        asm.bind(body);
        for rule in list {
            let next_rule = asm.label();
            for cond in &rule.conds {
                emit_condition(asm, cond, info.args32, next_rule);
            }
            asm.ret(rule.ret);
            asm.bind(next_rule);
        }
        asm.ret(default_ret);
    }
}

/// Falls through when the condition holds, jumps to `fail` when it does not. 64-bit
/// comparisons are made of 32-bit ones, high word first.
fn emit_condition(asm: &mut Asm, cond: &Arg, args32: bool, fail: Label) {
    use Target::{Next, To};
    let lo_off = 16 + 8 * cond.index;
    let hi_off = lo_off + 4;
    let (value, datum) = (cond.value, cond.value_two);
    let (vh, vl) = ((value >> 32) as u32, value as u32);
    let s = asm.label();
    let f = asm.label();
    match cond.op {
        Op::MaskedEq => {
            let (dh, dl) = ((datum >> 32) as u32, datum as u32);
            if !args32 {
                asm.ld(hi_off);
                asm.and(vh);
                asm.jump(JEQ, dh, Next, To(f));
            }
            asm.ld(lo_off);
            asm.and(vl);
            asm.jump(JEQ, dl, To(s), To(f));
        }
        op => {
            // For the high word: (jump when hi > vh, jump when hi != vh) per operator; the low
            // word decides when they are equal.
            let (hi_gt, hi_ne, lo_code, lo_true, lo_false) = match op {
                Op::Eq => (None, To(f), JEQ, To(s), To(f)),
                Op::Ne => (None, To(s), JEQ, To(f), To(s)),
                Op::Gt => (Some(To(s)), To(f), JGT, To(s), To(f)),
                Op::Ge => (Some(To(s)), To(f), JGE, To(s), To(f)),
                Op::Lt => (Some(To(f)), To(s), JGE, To(f), To(s)),
                Op::Le => (Some(To(f)), To(s), JGT, To(f), To(s)),
                Op::MaskedEq => unreachable!("handled above"),
            };
            if !args32 {
                asm.ld(hi_off);
                if let Some(gt) = hi_gt {
                    asm.jump(JGT, vh, gt, Next);
                }
                asm.jump(JEQ, vh, Next, hi_ne);
            }
            asm.ld(lo_off);
            asm.jump(lo_code, vl, lo_true, lo_false);
        }
    }
    asm.bind(f);
    asm.ja(fail);
    asm.bind(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::SyscallRule;

    const ALLOW: u32 = 0x7fff_0000;
    const KILL_PROCESS: u32 = 0x8000_0000;
    const I386_GETCWD: u32 = 183;
    const X86_64_GETCWD: u32 = 79;

    /// A classic-BPF interpreter for the instructions the compiler emits.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&nr.to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                crate::bpf::LD_W_ABS => {
                    let o = i.k as usize;
                    a = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                crate::bpf::AND => a &= i.k,
                crate::bpf::RET => return i.k,
                crate::bpf::JA => pc += i.k as usize,
                code => {
                    let taken = match code {
                        JEQ => a == i.k,
                        JGT => a > i.k,
                        JGE => a >= i.k,
                        _ => panic!("unexpected opcode {code:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
            }
        }
    }

    fn profile(json: serde_json::Value) -> Profile {
        serde_json::from_value(json).unwrap()
    }

    fn x86_64(p: &Profile, nr: u32, args: [u64; 6]) -> u32 {
        let f = compile(p, Arch::X86_64).unwrap();
        run(&f.program, arch::AUDIT_ARCH_X86_64, nr, args)
    }

    #[test]
    fn errno_rule_and_default() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }));
        assert_eq!(x86_64(&p, X86_64_GETCWD, [0; 6]), 0x0005_0000 | 38);
        assert_eq!(x86_64(&p, 0, [0; 6]), ALLOW);
        // An arch not in the profile is killed; x32 numbers too when x32 is not listed.
        let f = compile(&p, Arch::X86_64).unwrap();
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_I386, I386_GETCWD, [0; 6]),
            KILL_PROCESS
        );
        assert_eq!(
            run(
                &f.program,
                arch::AUDIT_ARCH_X86_64,
                X32_SYSCALL_BIT | 4,
                [0; 6]
            ),
            KILL_PROCESS
        );
    }

    #[test]
    fn listed_architectures_get_their_own_numbers() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        }));
        let f = compile(&p, Arch::X86_64).unwrap();
        let eperm = 0x0005_0000 | libc::EPERM as u32;
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_I386, I386_GETCWD, [0; 6]),
            eperm
        );
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_I386, X86_64_GETCWD, [0; 6]),
            ALLOW
        );
        assert_eq!(
            run(
                &f.program,
                arch::AUDIT_ARCH_X86_64,
                X32_SYSCALL_BIT | X86_64_GETCWD,
                [0; 6]
            ),
            eperm
        );
        assert_eq!(run(&f.program, arch::AUDIT_ARCH_AARCH64, 17, [0; 6]), eperm);
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_ARM, 183, [0; 6]),
            KILL_PROCESS
        );
    }

    #[test]
    fn every_operator_on_64_bit_values() {
        let big = 0x1_0000_0005u64;
        // (operator, value, valueTwo, [(argument, whether the rule matches)])
        type Case<'a> = (&'a str, u64, u64, &'a [(u64, bool)]);
        let cases: [Case; 7] = [
            (
                "SCMP_CMP_EQ",
                big,
                0,
                &[(big, true), (5, false), (big + 1, false)],
            ),
            (
                "SCMP_CMP_NE",
                big,
                0,
                &[(big, false), (5, true), (0x2_0000_0005, true)],
            ),
            (
                "SCMP_CMP_GT",
                big,
                0,
                &[
                    (big, false),
                    (big + 1, true),
                    (0x2_0000_0000, true),
                    (0xffff_ffff, false),
                ],
            ),
            (
                "SCMP_CMP_GE",
                big,
                0,
                &[
                    (big, true),
                    (big - 1, false),
                    (0x2_0000_0000, true),
                    (6, false),
                ],
            ),
            (
                "SCMP_CMP_LT",
                big,
                0,
                &[
                    (big, false),
                    (big - 1, true),
                    (0xffff_ffff, true),
                    (0x2_0000_0000, false),
                ],
            ),
            (
                "SCMP_CMP_LE",
                big,
                0,
                &[
                    (big, true),
                    (big + 1, false),
                    (0, true),
                    (0x1_0000_0006, false),
                ],
            ),
            (
                "SCMP_CMP_MASKED_EQ",
                0xff_0000_00f0,
                0x12_0000_0030,
                &[
                    (0x12_3456_7839, true),
                    (0x13_0000_0030, false),
                    (0x12_0000_0040, false),
                ],
            ),
        ];
        for (op, value, value_two, checks) in cases {
            let p = profile(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 2, "value": value, "valueTwo": value_two, "op": op}]}]
            }));
            for (arg, matches) in checks {
                let mut args = [0; 6];
                args[2] = *arg;
                let got = x86_64(&p, X86_64_GETCWD, args);
                assert_eq!(got != ALLOW, *matches, "{op} {value:#x} against {arg:#x}");
            }
        }
    }

    #[test]
    fn conditions_on_different_args_and_the_same_arg() {
        // Different arguments: AND.
        let and = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}]
        }));
        assert_ne!(x86_64(&and, X86_64_GETCWD, [1, 2, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x86_64(&and, X86_64_GETCWD, [1, 3, 0, 0, 0, 0]), ALLOW);
        // The same argument twice: one rule per condition, as runc does (OR).
        let or = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]
        }));
        assert_ne!(x86_64(&or, X86_64_GETCWD, [1, 0, 0, 0, 0, 0]), ALLOW);
        assert_ne!(x86_64(&or, X86_64_GETCWD, [2, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(x86_64(&or, X86_64_GETCWD, [3, 0, 0, 0, 0, 0]), ALLOW);
    }

    #[test]
    fn thirty_two_bit_archs_compare_the_low_word() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "args": [
                {"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}]
        }));
        let f = compile(&p, Arch::X86_64).unwrap();
        assert_ne!(
            run(
                &f.program,
                arch::AUDIT_ARCH_I386,
                I386_GETCWD,
                [7, 0, 0, 0, 0, 0]
            ),
            ALLOW
        );
        assert_eq!(
            run(
                &f.program,
                arch::AUDIT_ARCH_I386,
                I386_GETCWD,
                [8, 0, 0, 0, 0, 0]
            ),
            ALLOW
        );
    }

    #[test]
    fn allow_list_profile_answers_newer_syscalls_with_enosys() {
        let names: Vec<String> = crate::tables::X86_64
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        let p = Profile {
            default_action: Action::Errno,
            default_errno_ret: None,
            architectures: Some(vec![Arch::X86_64, Arch::X86, Arch::X32]),
            flags: None,
            listener_path: None,
            listener_metadata: None,
            syscalls: Some(vec![SyscallRule {
                names: names.iter().filter(|n| *n != "getcwd").cloned().collect(),
                action: Action::Allow,
                errno_ret: None,
                args: None,
            }]),
        };
        let f = compile(&p, Arch::X86_64).unwrap();
        assert!(f.program.len() < crate::bpf::MAX_INSNS);
        for (name, nr) in crate::tables::X86_64 {
            let want = if *name == "getcwd" {
                0x0005_0001
            } else {
                ALLOW
            };
            assert_eq!(
                run(&f.program, arch::AUDIT_ARCH_X86_64, *nr, [0; 6]),
                want,
                "{name}"
            );
        }
        let enosys = 0x0005_0000 | libc::ENOSYS as u32;
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_X86_64, 1000, [0; 6]),
            enosys
        );
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let err = |json: serde_json::Value| {
            compile(&profile(json), Arch::X86_64)
                .unwrap_err()
                .to_string()
        };
        assert!(err(serde_json::json!({"defaultAction": "SCMP_ACT_NOTIFY"}))
            .starts_with("linux.seccomp.defaultAction: "));
        assert!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 3}))
                .starts_with("linux.seccomp.defaultErrnoRet: ")
        );
        assert!(err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_S390X"]}))
            .starts_with("linux.seccomp.architectures[1]: SCMP_ARCH_S390X is not supported"));
        assert!(err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getcwd"], "action": "SCMP_ACT_KILL", "errnoRet": 1}]})
        )
        .starts_with("linux.seccomp.syscalls[1].errnoRet: SCMP_ACT_KILL does not take"));
        assert!(err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))
            .starts_with("linux.seccomp.syscalls[0].args[0].index: "));
        assert!(err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
        )
        .contains("listenerPath"));
        assert!(err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
            {"names": ["mkdir", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}))
            .contains("cannot be used for sendmsg"));
        assert!(err(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/x", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}, {"names": ["execve"], "action": "SCMP_ACT_ALLOW"}]}))
            .contains("must allow sendmsg"));
        assert!(err(
            serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": [], "action": "SCMP_ACT_ERRNO"}]})
        )
        .starts_with("linux.seccomp.syscalls[0].names: "));
    }

    #[test]
    fn unknown_names_are_skipped_and_notify_sets_the_listener_flags() {
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let f = compile(&p, Arch::X86_64).unwrap();
        assert!(f.notify);
        assert_eq!(
            f.flags,
            sys::FLAG_NEW_LISTENER | sys::FLAG_WAIT_KILLABLE_RECV | sys::FLAG_LOG
        );
        assert_eq!(
            run(&f.program, arch::AUDIT_ARCH_X86_64, 83, [0; 6]),
            0x7fc0_0000
        );
        // Without a notify rule the wait-killable flag means nothing and is dropped.
        let p = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
        }));
        assert_eq!(compile(&p, Arch::X86_64).unwrap().flags, 0);
    }
}
