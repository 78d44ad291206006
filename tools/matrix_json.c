/* matrix_json.c — the matrix report as JSON (layout: docs/matrix.schema.json)
 * through json-c, and `--compare`, which reads a baseline report and prints
 * per-cell deltas. */
#include "matrix.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_object *num_or_null(bool have, double v) {
  return have && isfinite(v) ? json_object_new_double(v) : NULL;
}

static void add(json_object *o, const char *k, json_object *v) {
  json_object_object_add(o, k, v);
}

static const char *device_type(tern_device_type t) {
  switch (t) {
  case TERN_DEVICE_CPU:
    return "cpu";
  case TERN_DEVICE_GPU_DISCRETE:
    return "discrete_gpu";
  case TERN_DEVICE_GPU_INTEGRATED:
    return "integrated_gpu";
  case TERN_DEVICE_GPU_VIRTUAL:
    return "virtual_gpu";
  default:
    return "other";
  }
}

static json_object *cell_json(const mx_cell *c) {
  json_object *o = json_object_new_object();
  add(o, "model", json_object_new_string(c->model));
  add(o, "source", json_object_new_string(c->source));
  add(o, "precision", json_object_new_string(c->precision));
  add(o, "mode", json_object_new_string(c->mode));
  add(o, "device", json_object_new_string(c->device));
  add(o, "backend", json_object_new_string(c->backend));
  add(o, "device_name", json_object_new_string(c->device_name));
  add(o, "status", json_object_new_string(mx_status_name(c->status)));
  add(o, "reason", c->reason[0] ? json_object_new_string(c->reason) : NULL);
  add(o, "quantized", json_object_new_boolean(c->quantized));
  add(o, "bit_exact",
      c->has_accuracy ? json_object_new_boolean(c->bit_exact) : NULL);
  add(o, "max_abs_err", num_or_null(c->has_accuracy, c->max_abs_err));
  add(o, "agreement", num_or_null(c->has_accuracy, c->agreement));
  add(o, "accuracy", num_or_null(c->accuracy >= 0, c->accuracy));
  add(o, "samples", json_object_new_int(c->samples));
  add(o, "input", json_object_new_string(c->input));
  add(o, "batch", json_object_new_int64(c->batch));
  add(o, "lat1_median_ms", num_or_null(c->has_timing, c->lat1_median_ms));
  add(o, "lat1_p95_ms", num_or_null(c->has_timing, c->lat1_p95_ms));
  add(o, "latn_median_ms", num_or_null(c->has_timing, c->latn_median_ms));
  add(o, "latn_p95_ms", num_or_null(c->has_timing, c->latn_p95_ms));
  add(o, "runs1", json_object_new_int(c->runs1));
  add(o, "runsn", json_object_new_int(c->runsn));
  add(o, "throughput_sps", num_or_null(c->has_timing, c->throughput_sps));
  add(o, "weight_bytes",
      c->has_timing ? json_object_new_int64((int64_t)c->weight_bytes) : NULL);
  add(o, "peak_activation_bytes",
      c->has_timing ? json_object_new_int64((int64_t)c->peak_activation_bytes)
                    : NULL);
  add(o, "nodes", json_object_new_int(c->nodes));
  add(o, "fallback_nodes", json_object_new_int(c->fallback_nodes));
  add(o, "seconds", json_object_new_double(c->seconds));
  return o;
}

static json_object *str_list(const char *const *v, int n) {
  json_object *a = json_object_new_array();
  for (int i = 0; i < n; i++)
    json_object_array_add(a, json_object_new_string(v[i]));
  return a;
}

