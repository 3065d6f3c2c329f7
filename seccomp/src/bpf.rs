//! A small classic-BPF assembler with labels. Conditional jumps reach at most 255
//! instructions ahead, `ja` any distance: the compiler only ever makes short conditional
//! jumps (within one condition or one dispatch block) and uses `ja` for the rest, and
//! [`Asm::finish`] checks that this held.

pub(crate) const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub(crate) const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub(crate) const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
pub(crate) const JGE: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub(crate) const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
pub(crate) const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub(crate) const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// The kernel's BPF_MAXINSNS.
pub(crate) const MAX_INSNS: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Next,
    To(Label),
}

#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u16,
    jt: Target,
    jf: Target,
    k: u32,
    /// For `ja`: the label k points at.
    ja: Option<Label>,
}

#[derive(Default)]
pub(crate) struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    pub fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }

    fn push(&mut self, code: u16, k: u32, jt: Target, jf: Target, ja: Option<Label>) {
        self.insns.push(Insn {
            code,
            jt,
            jf,
            k,
            ja,
        });
    }

    pub fn ld(&mut self, offset: u32) {
        self.push(LD_W_ABS, offset, Target::Next, Target::Next, None);
    }

    pub fn and(&mut self, k: u32) {
        self.push(AND, k, Target::Next, Target::Next, None);
    }

    pub fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.push(code, k, jt, jf, None);
    }

    pub fn ja(&mut self, to: Label) {
        self.push(JA, 0, Target::Next, Target::Next, Some(to));
    }

    pub fn ret(&mut self, k: u32) {
        self.push(RET, k, Target::Next, Target::Next, None);
    }

    /// Resolves the labels. Err(message) if a label was never bound, a conditional jump
    /// is out of reach (a compiler bug) or the program is over the kernel's limit.
    pub fn finish(self) -> Result<Vec<libc::sock_filter>, String> {
        if self.insns.len() > MAX_INSNS {
            return Err(format!(
                "the profile compiles to {} BPF instructions, over the kernel's limit of {MAX_INSNS}",
                self.insns.len()
            ));
        }
        let at = |l: Label| -> Result<usize, String> {
            self.labels[l.0].ok_or_else(|| "internal error: unbound BPF label".to_string())
        };
        let mut out = Vec::with_capacity(self.insns.len());
        for (pc, insn) in self.insns.iter().enumerate() {
            let rel = |t: Target| -> Result<u8, String> {
                match t {
                    Target::Next => Ok(0),
                    Target::To(l) => {
                        let to = at(l)?;
                        to.checked_sub(pc + 1)
                            .and_then(|d| u8::try_from(d).ok())
                            .ok_or_else(|| {
                                format!("internal error: BPF jump from {pc} to {to} out of reach")
                            })
                    }
                }
            };
            let k = match insn.ja {
                Some(l) => {
                    let to = at(l)?;
                    to.checked_sub(pc + 1)
                        .ok_or_else(|| "internal error: backward BPF jump".to_string())?
                        as u32
                }
                None => insn.k,
            };
            out.push(libc::sock_filter {
                code: insn.code,
                jt: rel(insn.jt)?,
                jf: rel(insn.jf)?,
                k,
            });
        }
        Ok(out)
    }
}
