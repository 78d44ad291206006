/* netfile.c — a trainable network to and from files: export as .tern, and
 * loading either a checkpoint or an fp32 .tern for training. Kept apart from
 * netio.c so that code needing only in-memory graphs links without the file
 * format. */
#include "train/net.h"

#include <stdio.h>
#include <string.h>

tern_status tt_net_export(const tt_net *net, const char *path,
                          const char *model_name, tern_err *err) {
  tern_graph *g = NULL;
  tern_status st = tt_net_to_graph(net, &g, err);
  if (st)
    return st;
  if (model_name)
    tern_graph_set_metadata(g, "tern.model", model_name);
  st = tern_graph_save(g, path, NULL);
  if (st)
    tern_err_set(err, st, "export %s: %s", path, tern_graph_errmsg(g));
  tern_graph_destroy(g);
  return st;
}

tern_status tt_net_load_any(const char *path, int threads, tt_net **out,
                            tern_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return tern_err_set(err, TERN_ERR_IO, "%s: cannot open", path);
  char magic[8] = {0};
  size_t got = fread(magic, 1, 8, f);
  fclose(f);
  if (got == 8 && !memcmp(magic, "TTCKPT01", 8))
    return tt_net_load_ckpt(path, threads, out, NULL, err);
  tern_graph *g = NULL;
  tern_status st = tern_graph_load(path, NULL, &g);
  if (st)
    return tern_err_set(err, st, "%s: %s", path, tern_last_error());
  st = tt_net_from_graph(g, threads, out, err);
  tern_graph_destroy(g);
  return st;
}
