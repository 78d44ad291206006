/* cmd_ptq.c — `tern ptq`: post-training quantization (ternary / int8) with
 * calibration, batch-norm re-estimation and bias correction. The options and
 * the run loop are shared with `tern train` (cmd_train.c). */
#include "train_cli.h"

int tern_cmd_ptq(int argc, char **argv) {
  return train_cli_main(TRAIN_CLI_PTQ, argc, argv);
}
