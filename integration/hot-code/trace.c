/* trace: runs a command under ptrace and writes which functions of one binary were entered,
 * in every process and thread that runs the binary's image (vrun's re-exec'd copy too).
 * integration/hot-code/run.sh uses it to find the code vrun's commands run, which
 * cli/hot-code.ld then places together (see README.md there).
 *
 *   trace FUNCTIONS OUT -- BINARY ARGS...
 *   trace --all [--busy-at ADDRESS] FUNCTIONS OUT -- BINARY ARGS...
 *
 * FUNCTIONS: the start addresses (hex, one per line) of the functions of BINARY, a static,
 * non-PIE executable, so that its addresses are the same in every process. Each process's
 * image gets a breakpoint (int3) at every function start; the first time one is hit, the
 * address is recorded and the original byte put back. OUT: the addresses hit, one per line.
 * A process that execs another program (a container's own) is let go, and so is every process
 * still running when BINARY's first process ends (a created container's init): its breakpoints
 * are taken out first.
 *
 * --all (for containerd-shim-vrun-v2, run by containerd): the tracing goes on in a process of
 * its own, detached (its stdio /dev/null, its message in OUT.log), until every process running
 * BINARY's image has ended: the shim's `start` spawns the serving shim, which forks its maker,
 * and both live on after `start` ends. trace itself waits for BINARY's first process only, and
 * exits with its status, as containerd needs of the command it ran (it reads the command's
 * output to its end, so nothing else may hold it open). There the processes have roles: a
 * process that exec'd BINARY is 0 (the shim), a fork of it 1 (the maker), a fork of that 2
 * (a container's init before its exec), and a maker that re-exec'd itself to shed memory 3
 * (the idle maker), until it enters the function at BUSY (`--busy-at BUSY`, where it takes a
 * call): 1 again. Each fork, and each re-exec'd maker, gets every breakpoint again, so that
 * what each role enters is known, and OUT's lines are "ADDRESS ROLES", ROLES a mask of the
 * roles that entered it, for order.py to place each role's code apart from the others'. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long *starts; /* sorted function starts */
static size_t nstarts;
static unsigned char *original; /* the byte at each start */
static unsigned char *hit;
static struct stat target;
static pid_t live[4096]; /* the tracees */
static size_t nlive;
static int all; /* --all */
static unsigned long busy_at; /* --all: where the idle maker becomes a busy one */
static unsigned char *roles; /* --all: the mask of the roles that entered each function */
static struct { pid_t pid; int role; } role_of_pid[4096]; /* --all: processes, not threads */
static size_t nroles;

static void set_role(pid_t pid, int role) {
  for (size_t i = 0; i < nroles; i++)
    if (role_of_pid[i].pid == pid) {
      role_of_pid[i].role = role;
      return;
    }
  if (nroles < sizeof role_of_pid / sizeof *role_of_pid)
    role_of_pid[nroles].pid = pid, role_of_pid[nroles++].role = role;
}

static int role_of(pid_t pid) {
  for (size_t i = 0; i < nroles; i++)
    if (role_of_pid[i].pid == pid) return role_of_pid[i].role;
  return -1;
}

/* The process (thread group) a traced thread belongs to. */
static pid_t tgid_of(pid_t tid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", tid);
  FILE *f = fopen(path, "r");
  pid_t tgid = tid;
  if (!f) return tid;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Tgid: %d", &tgid) == 1) break;
  fclose(f);
  return tgid;
}

static void add_live(pid_t pid) {
  for (size_t i = 0; i < nlive; i++)
    if (live[i] == pid) return;
  if (nlive < sizeof live / sizeof *live) live[nlive++] = pid;
}

static void drop_live(pid_t pid) {
  for (size_t i = 0; i < nlive; i++)
    if (live[i] == pid) live[i] = live[--nlive];
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static long find(unsigned long addr) {
  size_t a = 0, b = nstarts;
  while (a < b) {
    size_t m = (a + b) / 2;
    if (starts[m] < addr) a = m + 1;
    else b = m;
  }
  return a < nstarts && starts[a] == addr ? (long)a : -1;
}

static int mem_fd(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  return open(path, O_RDWR);
}

/* Whether pid runs the binary: the file itself, or a view of it of the same size (vrun
 * re-execs through a read-only overlay of its directory, or from a sealed memfd copy). */
static int runs_target(pid_t pid) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  if (stat(path, &st) != 0) return 0;
  return (st.st_dev == target.st_dev && st.st_ino == target.st_ino) || st.st_size == target.st_size;
}

