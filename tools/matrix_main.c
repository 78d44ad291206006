/* matrix_main.c — a stand-in `main` for builds where the CLI's dispatcher
 * (tools/tern.c with the table in tools/commands.h) is absent: it runs
 * `tern tune` and `tern matrix` only. Weak, so the real dispatcher's main
 * wins whenever it is linked in; delete this file once commands.h lists
 * cmd_tune and cmd_matrix. */
#include "tern.h"

#include <stdio.h>
#include <string.h>

int cmd_tune(int argc, char **argv);
int cmd_matrix(int argc, char **argv);

static void log_stderr(void *user, tern_log_level level, const char *msg) {
  (void)user;
  static const char *const names[] = {"error", "warning", "info", "debug"};
  fprintf(stderr, "tern: %s: %s\n", names[level & 3], msg);
}

__attribute__((weak)) int main(int argc, char **argv) {
  tern_log_level lvl = TERN_LOG_WARN;
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-v"))
      lvl = TERN_LOG_INFO;
  tern_set_log_callback(log_stderr, NULL, lvl);
  if (argc >= 2 && !strcmp(argv[1], "tune"))
    return cmd_tune(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "matrix"))
    return cmd_matrix(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "--version")) {
    printf("tern %s\n", tern_version_string());
    return 0;
  }
  fprintf(stderr, "usage: tern tune|matrix [options] (see tern <command> "
                  "--help)\n");
  return 2;
}
