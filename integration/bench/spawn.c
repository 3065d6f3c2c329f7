/* spawn: runs one command and reports its wall time and peak RSS, for bench.py.
 *
 *   spawn OUT CMD ARGS...   writes "<microseconds> <peak RSS KiB> <exit status>" to the file OUT
 *
 * Why not Python's subprocess: the kernel keeps a process's peak RSS across execve (wait4's
 * ru_maxrss is the maximum over every image the process had), so a child forked from Python
 * reports Python's 16 MB before the command's own. This launcher is linked statically and
 * touches little, so the floor it adds (shown by bench.py as "spawn /bin/true") is far below
 * any runtime's figure. The time is taken around fork and wait4 only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fputs("usage: spawn OUT CMD ARGS...\n", stderr);
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  int status;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("wait4");
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
  FILE *out = fopen(argv[1], "w");
  if (!out) {
    perror(argv[1]);
    return 2;
  }
  fprintf(out, "%ld %ld %d\n", us, ru.ru_maxrss,
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  fclose(out);
  return 0;
}