/* At a breakpoint's SIGTRAP, rip is one past the int3: moves it back onto the function's first
 * byte and returns the function's index, or -1 for a SIGTRAP that is not one of ours. */
static long rewind_breakpoint(pid_t pid) {
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, pid, 0, &regs) != 0) return -1;
  long i = find(regs.rip - 1);
  if (i >= 0) {
    regs.rip -= 1;
    ptrace(PTRACE_SETREGS, pid, 0, &regs);
  }
  return i;
}

/* An int3 at every function start not yet hit, in a freshly exec'd image; or (`again`, --all)
 * at every function start: a fork's copy of its parent's image, or a re-exec'd maker's, has the
 * bytes put back of the functions entered before, and its own entries are to be seen. */
static void plant(pid_t pid, int again) {
  int fd = mem_fd(pid);
  if (fd < 0 && again) return; /* (a fork gone already) */
  if (fd < 0) die("open /proc/PID/mem");
  static const unsigned char int3 = 0xcc;
  for (size_t i = 0; i < nstarts; i++) {
    if (hit[i] && !again) continue;
    if (pwrite(fd, &int3, 1, (off_t)starts[i]) == 1) continue;
    if (again) break;
    die("plant");
  }
  close(fd);
}

/* --all: a process's role, the shim's if it has none yet. */
static int role_or_shim(pid_t process) {
  int role = role_of(process);
  return role < 0 ? 0 : role;
}

