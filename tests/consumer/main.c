/* main.c — a tiny program that uses the installed libtern: builds a
 * ternary linear layer, runs it on the CPU and checks the result. */
#include <tern.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  if (tern_version() != TERN_VERSION_HEX) {
    fprintf(stderr, "header/library version mismatch\n");
    return 1;
  }
  tern_graph *g = NULL;
  tern_context *ctx = NULL;
  tern_session *s = NULL;
  int x, w, y;
  int64_t xs[2] = {1, 4}, ws[2] = {2, 4};
  int8_t q[8] = {1, 0, -1, 1, -1, -1, 0, 1};
  uint8_t packed[2];
  float scales[2] = {1.0f, 0.5f};
  if (tern_ternary_pack(q, 2, 4, packed, sizeof packed) ||
      tern_graph_create(&g) || tern_graph_add_input(g, "x", 2, xs, &x))
    goto fail;
  tern_constant_desc cd;
  memset(&cd, 0, sizeof cd);
  cd.size = sizeof cd;
  cd.name = "w";
  cd.dtype = TERN_DTYPE_TERNARY;
  cd.ndim = 2;
  cd.shape = ws;
  cd.data = packed;
  cd.data_bytes = sizeof packed;
  cd.scales = scales;
  cd.scale_count = 2;
  tern_node_desc nd;
  memset(&nd, 0, sizeof nd);
  nd.size = sizeof nd;
  nd.op = TERN_OP_LINEAR;
  nd.n_inputs = 2;
  if (tern_graph_add_constant(g, &cd, &w))
    goto fail;
  nd.inputs[0] = x;
  nd.inputs[1] = w;
  if (tern_graph_add_node(g, &nd, &y) || tern_graph_add_output(g, y) ||
      tern_context_create(NULL, &ctx) || tern_session_create(ctx, g, NULL, &s))
    goto fail;
  float in[4] = {1, 2, 3, 4}, out[2];
  if (tern_session_set_input(s, 0, in, 4) || tern_session_run(s) ||
      tern_session_get_output(s, 0, out, 2))
    goto fail;
  /* x quantizes exactly (max 4 -> scale 2^-5): y0 = 1-3+4 = 2,
   * y1 = (-1-2+4) * 0.5 = 0.5 */
  if (out[0] != 2.0f || out[1] != 0.5f) {
    fprintf(stderr, "wrong result %g %g\n", out[0], out[1]);
    return 1;
  }
  printf("consumer ok: tern %s\n", tern_version_string());
  tern_session_destroy(s);
  tern_context_destroy(ctx);
  tern_graph_destroy(g);
  return 0;
fail:
  fprintf(stderr, "failed: %s\n", tern_last_error());
  return 1;
}
