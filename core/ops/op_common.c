/* op_common.c — helpers shared by the reference ops (see op_common.h). */
#include "op_common.h"

const char *tern_op_dtype_str(tern_dtype d) {
  const char *s = tern_dtype_name(d);
  return s ? s : "unknown";
}

tern_status tern_op_check_arity(const char *op, int n_in, int lo, int hi,
                                tern_err *err) {
  if (n_in < lo || n_in > hi) {
    if (lo == hi)
      return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                          "%s: expects %d inputs, got %d", op, lo, n_in);
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s: expects %d to %d inputs, got %d", op, lo, hi,
                        n_in);
  }
  return TERN_OK;
}

tern_status tern_op_check_shape(const char *op, const tern_view *v, int i,
                                tern_err *err) {
  if (v->ndim < 0 || v->ndim > TERN_MAX_DIMS)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "%s: input %d has %d dims (0 to %d allowed)", op, i,
                        v->ndim, TERN_MAX_DIMS);
  for (int d = 0; d < v->ndim; d++)
    if (v->shape[d] < 0) {
      char b[96];
      return tern_err_set(err, TERN_ERR_SHAPE,
                          "%s: input %d has a negative dimension %s", op, i,
                          tern_shape_str(v->ndim, v->shape, b, sizeof b));
    }
  return TERN_OK;
}

tern_status tern_op_check_f32(const char *op, const tern_view *in, int from,
                              int to, tern_err *err) {
  for (int i = from; i < to; i++) {
    tern_status s = tern_op_check_shape(op, &in[i], i, err);
    if (s)
      return s;
    if (in[i].dtype != TERN_DTYPE_F32) {
      char b[96];
      return tern_err_set(err, TERN_ERR_DTYPE,
                          "%s: input %d %s is %s, expected f32", op, i,
                          tern_shape_str(in[i].ndim, in[i].shape, b, sizeof b),
                          tern_op_dtype_str(in[i].dtype));
    }
  }
  return TERN_OK;
}

void tern_op_out_init(tern_view *out, int ndim, const int64_t *shape) {
  tern_view v = {0};
  v.dtype = TERN_DTYPE_F32;
  v.ndim = ndim;
  for (int i = 0; i < ndim; i++)
    v.shape[i] = shape[i];
  *out = v;
}

tern_status tern_op_broadcast_shape(const char *op, const tern_view *a,
                                    const tern_view *b, tern_view *out,
                                    tern_err *err) {
  int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
  int64_t shape[TERN_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
    int64_t da = ia >= 0 ? a->shape[ia] : 1;
    int64_t db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[96], sb[96];
      return tern_err_set(
          err, TERN_ERR_SHAPE,
          "%s: shapes %s and %s do not broadcast (dim %d: %lld vs %lld)", op,
          tern_shape_str(a->ndim, a->shape, sa, sizeof sa),
          tern_shape_str(b->ndim, b->shape, sb, sizeof sb), i - nd,
          (long long)da, (long long)db);
    }
    shape[i] = da == 1 ? db : da;
  }
  tern_op_out_init(out, nd, shape);
  return TERN_OK;
}

void tern_op_broadcast_strides(int in_ndim, const int64_t *in_shape, int ndim,
                               int64_t *strides) {
  int64_t st = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    int j = in_ndim - ndim + i;
    if (j < 0 || in_shape[j] == 1) {
      strides[i] = 0;
    } else {
      strides[i] = st;
    }
    if (j >= 0)
      st *= in_shape[j];
  }
}

bool tern_op_next_index(int ndim, const int64_t *shape, int64_t *idx) {
  for (int i = ndim - 1; i >= 0; i--) {
    if (++idx[i] < shape[i])
      return true;
    idx[i] = 0;
  }
  return false;
}

void tern_op_ref_binary(const tern_view *a, const tern_view *b, tern_view *out,
                        float (*f)(float, float)) {
  int nd = out->ndim;
  int64_t sa[TERN_MAX_DIMS], sb[TERN_MAX_DIMS], idx[TERN_MAX_DIMS] = {0};
  tern_op_broadcast_strides(a->ndim, a->shape, nd, sa);
  tern_op_broadcast_strides(b->ndim, b->shape, nd, sb);
  const float *xa = a->data, *xb = b->data;
  float *y = out->data;
  int64_t n = tern_view_numel(out);
  for (int64_t i = 0; i < n; i++) {
    int64_t oa = 0, ob = 0;
    for (int d = 0; d < nd; d++) {
      oa += idx[d] * sa[d];
      ob += idx[d] * sb[d];
    }
    y[i] = f(xa[oa], xb[ob]);
    tern_op_next_index(nd, out->shape, idx);
  }
}

