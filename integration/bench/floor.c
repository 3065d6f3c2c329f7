/* floor: the kernel's part of a `run` of the bench's busybox bundle, and nothing else: the
 * namespaces, the nine v1 cgroups (device rules, cpuset), the mounts, masked and read-only
 * paths, pivot_root and the exec of /bin/true, with no config, state, checks or errors
 * worth the name. It measures how much of a runtime's time is the kernel's own work, which
 * no runtime can save (integration/bench/README.md, "Where the time went"). With --reexec it
 * first re-executes itself through a detached read-only overlay, as the CVE-2019-5736
 * protection requires of a runtime.
 *
 *   cc -O2 -static -o floor integration/bench/floor.c
 *   floor ROOTFS NAME [--reexec]     # as root, on a cgroup v1 host such as the development
 *                                    # VM, in a mount namespace without the unified hierarchy
 *
 * Its cgroups are made under the caller's own, named floor-NAME, and removed after. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

static const char *ctrls[] = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd"};
#define N 9
static char dirs[N][1100];
static void die(const char *w) { perror(w); exit(1); }
static void wr(const char *dir, const char *file, const char *v) {
  char p[600]; snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_WRONLY); if (fd < 0 || write(fd, v, strlen(v)) < 0) die(p); close(fd);
}
static void rd(const char *dir, const char *file, char *buf, int n) {
  char p[600]; snprintf(p, sizeof p, "%s/%s", dir, file);
  int fd = open(p, O_RDONLY); int k = read(fd, buf, n - 1); buf[k > 0 ? k : 0] = 0; close(fd);
}
static void own(const char *ctrl, char *out) {
  FILE *f = fopen("/proc/self/cgroup", "r"); char line[512];
  while (fgets(line, sizeof line, f)) {
    char *a = strchr(line, ':'), *b = strchr(a + 1, ':'); *b = 0; line[strlen(b + 1) + (b + 1 - line) - 1] = 0;
    char *c = a + 1; if (!strncmp(c, "name=", 5)) c += 5;
    char *t = strtok(c, ","); int hit = 0;
    for (; t; t = strtok(NULL, ",")) if (!strcmp(t, ctrl)) hit = 1;
    if (hit) { snprintf(out, 512, "/sys/fs/cgroup/%s%s", ctrl, b + 1); fclose(f); return; }
  }
  die("own cgroup");
}
static void m(const char *src, const char *dst, const char *type, unsigned long fl, const char *data) {
  if (mount(src, dst, type, fl, data) < 0) { fprintf(stderr, "mount %s: ", dst); die(""); }
}
static void child(const char *rootfs) {
  sethostname("floor", 5);
  m(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  m(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL);
  if (chdir(rootfs)) die("chdir");
  m("proc", "proc", "proc", 0, NULL);
  m("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  mkdir("dev/pts", 0755); m("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  mkdir("dev/shm", 0755); m("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  mkdir("dev/mqueue", 0755); m("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  m("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  m("tmpfs", "sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
  for (int i = 0; i < N; i++) {
    char p[128]; snprintf(p, sizeof p, "sys/fs/cgroup/%s", ctrls[i]); mkdir(p, 0755);
    m(dirs[i], p, NULL, MS_BIND, NULL);
    m(NULL, p, NULL, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND, NULL);
  }
  m(NULL, "sys/fs/cgroup", NULL, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT, NULL);
  struct { const char *n; int maj, min; } devs[] = {{"null",1,3},{"zero",1,5},{"full",1,7},{"random",1,8},{"urandom",1,9},{"tty",5,0}};
  for (int i = 0; i < 6; i++) { char p[64]; snprintf(p, sizeof p, "dev/%s", devs[i].n); mknod(p, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)); }
  symlink("/proc/self/fd", "dev/fd"); symlink("/proc/self/fd/0", "dev/stdin"); symlink("/proc/self/fd/1", "dev/stdout");
  symlink("/proc/self/fd/2", "dev/stderr"); symlink("pts/ptmx", "dev/ptmx");
  const char *masked[] = {"proc/acpi", "proc/asound", "proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "sys/firmware", "proc/scsi"};
  for (int i = 0; i < 10; i++) {
    struct stat st; if (lstat(masked[i], &st)) continue;
    if (S_ISDIR(st.st_mode)) m("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0k,mode=755");
    else m("dev/null", masked[i], NULL, MS_BIND, NULL);
  }
  const char *ro[] = {"proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger"};
  for (int i = 0; i < 5; i++) {
    if (access(ro[i], F_OK)) continue;
    m(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL);
    m(NULL, ro[i], NULL, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND, NULL);
  }
  if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root");
  m(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL);
  umount2(".", MNT_DETACH); if (chdir("/")) die("chdir /");
  char *argv[] = {"/bin/true", NULL}, *env[] = {"PATH=/bin", NULL};
  execve("/bin/true", argv, env); die("exec");
}
int main(int argc, char **argv) {
  if (argc > 3 && !strcmp(argv[3], "--reexec")) {
    /* the CVE-2019-5736 re-exec through a detached read-only overlay, as vrun and runc 1.2 */
    char exe[512]; int n = readlink("/proc/self/exe", exe, sizeof exe - 1); exe[n] = 0;
    char *slash = strrchr(exe, '/'); *slash = 0;
    int fs = syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC); char lower[1100];
    snprintf(lower, sizeof lower, "%s:/run", exe);
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir", lower, 0) || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)) die("overlay");
    int mnt = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
    int fd = openat(mnt, slash + 1, O_RDONLY | O_CLOEXEC);
    argv[3] = "--reexeced";
    extern char **environ; syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH); die("execveat");
  }
  for (int i = 0; i < N; i++) {
    char base[512]; own(ctrls[i], base);
    snprintf(dirs[i], sizeof dirs[i], "%s/floor-%s", base, argv[2]);
    if (mkdir(dirs[i], 0755)) die(dirs[i]);
    if (!strcmp(ctrls[i], "cpuset")) { char v[256]; rd(base, "cpuset.cpus", v, sizeof v); wr(dirs[i], "cpuset.cpus", v); rd(base, "cpuset.mems", v, sizeof v); wr(dirs[i], "cpuset.mems", v); }
    if (!strcmp(ctrls[i], "devices")) {
      wr(dirs[i], "devices.deny", "a");
      const char *rules[] = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"};
      for (int r = 0; r < 12; r++) wr(dirs[i], "devices.allow", rules[r]);
    }
  }
  int sync[2]; if (pipe(sync)) die("pipe");
  pid_t pid = syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) die("clone");
  if (pid == 0) { char c; close(sync[1]); if (read(sync[0], &c, 1) < 0) die("sync"); child(argv[1]); }
  char p[32]; snprintf(p, sizeof p, "%d", pid);
  for (int i = 0; i < N; i++) wr(dirs[i], "tasks", p);
  close(sync[1]);
  int st; waitpid(pid, &st, 0);
  for (int i = 0; i < N; i++) if (rmdir(dirs[i])) die(dirs[i]);
  return WEXITSTATUS(st);
}
