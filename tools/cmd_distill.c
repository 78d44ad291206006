/* cmd_distill.c — `tern distill`: knowledge distillation from an fp32 teacher
 * into a ternary / int8 student. The options and the run loop are shared with
 * `tern train` (cmd_train.c). */
#include "train_cli.h"

int tern_cmd_distill(int argc, char **argv) {
  return train_cli_main(TRAIN_CLI_DISTILL, argc, argv);
}
