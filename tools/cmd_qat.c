/* cmd_qat.c — `tern qat`: quantization-aware training (ternary / int8) from an
 * fp32 model. The options and the run loop are shared with `tern train`
 * (cmd_train.c). */
#include "train_cli.h"

int tern_cmd_qat(int argc, char **argv) {
  return train_cli_main(TRAIN_CLI_QAT, argc, argv);
}