static json_object *report_obj(const mx_report *r) {
  const mx_options *o = &r->opt;
  json_object *root = json_object_new_object();
  add(root, "format", json_object_new_string(MX_FORMAT));
  add(root, "version", json_object_new_int(MX_VERSION));
  add(root, "tern_version", json_object_new_string(tern_version_string()));
  add(root, "created", json_object_new_string(r->created));
  json_object *host = json_object_new_object();
  add(host, "hostname", json_object_new_string(r->hostname));
  add(host, "threads", json_object_new_int(r->threads));
  add(root, "host", host);
  json_object *cfg = json_object_new_object();
  add(cfg, "quick", json_object_new_boolean(o->quick));
  add(cfg, "models", str_list(o->models, o->n_models));
  add(cfg, "files", str_list(o->files, o->n_files));
  add(cfg, "precisions", str_list(o->precisions, o->n_precisions));
  add(cfg, "batch", json_object_new_int64(o->batch));
  add(cfg, "samples", json_object_new_int(o->samples));
  add(cfg, "time_s", json_object_new_double(o->time_s));
  add(cfg, "tune_budget_s", json_object_new_double(o->tune_budget));
  add(cfg, "data", o->data ? json_object_new_string(o->data) : NULL);
  add(cfg, "train_models", str_list(o->train_models, o->n_train_models));
  add(cfg, "train_steps", json_object_new_int64(o->train_steps));
  add(cfg, "train_samples", json_object_new_int(o->train_samples));
  add(cfg, "seed", json_object_new_int64((int64_t)o->seed));
  add(root, "config", cfg);
  json_object *devs = json_object_new_array();
  for (int i = 0; i < r->n_devices; i++) {
    const tern_device_info *d = &r->devices[i];
    json_object *x = json_object_new_object();
    add(x, "id", json_object_new_string(d->id));
    add(x, "backend", json_object_new_string(d->backend));
    add(x, "name", json_object_new_string(d->name));
    add(x, "vendor", json_object_new_string(d->vendor));
    add(x, "driver", json_object_new_string(d->driver));
    add(x, "type", json_object_new_string(device_type(d->type)));
    add(x, "memory_bytes", json_object_new_int64((int64_t)d->memory_bytes));
    add(x, "compute_units", json_object_new_int(d->compute_units));
    add(x, "features", json_object_new_string(d->features));
    json_object_array_add(devs, x);
  }
  add(root, "devices", devs);
  json_object *cells = json_object_new_array();
  int ok = 0, failed = 0, other = 0, q = 0, qexact = 0;
  for (int i = 0; i < r->n_cells; i++) {
    const mx_cell *c = &r->cells[i];
    json_object_array_add(cells, cell_json(c));
    ok += c->status == MX_OK;
    failed += c->status == MX_FAILED;
    other += c->status != MX_OK && c->status != MX_FAILED;
    if (c->quantized && c->has_accuracy) {
      q++;
      qexact += c->bit_exact;
    }
  }
  add(root, "cells", cells);
  json_object *tun = json_object_new_array();
  for (int i = 0; i < r->n_tuning; i++) {
    const mx_tuning_row *t = &r->tuning[i];
    json_object *x = json_object_new_object();
    add(x, "device", json_object_new_string(t->device));
    add(x, "kernel", json_object_new_string(t->kernel));
    add(x, "shape", json_object_new_string(t->shape));
    add(x, "params", json_object_new_string(t->params));
    add(x, "default_us", num_or_null(t->default_us > 0, t->default_us));
    add(x, "tuned_us", num_or_null(t->tuned_us > 0, t->tuned_us));
    add(x, "speedup",
        num_or_null(t->default_us > 0 && t->tuned_us > 0,
                    t->default_us / t->tuned_us));
    add(x, "origin", json_object_new_string(t->origin));
    json_object_array_add(tun, x);
  }
  add(root, "tuning", tun);
  json_object *warn = json_object_new_array();
  for (int i = 0; i < r->n_warnings; i++)
    json_object_array_add(warn, json_object_new_string(r->warnings[i]));
  add(root, "warnings", warn);
  json_object *sum = json_object_new_object();
  add(sum, "cells", json_object_new_int(r->n_cells));
  add(sum, "ok", json_object_new_int(ok));
  add(sum, "failed", json_object_new_int(failed));
  add(sum, "other", json_object_new_int(other));
  add(sum, "quantized_cells", json_object_new_int(q));
  add(sum, "quantized_bit_exact", json_object_new_int(qexact));
  add(sum, "elapsed_s", json_object_new_double(r->elapsed_s));
  add(root, "summary", sum);
  return root;
}

char *mx_report_json(const mx_report *r) {
  json_object *root = report_obj(r);
  const char *s = json_object_to_json_string_ext(
      root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                JSON_C_TO_STRING_NOSLASHESCAPE);
  char *out = s ? strdup(s) : NULL;
  json_object_put(root);
  return out;
}

int mx_write_json(const mx_report *r, const char *path, FILE *also) {
  char *text = mx_report_json(r);
  if (!text) {
    fprintf(stderr, "tern matrix: error: out of memory\n");
    return 1;
  }
  size_t n = strlen(text);
  text[n] = 0;
  int rc = 0;
  if (path) {
    char *withnl = malloc(n + 2);
    if (withnl) {
      memcpy(withnl, text, n);
      withnl[n] = '\n';
      rc = mx_write_text(path, withnl, n + 1);
      free(withnl);
    } else {
      rc = 1;
    }
  }
  if (also)
    fprintf(also, "%s\n", text);
  free(text);
  return rc;
}

