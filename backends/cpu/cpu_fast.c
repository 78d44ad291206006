/* cpu_fast.c — chooses the fast CPU kernel for a node at prepare time:
 * LINEAR and CONV2D with constant weights get repacked weights and the SIMD
 * kernels of the active ISA (cpu_kernels.h); the elementwise, norm,
 * softmax, rope, attention matmul, pool and permute nodes get the kernels of
 * cpu_eltwise.h; every other node keeps the reference. TERN_CPU_REFERENCE
 * devices never come here. */
#include "cpu_backend.h"
#include "cpu_eltwise.h"
#include "cpu_kernels.h"

#include <stdio.h>
#include <string.h>

static tern_status linear_run(tern_device *d, tern_cpu_node *n,
                              const tern_view *in, tern_view *out,
                              tern_err *err) {
  const tern_cpu_linear *l = n->state;
  int64_t M = tern_view_numel(&in[0]) / l->K;
  return tern_cpu_linear_run(l, in[0].data, M, out->data, d->thread_count, err);
}

static void linear_release(tern_cpu_node *n) {
  tern_cpu_linear_destroy(n->state);
  n->state = NULL;
}

static tern_status conv_run(tern_device *d, tern_cpu_node *n,
                            const tern_view *in, tern_view *out,
                            tern_err *err) {
  return tern_cpu_conv2d_run(n->state, &in[0], out, d->thread_count, err);
}

static void conv_release(tern_cpu_node *n) {
  tern_cpu_conv2d_destroy(n->state);
  n->state = NULL;
}

static bool consts_ok(const tern_exec_node *en) {
  /* weights (and bias) must be constants to be repacked once */
  for (int j = 1; j < en->n_inputs; j++)
    if (!en->in_const[j] || !en->in[j].data)
      return false;
  return en->n_inputs >= 2;
}

tern_status tern_cpu_fast_prepare(tern_device *d, tern_cpu_node *n,
                                  tern_err *err) {
  const tern_exec_node *en = &n->en;
  if (en->op != TERN_OP_LINEAR && en->op != TERN_OP_CONV2D)
    return tern_cpu_eltwise_prepare(d, n, err); /* cpu_eltwise.c */
  tern_cpu_isa isa = tern_cpu_isa_active();
  if (en->op == TERN_OP_LINEAR && consts_ok(en)) {
    const tern_view *w = &en->in[1];
    if (w->shape[1] <= 0 || en->in[0].dtype != TERN_DTYPE_F32)
      return TERN_OK;
    tern_cpu_linear *l;
    tern_status s = tern_cpu_linear_create(
        w, en->n_inputs > 2 ? en->in[2].data : NULL,
        (tern_activation)en->params.activation, isa, &l, err);
    if (s)
      return s;
    n->state = l;
    n->run = linear_run;
    n->release = linear_release;
    return TERN_OK;
  }
  if (en->op == TERN_OP_CONV2D && consts_ok(en)) {
    tern_cpu_conv2d *c;
    tern_status s = tern_cpu_conv2d_create(
        &en->params, &en->in[0], &en->in[1],
        en->n_inputs > 2 ? en->in[2].data : NULL, isa, &c, err);
    if (s == TERN_ERR_UNSUPPORTED)
      return TERN_OK; /* the reference handles it */
    if (s)
      return s;
    n->state = c;
    n->run = conv_run;
    n->release = conv_release;
  }
  return TERN_OK;
}

void tern_cpu_features_str(char *buf, size_t n) {
  char have[96] = "";
#if defined(__x86_64__) || defined(__i386__)
  snprintf(have, sizeof have, "%s%s%s%s",
           __builtin_cpu_supports("avx2") ? "avx2 " : "",
           __builtin_cpu_supports("fma") ? "fma " : "",
           __builtin_cpu_supports("avx512f") ? "avx512 " : "",
           __builtin_cpu_supports("avx512vnni") ? "vnni " : "");
#elif defined(__aarch64__)
  snprintf(have, sizeof have, "neon %s",
           tern_cpu_isa_available(TERN_ISA_NEONDOT) ? "asimddp " : "");
#endif
  snprintf(buf, n, "%seltwise=%s kernels=%s", have,
           tern_cpu_isa_name(tern_cpu_eltwise_isa()),
           tern_cpu_isa_name(tern_cpu_isa_active()));
}
