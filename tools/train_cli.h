/* train_cli.h — the engine shared by `tern train`, `tern qat`, `tern distill`
 * and `tern ptq` (tools/cmd_train.c): one option set, one run loop, one
 * report (progress, CSV row, --json). Each command file only picks a mode. */
#ifndef TERN_TRAIN_CLI_H
#define TERN_TRAIN_CLI_H

typedef enum train_cli_mode {
  TRAIN_CLI_TRAIN = 0,
  TRAIN_CLI_QAT = 1,
  TRAIN_CLI_DISTILL = 2,
  TRAIN_CLI_PTQ = 3
} train_cli_mode;

int train_cli_main(train_cli_mode mode, int argc, char **argv);

int tern_cmd_train(int argc, char **argv);
int tern_cmd_qat(int argc, char **argv);
int tern_cmd_distill(int argc, char **argv);
int tern_cmd_ptq(int argc, char **argv);

#endif
