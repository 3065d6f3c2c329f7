#!/usr/bin/env python3
"""Writes cli/hot-code.ld: a linker script that puts the functions vrun's commands run
(found by trace.c, see README.md here) next to each other, ahead of the rest of the code.

    order.py BINARY OUT.ld HITS...
    order.py --check BINARY HITS...   # exit 1 when over 3% of the entered code (by size)
                                      # lies outside BINARY's .text.hot: the script is stale

BINARY is the unstripped vrun (or shim) the HITS (addresses of functions entered) were traced
from. Rust functions are named by their v0-mangled names, without what changes from build to
build; C functions (glibc's, linked statically) by the archive member that defines them.

A shim's hits (trace --all) also say which roles entered each function: 1 the shim, 2 its
maker at a call, 4 a container's init before its exec, 8 the idle maker (re-exec'd to shed
memory, until its next call). The block then runs: the shim's code alone, the shim's and the
busy maker's, the shim's and the idle maker's, the idle maker's, the busy maker's, the inits':
the shim and the idle maker, which both live as long as their pod, each map one stretch of it
(the busy maker maps more, until it sheds it)."""
import collections
import re
import subprocess
import sys

LIBGCC = subprocess.run(["cc", "-print-libgcc-file-name"], capture_output=True, text=True).stdout.strip()
ARCHIVES = ["/usr/lib/x86_64-linux-gnu/libc.a", "/usr/lib/x86_64-linux-gnu/libm.a", LIBGCC,
            LIBGCC.replace("libgcc.a", "libgcc_eh.a")]


def nm(*args):
    return subprocess.run(["nm", *args], capture_output=True, text=True, check=False).stdout


def pattern(sym):
    """What a function symbol is matched by in the next build: its name without what changes
    from build to build (v0 mangling, see .cargo/config.toml: a crate's disambiguator
    `Cs<id>_`, and the `.llvm.<n>` ThinLTO appends to a local function it exports)."""
    return re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", re.sub(r"\.llvm\.\d+$", "", sym))


def functions(binary):
    """address -> (size, the function symbols there)"""
    found = {}
    for line in nm("-S", binary).splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            found.setdefault(int(p[0], 16), (int(p[1], 16), []))[1].append(p[3])
    return found


def entered(hits):
    return {int(line.split()[0], 16) for path in hits for line in open(path)}


def group(mask):
    """Where a function entered by these roles goes (see the module's text)."""
    shim, busy, idle = mask & 1, mask & 2, mask & 8
    if shim:
        return 2 if idle else 1 if busy else 0
    return 3 if idle else 4 if busy else 5


def check(binary, hits):
    hot = None
    for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout.splitlines():
        p = line.replace("[ ", "[").split()
        if len(p) > 5 and p[1] == ".text.hot":
            hot = (int(p[3], 16), int(p[3], 16) + int(p[5], 16))
    size = {a: f[0] for a, f in functions(binary).items()}
    addrs = entered(hits)
    total = sum(size.get(a, 0) for a in addrs)
    out = sum(size.get(a, 0) for a in addrs if not (hot and hot[0] <= a < hot[1]))
    share = out / total if total else 1
    print(f"hot code: {len(addrs)} functions entered, {total // 1024} KiB; "
          f"{out // 1024} KiB ({share:.1%}) outside the block")
    # (6% outside, after issue 21's changes, cost `run` 1.3 MB of peak RSS: 1.16x crun's)
    return 1 if share > 0.03 else 0


def main():
    if sys.argv[1] == "--check":
        return check(sys.argv[2], sys.argv[3:])
    binary, out, hits = sys.argv[1], sys.argv[2], sys.argv[3:]
    names = {a: f[1] for a, f in functions(binary).items()}  # address -> function symbols there
    member = {}  # C symbol -> "archive:member"
    for archive in ARCHIVES:
        for line in nm("-A", "--defined-only", archive).splitlines():
            m = re.match(r"(.*?):(.*?):[0-9a-f]* [tTwWiI] (\S+)$", line)
            if m:
                member.setdefault(m.group(3), f"*{m.group(1).rsplit('/', 1)[-1]}:{m.group(2)}")
    # Each function's rank: how many of the traced commands ran it (then where it was first
    # met), so that the code every command runs comes first and a small command touches only
    # the front of the block (the kernel maps a file's pages 64 KiB at a time around a fault).
    users = collections.Counter()
    first = {}
    masks = collections.Counter()
    for n, path in enumerate(hits):
        keys = set()
        for line in open(path):
            address, *mask = line.split()
            for sym in names.get(int(address, 16), []):
                if sym in member:  # glibc's, and libgcc's: by the archive member
                    key = f"{member[sym]}(.text .text.*)"
                elif sym.startswith("_R") or sym == "main":
                    p = pattern(sym)
                    key = f"*(.text.{p} .text.{p}.llvm.* .text.unlikely.{p} .text.unlikely.{p}.llvm.*)"
                else:
                    continue  # (the C runtime's start files: few, and they stay put)
                keys.add(key)
                first.setdefault(key, (n, int(address, 16)))
                masks[key] |= int(mask[0]) if mask else 1
        users.update(keys)
    ranked = sorted(users, key=lambda k: (group(masks[k]), -users[k], first[k]))
    with open(out, "w") as f:
        f.write("/* Made by integration/hot-code/run.sh: the code vrun's commands run, placed\n"
                " * together ahead of the rest (see integration/hot-code/README.md). */\n")
        f.write("SECTIONS {\n  .text.hot : {\n")
        for key in ranked:
            f.write(f"    {key}\n")
        f.write("  }\n} INSERT BEFORE .text;\n")
    print(f"{out}: {len(ranked)} patterns", file=sys.stderr)
    return 0


sys.exit(main())
