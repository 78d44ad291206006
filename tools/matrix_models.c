/* matrix_models.c — the models the matrix runs: the zoo (models/
 * tern_models.h), a spec "name:width=256,seq=8" passing size knobs. */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern_models.h"

/* The default configuration: every zoo model, sized so the full matrix
 * stays within minutes on a 2-core machine; --quick takes the small ones. */
static const char *const k_full[] = {"mlp", "lenet5", "resnet-mini",
                                     "mobilenet-mini",
                                     "bitnet-block:width=256,seq=8"};
static const char *const k_quick[] = {"mlp", "lenet5"};

int mx_default_models(const char **names, int max, bool quick) {
  const char *const *src = quick ? k_quick : k_full;
  int n = quick ? (int)(sizeof k_quick / sizeof *k_quick)
                : (int)(sizeof k_full / sizeof *k_full);
  for (int i = 0; i < n && i < max; i++)
    names[i] = src[i];
  return n < max ? n : max;
}

static bool knob(const char *k, const char *v, tern_model_desc *d) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end || x <= 0 || x > 1 << 20)
    return false;
  if (!strcmp(k, "width"))
    d->width = (int)x;
  else if (!strcmp(k, "depth"))
    d->depth = (int)x;
  else if (!strcmp(k, "heads"))
    d->heads = (int)x;
  else if (!strcmp(k, "ffn"))
    d->ffn = (int)x;
  else if (!strcmp(k, "seq"))
    d->seq = (int)x;
  else if (!strcmp(k, "classes"))
    d->classes = (int)x;
  else
    return false;
  return true;
}

tern_status mx_build_model(const char *spec, const char *precision,
                           uint64_t seed, tern_graph **out, char *why,
                           size_t why_n) {
  char name[64], knobs[192] = "";
  const char *colon = strchr(spec, ':');
  size_t nl = colon ? (size_t)(colon - spec) : strlen(spec);
  if (nl >= sizeof name) {
    snprintf(why, why_n, "model name '%s' is too long", spec);
    return TERN_ERR_INVALID_ARGUMENT;
  }
  memcpy(name, spec, nl);
  name[nl] = 0;
  if (colon)
    snprintf(knobs, sizeof knobs, "%s", colon + 1);
  tern_model_desc d;
  memset(&d, 0, sizeof d);
  d.size = sizeof d;
  d.seed = seed;
  if (tern_model_precision_from_name(precision, &d.precision)) {
    snprintf(why, why_n, "unknown precision '%s'", precision);
    return TERN_ERR_INVALID_ARGUMENT;
  }
  for (char *save = NULL, *kv = strtok_r(knobs, ",", &save); kv;
       kv = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kv, '=');
    if (!eq || (*eq = 0, !knob(kv, eq + 1, &d))) {
      snprintf(why, why_n,
               "model '%s': bad knob '%s' (width, depth, heads, ffn, seq, "
               "classes = positive integer)",
               spec, kv);
      return TERN_ERR_INVALID_ARGUMENT;
    }
  }
  tern_status s = tern_model_build(name, &d, out);
  if (s)
    snprintf(why, why_n, "%s", tern_model_errmsg());
  return s;
}
