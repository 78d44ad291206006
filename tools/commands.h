/* commands.h — the `tern` command table: one line per command
 * X(name, function, one-line help). Each function is `int fn(int argc, char
 * **argv)` with argv[0] the command name, returning an exit code (0 ok, 1
 * failure, 2 usage error), and lives in tools/cmd_<name>.c. */
#ifndef TERN_CLI_COMMANDS_H
#define TERN_CLI_COMMANDS_H

#define TERN_COMMANDS(X)                                                       \
  X("devices", cmd_devices, "list backends and devices with capabilities")     \
  X("model", cmd_model, "create a zoo model file, or list the zoo")            \
  X("inspect", cmd_inspect, "show a .tern file's layers, sizes, compression")  \
  X("run", cmd_run, "run a model on a device; latency, outputs, accuracy")     \
  X("quantize", cmd_quantize, "convert f32 weights to int8/ternary/mixed")     \
  X("bench", cmd_bench, "benchmark the CPU kernels (tern bench kernels)")

#define TERN_COMMAND_DECL_(name, fn, help) int fn(int argc, char **argv);
TERN_COMMANDS(TERN_COMMAND_DECL_)
#undef TERN_COMMAND_DECL_

#endif
