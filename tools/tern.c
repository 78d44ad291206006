/* tern.c — the `tern` command-line tool: global options, logging to stderr
 * and dispatch of `tern <command>` through the table in commands.h. */
#include "cli_common.h"
#include "commands.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} command;

static const command k_commands[] = {
#define TERN_COMMAND_ROW_(name, fn, help) {name, fn, help},
    TERN_COMMANDS(TERN_COMMAND_ROW_)
#undef TERN_COMMAND_ROW_
};
#define N_COMMANDS ((int)(sizeof k_commands / sizeof k_commands[0]))

static void usage(FILE *f) {
  fprintf(f, "usage: tern [-v|-q] <command> [options]\n"
             "       tern --version | --help\n\n"
             "Run ternary and INT8 neural networks on CPU, Vulkan and OpenCL "
             "devices.\n\ncommands:\n");
  for (int i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-12s %s\n", k_commands[i].name, k_commands[i].help);
  fprintf(f, "\n'tern <command> --help' describes a command. Exit codes: 0 "
             "success, 1 failure, 2 usage error.\n");
}

static void log_to_stderr(void *user, tern_log_level level, const char *msg) {
  static const char *const names[] = {"error", "warning", "info", "debug"};
  (void)user;
  fprintf(stderr, "tern: %s: %s\n", (unsigned)level < 4 ? names[level] : "log",
          msg);
}

int main(int argc, char **argv) {
  int i = 1;
  int verbosity = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--version") == 0) {
      printf("tern %d.%d.%d (library %s)\n", TERN_VERSION_MAJOR,
             TERN_VERSION_MINOR, TERN_VERSION_PATCH, tern_version_string());
      return CLI_EXIT_OK;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return CLI_EXIT_OK;
    }
    if (strcmp(a, "--verbose") == 0)
      verbosity++;
    else if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1))
      verbosity += (int)strlen(a + 1);
    else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
      verbosity = 0;
    else {
      fprintf(stderr, "tern: unknown option '%s'\n", a);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const command *cmd = NULL;
  for (int k = 0; k < N_COMMANDS; k++)
    if (strcmp(argv[i], k_commands[k].name) == 0)
      cmd = &k_commands[k];
  if (!cmd) {
    fprintf(stderr, "tern: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  /* -v inside the command's own options is parsed by cli_parse; the log
   * level follows whatever verbosity is in force when the library logs */
  for (int k = i + 1; k < argc; k++) {
    const char *a = argv[k];
    if (strcmp(a, "--") == 0)
      break;
    if (strcmp(a, "--verbose") == 0)
      verbosity++;
    else if (a[0] == '-' && a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1))
      verbosity += (int)strlen(a + 1);
    else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
      verbosity = 0;
  }
  cli_set_verbosity(verbosity);
  tern_log_level max = verbosity <= 0   ? TERN_LOG_ERROR
                       : verbosity == 1 ? TERN_LOG_WARN
                       : verbosity == 2 ? TERN_LOG_INFO
                                        : TERN_LOG_DEBUG;
  tern_set_log_callback(log_to_stderr, NULL, max);
  char name[64];
  snprintf(name, sizeof name, "tern %s", cmd->name);
  cli_set_command(name);
  return cmd->fn(argc - i, argv + i);
}
