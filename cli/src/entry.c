/* vrun's first instructions, before glibc's start-up (x86_64, static glibc builds only).
 *
 * CVE-2019-5736 has `create`, `run` and `exec` re-execute vrun from a view of its binary no
 * one can write (runtime/src/selfclone.rs; SECURITY.md). Done from main(), the first image
 * paid glibc's start-up (its probing of the CPU's caches is some fifty `cpuid`s, each a trap
 * to the hypervisor in a VM), the Rust runtime's, and the page faults of both, only to throw
 * them away: about 1 ms of the 7 a `run` costs (issue 14). So, as runc does in C before the
 * Go runtime starts (nsexec), this code runs at the ELF entry point with nothing set up: raw
 * system calls on the stack the kernel gave, no libc, no TLS, no allocation. It makes the
 * same view as selfclone.rs's first way (a detached read-only overlay of the binary's
 * directory over /run) and re-executes from it with the untouched argv and environment.
 *
 * It only ever shortens the way: whatever it does not recognise or cannot do (no overlayfs,
 * no privilege, an odd path, /run overlapping the binary's directory) makes it return, and
 * glibc's _start runs as usual; main() then finds the binary unprotected and takes the full
 * way, with the memfd fallback and proper errors. The guarantee is selfclone.rs's in both
 * cases: the process that enters a container runs from a binary it cannot write.
 *
 * Compiled freestanding, with loop-to-memcpy rewriting off (cli/build.rs): glibc's memcpy and
 * friends are IFUNCs, not yet resolved here, so nothing may call them.
 */

#define SYS_close 3
#define SYS_fstat 5
#define SYS_fcntl 72
#define SYS_readlink 89
#define SYS_fstatfs 138
#define SYS_openat 257
#define SYS_execveat 322
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432

#define AT_FDCWD (-100)
#define AT_EMPTY_PATH 0x1000
#define O_RDONLY 0
#define O_CLOEXEC 02000000
#define F_GET_SEALS 1034
#define SEALS_ALL 0xf /* seal, shrink, grow, write */
#define ST_RDONLY 1
#define FSOPEN_CLOEXEC 1
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#define FSMOUNT_CLOEXEC 1
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define S_IFMT 0170000
#define S_IFREG 0100000

#define PATH_BYTES 4096
/* the second layer (see selfclone.rs's overlay_view) */
static const char second_layer[] = "/run";

static long sys6(long n, long a, long b, long c, long d, long e) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* whether `dir` (length n) and /run overlap: one is inside the other, or they are one */
static int overlaps_second_layer(const char *dir, long n) {
  long m = sizeof(second_layer) - 1, i;
  long shorter = n < m ? n : m;
  for (i = 0; i < shorter; i++)
    if (dir[i] != second_layer[i]) return 0;
  if (n == m) return 1;
  if (n < m) return n == 1 || second_layer[n] == '/'; /* dir is "/" or an ancestor */
  return dir[m] == '/';
}

/* struct statfs: f_flags is its 11th 8-byte word */
static int already_protected(void) {
  long words[15];
  long fd = sys6(SYS_openat, AT_FDCWD, (long)"/proc/self/exe", O_RDONLY | O_CLOEXEC, 0, 0);
  if (fd < 0) return 1; /* let main() deal with it */
  int done = sys6(SYS_fstatfs, fd, (long)words, 0, 0, 0) == 0 && (words[10] & ST_RDONLY);
  if (!done) {
    long seals = sys6(SYS_fcntl, fd, F_GET_SEALS, 0, 0, 0);
    done = seals >= 0 && (seals & SEALS_ALL) == SEALS_ALL;
  }
  sys6(SYS_close, fd, 0, 0, 0, 0);
  return done;
}

static void reexec_from_overlay(char **argv, char **envp) {
  char exe[PATH_BYTES];
  char lower[PATH_BYTES + sizeof(second_layer) + 1];
  long n = sys6(SYS_readlink, (long)"/proc/self/exe", (long)exe, PATH_BYTES - 1, 0, 0);
  if (n <= 1 || exe[0] != '/') return;
  exe[n] = 0;
  long slash = -1, i;
  for (i = 0; i < n; i++) {
    /* characters overlayfs would split or unescape */
    if (exe[i] == ':' || exe[i] == ',' || exe[i] == '\\') return;
    if (exe[i] == '/') slash = i;
  }
  long dir_len = slash == 0 ? 1 : slash;
  if (slash + 1 >= n || overlaps_second_layer(exe, dir_len)) return;
  for (i = 0; i < dir_len; i++) lower[i] = exe[i];
  lower[i++] = ':';
  for (long j = 0; j < (long)sizeof(second_layer); j++) lower[i + j] = second_layer[j];
  const char *name = exe + slash + 1;

  long fs = sys6(SYS_fsopen, (long)"overlay", FSOPEN_CLOEXEC, 0, 0, 0);
  if (fs < 0) return;
  long mnt = -1;
  if (sys6(SYS_fsconfig, fs, FSCONFIG_SET_STRING, (long)"lowerdir", (long)lower, 0) == 0 &&
      sys6(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) == 0)
    mnt = sys6(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0);
  sys6(SYS_close, fs, 0, 0, 0, 0);
  if (mnt < 0) return;
  long fd = sys6(SYS_openat, mnt, (long)name, O_RDONLY | O_CLOEXEC, 0, 0);
  sys6(SYS_close, mnt, 0, 0, 0, 0);
  if (fd < 0) return;
  unsigned long st[18];
  /* a directory of /run, should the binary have left its own (selfclone.rs checks the same) */
  if (sys6(SYS_fstat, fd, (long)st, 0, 0, 0) == 0 && ((unsigned)st[3] & S_IFMT) == S_IFREG)
    sys6(SYS_execveat, fd, (long)"", (long)argv, (long)envp, AT_EMPTY_PATH);
  sys6(SYS_close, fd, 0, 0, 0, 0);
}

/* Called from vrun_entry with the kernel's stack: argc, argv[], NULL, envp[], NULL, auxv. */
void vrun_pre_start(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  int wanted = 0;
  /* as main() guesses: an argument naming a command that enters a container */
  for (long i = 1; i < argc; i++)
    if (same(argv[i], "create") || same(argv[i], "run") || same(argv[i], "exec")) wanted = 1;
  if (!wanted || already_protected()) return;
  reexec_from_overlay(argv, envp);
}

/* The ELF entry point (cli/build.rs links with -e vrun_entry): vrun_pre_start on an aligned
 * stack, then glibc's _start exactly as the kernel would have entered it (rsp restored, rdx
 * zero: no dynamic linker's fini for a static program). */
__asm__(".text\n"
        ".globl vrun_entry\n"
        ".type vrun_entry,@function\n"
        "vrun_entry:\n"
        "  mov %rsp, %rbx\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call vrun_pre_start\n"
        "  mov %rbx, %rsp\n"
        "  xor %edx, %edx\n"
        "  jmp _start\n"
        ".size vrun_entry, .-vrun_entry\n");
