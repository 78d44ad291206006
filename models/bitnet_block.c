/* bitnet_block.c — one BitNet-style decoder block (pre-norm, no biases):
 *   h = x + O(attn(rope(Q(n1)), rope(K(n1)), V(n1))),  n1 = rmsnorm(x)
 *   y = h + down(silu(gate(n2)) * up(n2)),              n2 = rmsnorm(h)
 * with causal softmax attention over H heads of Dh = d/H. The input is
 * [T, d] (or [B, T, d] when batch > 1). */
#include "builder.h"

#include <math.h>
#include <stdio.h>

/* Shape helpers for the batched ([B, T, ...]) and unbatched forms: `lead`
 * is the number of leading batch dims (0 or 1). */
static tern_op_params reshape_params(int lead, int n, const int32_t *tail) {
  tern_op_params p = {0};
  p.ndim = lead + n;
  for (int i = 0; i < lead; i++)
    p.shape[i] = 0; /* copy the batch dim */
  for (int i = 0; i < n; i++)
    p.shape[lead + i] = tail[i];
  return p;
}

/* [.., A, B, C] → [.., B, A, C] */
static tern_op_params swap01_params(int lead) {
  tern_op_params p = {0};
  p.ndim = lead + 3;
  for (int i = 0; i < lead; i++)
    p.perm[i] = i;
  p.perm[lead] = lead + 1;
  p.perm[lead + 1] = lead;
  p.perm[lead + 2] = lead + 2;
  return p;
}

/* x [.., T, d] → [.., H, T, Dh] */
static tern_status to_heads(tm_builder *b, const char *name, int lead, int x,
                            int32_t heads, int32_t dh, int *y) {
  char n[96];
  int32_t tail[3] = {0 /* T: 0 copies the input dim */, heads, dh};
  tern_op_params r = reshape_params(lead, 3, tail);
  tern_op_params p = swap01_params(lead);
  tern_status s;
  snprintf(n, sizeof n, "%s.split", name);
  if ((s = tm_node(b, TERN_OP_RESHAPE, n, 1, &x, &r, &x)))
    return s;
  snprintf(n, sizeof n, "%s.heads", name);
  return tm_node(b, TERN_OP_PERMUTE, n, 1, &x, &p, y);
}

