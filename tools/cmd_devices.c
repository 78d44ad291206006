/* cmd_devices.c — `tern devices`: the backends that were compiled in and
 * found a driver, and their devices with capabilities. */
#include "cli_common.h"

#include <string.h>

static const char *type_name(tern_device_type t) {
  switch (t) {
  case TERN_DEVICE_CPU:
    return "cpu";
  case TERN_DEVICE_GPU_DISCRETE:
    return "discrete-gpu";
  case TERN_DEVICE_GPU_INTEGRATED:
    return "integrated-gpu";
  case TERN_DEVICE_GPU_VIRTUAL:
    return "virtual-gpu";
  default:
    return "other";
  }
}

int cmd_devices(int argc, char **argv) {
  bool json = false;
  const char *backends = NULL;
  const cli_opt opts[] = {
      {"json", 0, CLI_FLAG, &json, NULL, "one JSON document on stdout"},
      {"backends", 0, CLI_STRING, &backends, "LIST",
       "comma-separated backends to probe (default: all compiled in)"},
  };
  const cli_spec spec = {
      "tern devices [--json] [--backends cpu,vulkan,opencl]",
      "List the backends and their devices: id (for --backend), name, "
      "vendor, driver, memory, compute units and the features in use.",
      opts,
      2,
      0,
      0,
      NULL};
  const char *pos[1];
  int np;
  cli_parse_result pr = cli_parse(&spec, argc, argv, 1, pos, &np);
  if (pr != CLI_PARSED)
    return pr == CLI_HELP_SHOWN ? CLI_EXIT_OK : CLI_EXIT_USAGE;

  tern_context_desc cd = {.size = sizeof cd};
  cd.backends = backends;
  tern_context *ctx = NULL;
  tern_status s = tern_context_create(&cd, &ctx);
  if (s)
    return cli_error("cannot create a context: %s (%s)", tern_last_error(),
                     tern_status_name(s));
  int n = tern_context_device_count(ctx);
  cli_json j;
  if (json) {
    cj_init(&j, stdout);
    cj_object(&j);
    cj_kstr(&j, "version", tern_version_string());
    cj_kint(&j, "threads", tern_context_thread_count(ctx));
    cj_key(&j, "backends");
    cj_array(&j);
    /* each backend once, in the order its first device appears */
    for (int i = 0; i < n; i++) {
      tern_device_info di = {.size = sizeof di}, dk = {.size = sizeof dk};
      if (tern_context_device_info(ctx, i, &di))
        continue;
      bool seen = false;
      for (int k = 0; k < i && !seen; k++)
        seen = tern_context_device_info(ctx, k, &dk) == TERN_OK &&
               strcmp(dk.backend, di.backend) == 0;
      if (!seen)
        cj_str(&j, di.backend);
    }
    cj_array_end(&j);
    cj_key(&j, "devices");
    cj_array(&j);
  } else {
    printf("%-12s %-8s %-14s %-40s %s\n", "ID", "BACKEND", "TYPE", "NAME",
           "MEMORY");
  }
  int rc = CLI_EXIT_OK;
  for (int i = 0; i < n; i++) {
    tern_device_info di = {.size = sizeof di};
    if ((s = tern_context_device_info(ctx, i, &di))) {
      rc = cli_error("device %d: %s", i, tern_context_errmsg(ctx));
      continue;
    }
    if (json) {
      cj_object(&j);
      cj_kstr(&j, "id", di.id);
      cj_kstr(&j, "backend", di.backend);
      cj_kstr(&j, "name", di.name);
      cj_kstr(&j, "vendor", di.vendor);
      cj_kstr(&j, "driver", di.driver);
      cj_kstr(&j, "type", type_name(di.type));
      cj_kuint(&j, "memory_bytes", di.memory_bytes);
      cj_kint(&j, "compute_units", di.compute_units);
      cj_kstr(&j, "features", di.features);
      cj_object_end(&j);
    } else {
      char mem[32];
      printf("%-12s %-8s %-14s %-40s %s\n", di.id, di.backend,
             type_name(di.type), di.name,
             cli_bytes_str(di.memory_bytes, mem, sizeof mem));
      printf("%-12s vendor %s, driver %s, %d compute units\n", "",
             di.vendor[0] ? di.vendor : "?", di.driver[0] ? di.driver : "?",
             di.compute_units);
      if (di.features[0])
        printf("%-12s features: %s\n", "", di.features);
    }
  }
  if (json) {
    cj_array_end(&j);
    cj_object_end(&j);
    cj_finish(&j);
  }
  tern_context_destroy(ctx);
  return rc;
}