/* ------------------------------------------------------------- compare */
static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) &&
                 json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : "";
}

static bool jnum(json_object *o, const char *k, double *out) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) ||
      !(json_object_is_type(v, json_type_double) ||
        json_object_is_type(v, json_type_int)))
    return false;
  *out = json_object_get_double(v);
  return true;
}

static void delta(FILE *f, const char *what, bool ha, double a, bool hb,
                  double b, bool higher_better) {
  if (!ha && !hb)
    return;
  if (!ha || !hb) {
    fprintf(f, "  %s: %s -> %s", what, ha ? "value" : "-", hb ? "value" : "-");
    return;
  }
  double pct = a != 0 ? (b - a) / fabs(a) * 100 : 0;
  const char *tag = fabs(pct) < 5                ? ""
                    : (pct > 0) == higher_better ? " (better)"
                                                 : " (worse)";
  fprintf(f, "  %s %.4g -> %.4g (%+.1f%%)%s", what, a, b, pct, tag);
}

int mx_compare(const mx_report *r, const char *baseline, FILE *out) {
  json_object *base = json_object_from_file(baseline);
  if (!base) {
    fprintf(stderr, "tern matrix: error: cannot read baseline '%s': %s\n",
            baseline, json_util_get_last_err());
    return 1;
  }
  json_object *cells;
  if (strcmp(jstr(base, "format"), MX_FORMAT) ||
      !json_object_object_get_ex(base, "cells", &cells) ||
      !json_object_is_type(cells, json_type_array)) {
    fprintf(stderr,
            "tern matrix: error: '%s' is not a tern matrix report (no "
            "\"format\": \"%s\" with \"cells\")\n",
            baseline, MX_FORMAT);
    json_object_put(base);
    return 1;
  }
  size_t nb = json_object_array_length(cells);
  bool *matched = calloc(nb ? nb : 1, 1);
  fprintf(out, "comparison with %s (baseline -> now):\n", baseline);
  int changed = 0;
  for (int i = 0; i < r->n_cells; i++) {
    const mx_cell *c = &r->cells[i];
    json_object *b = NULL;
    for (size_t k = 0; k < nb && !b; k++) {
      json_object *x = json_object_array_get_idx(cells, k);
      if (!matched[k] && !strcmp(jstr(x, "model"), c->model) &&
          !strcmp(jstr(x, "precision"), c->precision) &&
          !strcmp(jstr(x, "mode"), c->mode) &&
          !strcmp(jstr(x, "device"), c->device)) {
        b = x;
        matched[k] = true;
      }
    }
    fprintf(out, "%s %s %s %s:", c->model, c->precision, c->mode, c->device);
    if (!b) {
      fprintf(out, " new cell (%s)\n", mx_status_name(c->status));
      changed++;
      continue;
    }
    const char *bs = jstr(b, "status");
    if (strcmp(bs, mx_status_name(c->status))) {
      fprintf(out, "  status %s -> %s", bs, mx_status_name(c->status));
      changed++;
    }
    double v;
    bool h;
    h = jnum(b, "lat1_median_ms", &v);
    delta(out, "batch-1 ms", h, v, c->has_timing, c->lat1_median_ms, false);
    h = jnum(b, "throughput_sps", &v);
    delta(out, "samples/s", h, v, c->has_timing, c->throughput_sps, true);
    h = jnum(b, "max_abs_err", &v);
    if (h && c->has_accuracy && v != c->max_abs_err)
      delta(out, "max abs err", h, v, true, c->max_abs_err, false);
    h = jnum(b, "agreement", &v);
    if (h && c->has_accuracy && v != c->agreement)
      delta(out, "agreement", h, v, true, c->agreement, true);
    json_object *be;
    if (json_object_object_get_ex(b, "bit_exact", &be) &&
        json_object_is_type(be, json_type_boolean) && c->has_accuracy &&
        json_object_get_boolean(be) != c->bit_exact)
      fprintf(out, "  bit-exact %s -> %s",
              json_object_get_boolean(be) ? "yes" : "no",
              c->bit_exact ? "yes" : "no");
    fprintf(out, "\n");
  }
  for (size_t k = 0; k < nb; k++)
    if (!matched[k]) {
      json_object *x = json_object_array_get_idx(cells, k);
      fprintf(out, "%s %s %s %s: only in the baseline\n", jstr(x, "model"),
              jstr(x, "precision"), jstr(x, "mode"), jstr(x, "device"));
      changed++;
    }
  fprintf(out, "%d cell(s) added, removed or changed status\n", changed);
  free(matched);
  json_object_put(base);
  return 0;
}