tern_status tm_build_bitnet_block(tm_builder *b) {
  int64_t d = b->d.width > 0 ? b->d.width : 1024;
  int64_t heads = b->d.heads > 0 ? b->d.heads : (d / 64 > 0 ? d / 64 : 1);
  int64_t ffn = b->d.ffn > 0 ? b->d.ffn : ((8 * d / 3 + 63) / 64) * 64;
  int64_t T = b->d.seq > 0 ? b->d.seq : 16;
  if (d % heads != 0)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT,
                   "bitnet-block: width %lld is not a multiple of heads %lld",
                   (long long)d, (long long)heads);
  int64_t dh = d / heads;
  if (dh % 2 != 0)
    return tm_fail(TERN_ERR_INVALID_ARGUMENT,
                   "bitnet-block: head size %lld must be even for rope",
                   (long long)dh);
  int lead = b->d.batch > 1 ? 1 : 0;
  int64_t shape[3] = {b->d.batch, T, d};
  int x, y;
  tern_status s =
      tern_graph_add_input(b->g, "x", 2 + lead, lead ? shape : shape + 1, &x);
  if (s)
    return tm_fail(s, "bitnet-block: input: %s", tern_graph_errmsg(b->g));

  int n1, q, k, v, att, h, n2, gate, up, f, g1, g2;
  int in2[2];
  tern_op_params norm = {0};
  norm.eps = 1e-5f;
  tern_op_params scores = {0};
  scores.transpose_b = 1;
  scores.alpha = 1.0f / sqrtf((float)dh);
  tern_op_params soft = {0};
  soft.axis = -1;
  tern_op_params back = swap01_params(lead);
  int32_t merge_tail[2] = {0, (int32_t)d};
  tern_op_params merge = reshape_params(lead, 2, merge_tail);

  if ((s = tm_param(b, "attn_norm.weight", 1, &d, TM_INIT_CONST, 1.0f, &g1)))
    return s;
  in2[0] = x;
  in2[1] = g1;
  if ((s = tm_node(b, TERN_OP_RMSNORM, "attn_norm", 2, in2, &norm, &n1)) ||
      (s = tm_linear(b, "attn.q", n1, d, d, 0, TM_MID, 1.0f, &q)) ||
      (s = tm_linear(b, "attn.k", n1, d, d, 0, TM_MID, 1.0f, &k)) ||
      (s = tm_linear(b, "attn.v", n1, d, d, 0, TM_MID, 1.0f, &v)) ||
      (s = to_heads(b, "attn.q", lead, q, (int32_t)heads, (int32_t)dh, &q)) ||
      (s = to_heads(b, "attn.k", lead, k, (int32_t)heads, (int32_t)dh, &k)) ||
      (s = to_heads(b, "attn.v", lead, v, (int32_t)heads, (int32_t)dh, &v)) ||
      (s = tm_unary(b, TERN_OP_ROPE, "attn.q.rope", q, &q)) ||
      (s = tm_unary(b, TERN_OP_ROPE, "attn.k.rope", k, &k)))
    return s;
  in2[0] = q;
  in2[1] = k;
  if ((s = tm_node(b, TERN_OP_MATMUL, "attn.scores", 2, in2, &scores, &att)) ||
      (s = tm_unary(b, TERN_OP_CAUSAL_MASK, "attn.mask", att, &att)) ||
      (s = tm_node(b, TERN_OP_SOFTMAX, "attn.softmax", 1, &att, &soft, &att)))
    return s;
  in2[0] = att;
  in2[1] = v;
  if ((s = tm_node(b, TERN_OP_MATMUL, "attn.context", 2, in2, NULL, &h)) ||
      (s = tm_node(b, TERN_OP_PERMUTE, "attn.unheads", 1, &h, &back, &h)) ||
      (s = tm_node(b, TERN_OP_RESHAPE, "attn.merge", 1, &h, &merge, &h)) ||
      (s = tm_linear(b, "attn.o", h, d, d, 0, TM_MID, 1.0f, &h)) ||
      (s = tm_binary(b, TERN_OP_ADD, "attn.residual", x, h, &h)) ||
      (s = tm_param(b, "ffn_norm.weight", 1, &d, TM_INIT_CONST, 1.0f, &g2)))
    return s;
  in2[0] = h;
  in2[1] = g2;
  if ((s = tm_node(b, TERN_OP_RMSNORM, "ffn_norm", 2, in2, &norm, &n2)) ||
      (s = tm_linear(b, "ffn.gate", n2, d, ffn, 0, TM_MID, 1.0f, &gate)) ||
      (s = tm_linear(b, "ffn.up", n2, d, ffn, 0, TM_MID, 1.0f, &up)) ||
      (s = tm_unary(b, TERN_OP_SILU, "ffn.silu", gate, &gate)) ||
      (s = tm_binary(b, TERN_OP_MUL, "ffn.mul", gate, up, &f)) ||
      (s = tm_linear(b, "ffn.down", f, ffn, d, 0, TM_MID, 1.0f, &f)) ||
      (s = tm_binary(b, TERN_OP_ADD, "ffn.residual", h, f, &y)))
    return s;
  if ((s = tern_graph_add_output(b->g, y)))
    return tm_fail(s, "bitnet-block: output: %s", tern_graph_errmsg(b->g));
  if ((s = tm_meta_int(b, "model.width", d)) ||
      (s = tm_meta_int(b, "model.heads", heads)) ||
      (s = tm_meta_int(b, "model.ffn", ffn)) ||
      (s = tm_meta_int(b, "model.seq", T)))
    return s;
  return TERN_OK;
}