int main(int argc, char **argv) {
  all = argc > 1 && strcmp(argv[1], "--all") == 0;
  if (all) argv++, argc--;
  if (all && argc > 2 && strcmp(argv[1], "--busy-at") == 0) {
    busy_at = strtoul(argv[2], 0, 16);
    argv += 2, argc -= 2;
  }
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: trace [--all [--busy-at ADDRESS]] FUNCTIONS OUT -- BINARY ARGS...\n");
    return 2;
  }
  FILE *in = fopen(argv[1], "r");
  if (!in) die(argv[1]);
  size_t cap = 1 << 16;
  starts = malloc(cap * sizeof *starts);
  unsigned long a;
  while (fscanf(in, "%lx", &a) == 1) {
    if (nstarts == cap) starts = realloc(starts, (cap *= 2) * sizeof *starts);
    starts[nstarts++] = a;
  }
  fclose(in);
  for (size_t i = 1; i < nstarts; i++)
    if (starts[i] <= starts[i - 1]) {
      fprintf(stderr, "trace: %s is not sorted and unique\n", argv[1]);
      return 2;
    }
  original = malloc(nstarts);
  hit = calloc(nstarts, 1);
  roles = calloc(nstarts, 1);
  if (stat(argv[4], &target) != 0) die(argv[4]);

  pid_t child = fork();
  if (child == 0) {
    raise(SIGSTOP);
    execv(argv[4], argv + 4);
    _exit(127);
  }
  int status, exit_code = -1, have_original = 0;
  if (waitpid(child, &status, WUNTRACED) != child) die("wait for the first stop");
  if (all) {
    pid_t tracer = fork();
    if (tracer < 0) die("fork");
    if (tracer > 0) { /* the command's parent: its exit status, once the tracer has seen it */
      while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) die("wait");
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    char log[4096];
    snprintf(log, sizeof log, "%s.log", argv[2]);
    int null = open("/dev/null", O_RDWR), err = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null < 0 || err < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0) die(log);
    close(null);
    close(err);
    setsid();
  }
  /* seized, not PTRACE_TRACEME: a seized tracee (and what it clones) can be interrupted */
  if (ptrace(PTRACE_SEIZE, child, 0,
             PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                 PTRACE_O_TRACEEXEC) != 0)
    die("seize");
  kill(child, SIGCONT);
  add_live(child);
  /* (--all: until no tracee is left, not only the ones seen so far: a child forked just
   * before its parent ended is reported after that end) */
  while (all || nlive > 0) {
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break; /* no tracee left */
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      drop_live(pid);
      if (pid == child) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (!all) break;
      }
      continue;
    }
    add_live(pid);
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status), event = status >> 16, deliver = 0;
    if (sig == SIGTRAP && event == PTRACE_EVENT_EXEC) {
      if (!runs_target(pid)) {
        ptrace(PTRACE_DETACH, pid, 0, 0);
        drop_live(pid);
        continue;
      }
      if (!have_original) { /* the bytes the breakpoints replace, from the first image */
        int m = mem_fd(pid);
        for (size_t i = 0; i < nstarts; i++)
          if (m < 0 || pread(m, &original[i], 1, (off_t)starts[i]) != 1) die("read text");
        close(m);
        have_original = 1;
      }
      /* (a maker that re-execs itself to shed memory: the idle maker) */
      int again = role_of(pid) >= 0;
      set_role(pid, again ? 3 : 0);
      plant(pid, again);
    } else if (sig == SIGTRAP && event == PTRACE_EVENT_FORK && all && have_original) {
      unsigned long new = 0;
      if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &new) == 0) {
        int role = role_or_shim(tgid_of(pid)) + 1;
        set_role((pid_t)new, role > 2 ? 2 : role);
        plant((pid_t)new, 1);
      }
    } else if (sig == SIGTRAP && event == 0) {
      long i = rewind_breakpoint(pid);
      if (i >= 0) {
        hit[i] = 1;
        if (all) { /* (a /proc read per entry: for --all only) */
          pid_t tgid = tgid_of(pid);
          if (starts[i] == busy_at && role_of(tgid) == 3) set_role(tgid, 1);
          roles[i] |= 1 << role_or_shim(tgid);
        }
        int m = mem_fd(pid);
        if (m < 0 || pwrite(m, &original[i], 1, (off_t)starts[i]) != 1) die("restore");
        close(m);
      } else {
        deliver = sig; /* a SIGTRAP of the program's own */
      }
    } else if (sig == SIGTRAP || event == PTRACE_EVENT_STOP) {
      /* a clone/fork/vfork event, or a new tracee's first stop */
    } else {
      deliver = sig; /* a real signal: pass it on */
    }
    ptrace(PTRACE_CONT, pid, 0, deliver);
  }
  /* What still runs goes on without breakpoints (one left would kill it with SIGTRAP). */
  while (nlive > 0) {
    pid_t pid = live[0];
    drop_live(pid);
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0) continue;
    for (;;) {
      pid_t p = waitpid(-1, &status, __WALL);
      if (p < 0) break;
      if (p != pid) {
        if (WIFSTOPPED(status)) add_live(p);
        else drop_live(p);
        continue;
      }
      if (!WIFSTOPPED(status)) break;
      int sig = WSTOPSIG(status), event = status >> 16, deliver = 0;
      if (sig == SIGTRAP && event == 0) { /* stopped at a breakpoint before the interrupt */
        rewind_breakpoint(pid);
      } else if (sig != SIGTRAP && event == 0) {
        deliver = sig;
      }
      int m = mem_fd(pid);
      for (size_t i = 0; m >= 0 && have_original && i < nstarts; i++)
        if (pwrite(m, &original[i], 1, (off_t)starts[i]) != 1) break;
      if (m >= 0) close(m);
      ptrace(PTRACE_DETACH, pid, 0, deliver);
      break;
    }
  }
  FILE *out = fopen(argv[2], "w");
  if (!out) die(argv[2]);
  size_t n = 0;
  for (size_t i = 0; i < nstarts; i++)
    if (hit[i] && all) fprintf(out, "%lx %d\n", starts[i], roles[i]), n++;
    else if (hit[i]) fprintf(out, "%lx\n", starts[i]), n++;
  if (fclose(out) != 0) die(argv[2]);
  fprintf(stderr, "trace: %zu of %zu functions entered\n", n, nstarts);
  return exit_code;
}