void tern_op_binary_plan(const tern_view *a, const tern_view *b,
                         const tern_view *out, tern_binary_plan *plan) {
  int64_t na = tern_view_numel(a), nb = tern_view_numel(b);
  int64_t no = tern_view_numel(out);
  plan->kind = TERN_BINARY_GENERAL;
  plan->bcast_a = false;
  plan->inner = plan->cnt = 1;
  if (na == no && nb == no) {
    plan->kind = TERN_BINARY_SAME; /* broadcastable and as many: same dims */
    return;
  }
  if (na != no && nb != no)
    return; /* both broadcast */
  const tern_view *x = na == no ? b : a;
  plan->bcast_a = x == a;
  if (tern_view_numel(x) == 1) {
    plan->kind = TERN_BINARY_SCALAR;
    return;
  }
  /* x's dims right-aligned to out's: the non-1 ones must be one contiguous
   * block [lo, hi] (where x equals out), everything around it broadcast */
  int nd = out->ndim, lo = -1, hi = -1;
  for (int d = 0; d < nd; d++) {
    int j = d - (nd - x->ndim);
    if (j >= 0 && x->shape[j] != 1) {
      if (lo < 0)
        lo = d;
      hi = d;
    }
  }
  if (lo < 0)
    return;
  int64_t cnt = 1, inner = 1;
  for (int d = lo; d <= hi; d++) {
    int j = d - (nd - x->ndim);
    if (x->shape[j] != out->shape[d])
      return; /* a 1 inside the block where out is larger */
    cnt *= out->shape[d];
  }
  for (int d = hi + 1; d < nd; d++)
    inner *= out->shape[d];
  plan->kind = inner == 1 ? TERN_BINARY_ROW : TERN_BINARY_CHANNEL;
  plan->inner = inner;
  plan->cnt = cnt;
}

tern_fastdiv tern_fastdiv_make(uint32_t d) {
  tern_fastdiv f = {0, 0};
  if (d < 2)
    return f;
  uint32_t l = 1; /* ceil(log2 d) */
  while (l < 32 && ((uint64_t)1 << l) < d)
    l++;
  f.m = (uint32_t)(((((uint64_t)1 << l) - d) << 32) / d + 1);
  f.s = l - 1;
  return f;
}

const char *tern_binary_kind_name(tern_binary_kind k) {
  static const char *const names[] = {"general", "same", "row", "channel",
                                      "scalar"};
  return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

tern_status tern_op_infer_unary(const char *op, const tern_view *in, int n_in,
                                tern_view *out, tern_err *err) {
  tern_status s = tern_op_check_arity(op, n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32(op, in, 0, 1, err);
  if (s)
    return s;
  tern_op_out_init(out, in[0].ndim, in[0].shape);
  return TERN_OK;
}

void tern_op_ref_unary(tern_activation act, const tern_view *in,
                       tern_view *out) {
  const float *x = in[0].data;
  float *y = out->data;
  int64_t n = tern_view_numel(&in[0]);
  for (int64_t i = 0; i < n; i++)
    y[i] = tern_apply_activation(act, x[i]);
}

/* ------------------------------------------------------------ pools */
tern_status tern_pool_geometry(const char *op, const tern_op_params *p,
                               const tern_view *in, int n_in, tern_pool_geom *g,
                               tern_err *err) {
  tern_status s = tern_op_check_arity(op, n_in, 1, 1, err);
  if (!s)
    s = tern_op_check_f32(op, in, 0, 1, err);
  if (s)
    return s;
  const tern_view *x = &in[0];
  char a[96];
  tern_shape_str(x->ndim, x->shape, a, sizeof a);
  if (x->ndim != 4)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "%s: input %s must be 4-D [N, C, H, W]", op, a);
  if (p->kernel[0] <= 0 || p->kernel[1] <= 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s: kernel (%d, %d) must be positive", op,
                        p->kernel[0], p->kernel[1]);
  if (p->stride[0] < 0 || p->stride[1] < 0)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s: negative stride (%d, %d)", op, p->stride[0],
                        p->stride[1]);
  /* pad > kernel / 2, not 2 * pad > kernel: a pad from a damaged file may
   * be near INT_MAX */
  if (p->pad[0] < 0 || p->pad[1] < 0 || p->pad[0] > p->kernel[0] / 2 ||
      p->pad[1] > p->kernel[1] / 2)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "%s: pad (%d, %d) must be >= 0 and at most half the "
                        "kernel (%d, %d)",
                        op, p->pad[0], p->pad[1], p->kernel[0], p->kernel[1]);
  g->N = x->shape[0];
  g->C = x->shape[1];
  g->H = x->shape[2];
  g->W = x->shape[3];
  g->KH = p->kernel[0];
  g->KW = p->kernel[1];
  g->SH = p->stride[0] ? p->stride[0] : g->KH;
  g->SW = p->stride[1] ? p->stride[1] : g->KW;
  g->PH = p->pad[0];
  g->PW = p->pad[1];
  if (g->H + 2 * g->PH < g->KH || g->W + 2 * g->PW < g->KW)
    return tern_err_set(err, TERN_ERR_SHAPE,
                        "%s: padded input %s (pad %lld, %lld) is smaller than "
                        "the kernel %lldx%lld",
                        op, a, (long long)g->PH, (long long)g->PW,
                        (long long)g->KH, (long long)g->KW);
  g->OH = (g->H + 2 * g->PH - g->KH) / g->SH + 1;
  g->OW = (g->W + 2 * g->PW - g->KW) / g->SW + 1;
  return TERN_OK;
}
