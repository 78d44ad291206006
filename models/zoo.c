/* zoo.c — the model zoo's registry and entry point: names, one-line
 * summaries, defaults and precision names; each model's builder lives in its
 * own file. */
#include "builder.h"

#include <stdio.h>
#include <string.h>

typedef struct zoo_entry {
  tern_model_info info;
  tern_status (*build)(tm_builder *b);
} zoo_entry;

static const zoo_entry k_zoo[] = {
    {{"mlp", "multilayer perceptron 784-256-128-10, relu (width = hidden 1)",
      "[N, 784]"},
     tm_build_mlp},
    {{"lenet5",
      "LeNet-5: conv5x5 6 - pool - conv5x5 16 - pool - 120 - 84 - 10 "
      "(width = conv1 channels)",
      "[N, 1, 28, 28]"},
     tm_build_lenet5},
    {{"resnet-mini",
      "CIFAR-style ResNet: stem + 3 stages of basic blocks (width 16, depth "
      "= blocks per stage 1)",
      "[N, 3, 32, 32]"},
     tm_build_resnet_mini},
    {{"mobilenet-mini",
      "depthwise-separable net: stem stride 2 + dw3x3/pw1x1 blocks (width "
      "16, depth 4)",
      "[N, 3, 32, 32]"},
     tm_build_mobilenet_mini},
    {{"bitnet-block",
      "ternary decoder block: rmsnorm, Q/K/V/O, rope, causal attention, "
      "gated FFN (width 1024, heads d/64, ffn 8d/3, seq 16)",
      "[T, d] ([N, T, d] with batch > 1)"},
     tm_build_bitnet_block},
};

#define ZOO_COUNT ((int)(sizeof k_zoo / sizeof k_zoo[0]))

int tern_model_count(void) {
  return ZOO_COUNT;
}

const tern_model_info *tern_model_info_at(int i) {
  return i >= 0 && i < ZOO_COUNT ? &k_zoo[i].info : NULL;
}

static const char *const k_prec[] = {"fp32", "int8", "ternary", "mixed"};

const char *tern_model_precision_name(tern_model_precision p) {
  return (unsigned)p < 4 ? k_prec[p] : NULL;
}

tern_status tern_model_precision_from_name(const char *name,
                                           tern_model_precision *out) {
  if (!name || !out)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT, "precision: NULL argument");
  for (int i = 0; i < 4; i++)
    if (strcmp(name, k_prec[i]) == 0) {
      *out = (tern_model_precision)i;
      return TERN_OK;
    }
  if (strcmp(name, "f32") == 0) {
    *out = TERN_MODEL_FP32;
    return TERN_OK;
  }
  if (strcmp(name, "i8") == 0) {
    *out = TERN_MODEL_INT8;
    return TERN_OK;
  }
  return tm_fail(TERN_ERR_NOT_FOUND,
                 "unknown precision '%s' (fp32, int8, ternary or mixed)", name);
}

/* Range checks shared by every model: knobs must stay small enough that
 * shapes and byte counts cannot overflow. */
static tern_status check_desc(const char *model, const tern_model_desc *d) {
  if (d->batch < 0 || d->batch > (1 << 20))
    return tm_fail(TERN_ERR_INVALID_ARGUMENT, "%s: batch %lld out of range",
                   model, (long long)d->batch);
  const int knob[5] = {d->width, d->depth, d->heads, d->ffn, d->seq};
  const char *names[5] = {"width", "depth", "heads", "ffn", "seq"};
  for (int i = 0; i < 5; i++)
    if (knob[i] < 0 || knob[i] > 65536)
      return tm_fail(TERN_ERR_INVALID_ARGUMENT, "%s: %s %d out of range", model,
                     names[i], knob[i]);
  if (d->classes < 0 || d->classes > 1000000)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT, "%s: classes %d out of range",
                   model, d->classes);
  if ((unsigned)d->precision > TERN_MODEL_MIXED)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT, "%s: unknown precision %d", model,
                   (int)d->precision);
  if (d->override_count < 0 || (d->override_count && !d->overrides) ||
      d->array_count < 0 || (d->array_count && !d->arrays))
    return tm_fail(TERN_ERR_INVALID_ARGUMENT,
                   "%s: override/array counts without arrays", model);
  for (int i = 0; i < d->override_count; i++)
    if ((unsigned)d->overrides[i].precision >= TERN_MODEL_MIXED ||
        !d->overrides[i].layer)
      return tm_fail(TERN_ERR_INVALID_ARGUMENT,
                     "%s: override %d needs a layer name and fp32, int8 or "
                     "ternary",
                     model, i);
  return TERN_OK;
}

tern_status tern_model_build(const char *name, const tern_model_desc *desc,
                             tern_graph **out) {
  tm_clear_error();
  if (!name || !out)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT,
                   "tern_model_build: NULL name or out");
  const zoo_entry *e = NULL;
  for (int i = 0; i < ZOO_COUNT; i++)
    if (strcmp(k_zoo[i].info.name, name) == 0)
      e = &k_zoo[i];
  if (!e)
    return tm_fail(TERN_ERR_NOT_FOUND,
                   "unknown model '%s' (tern model list shows the zoo)", name);
  tm_builder b = {0};
  b.model = e->info.name;
  if (desc) {
    if (desc->size < sizeof(size_t))
      return tm_fail(TERN_ERR_INVALID_ARGUMENT, "%s: desc->size not set", name);
    size_t n = desc->size < sizeof b.d ? desc->size : sizeof b.d;
    memcpy(&b.d, desc, n);
  }
  b.d.size = sizeof b.d;
  if (b.d.batch == 0)
    b.d.batch = 1;
  tern_status s = check_desc(name, &b.d);
  if (s)
    return s;
  if ((s = tern_graph_create(&b.g)))
    return tm_fail(s, "%s: %s", name, tern_last_error());
  char seed[32];
  snprintf(seed, sizeof seed, "%llu", (unsigned long long)b.d.seed);
  if ((s = tm_meta_str(&b, "model", name)) ||
      (s = tm_meta_str(&b, "model.precision",
                       tern_model_precision_name(b.d.precision))) ||
      (s = tm_meta_str(&b, "model.seed", seed)) ||
      (s = tm_meta_str(&b, "producer", "tern model zoo")) ||
      (s = e->build(&b))) {
    tern_graph_destroy(b.g);
    return s;
  }
  *out = b.g;
  return TERN_OK;
}
