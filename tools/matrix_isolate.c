/* matrix_isolate.c — runs one piece of the matrix (probing devices, tuning a
 * device, one cell) in a child process, so that a driver that crashes or
 * hangs costs one cell ("crashed: signal 11", "timed out") instead of the
 * whole report. The child writes its result into an anonymous temporary
 * file that the parent reads back after the child has exited. */
#include "matrix.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int mx_isolated(void (*fn)(void *arg, int fd), void *arg, bool isolate,
                double timeout_s, mx_buf *out, char *why, size_t wn) {
  FILE *tf = tmpfile();
  if (!tf) {
    snprintf(why, wn, "cannot create a temporary file");
    return 1;
  }
  int fd = fileno(tf);
  if (!isolate) {
    fn(arg, fd);
  } else {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
      snprintf(why, wn, "cannot start a child process");
      fclose(tf);
      return 1;
    }
    if (pid == 0) {
      fn(arg, fd);
      _exit(0);
    }
    double deadline = mono_s() + timeout_s;
    int status = 0;
    for (;;) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid)
        break;
      if (w < 0) {
        snprintf(why, wn, "lost the child process");
        fclose(tf);
        return 1;
      }
      if (mono_s() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        snprintf(why, wn, "timed out after %.0f s (killed)", timeout_s);
        fclose(tf);
        return 1;
      }
      usleep(1000);
    }
    if (WIFSIGNALED(status)) {
      int sig = WTERMSIG(status);
      snprintf(why, wn, "crashed: signal %d (%s)", sig, strsignal(sig));
      fclose(tf);
      return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      snprintf(why, wn, "the child process exited with status %d",
               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
      fclose(tf);
      return 1;
    }
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    snprintf(why, wn, "cannot read the child's result");
    fclose(tf);
    return 1;
  }
  char chunk[8192];
  ssize_t got;
  while ((got = read(fd, chunk, sizeof chunk)) > 0)
    mx_append(out, chunk, (size_t)got);
  fclose(tf);
  if (out->oom) {
    snprintf(why, wn, "out of memory");
    return 1;
  }
  return 0;
}

bool mx_write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w <= 0)
      return false;
    c += w;
    n -= (size_t)w;
  }
  return true;
}
