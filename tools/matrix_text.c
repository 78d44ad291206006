/* matrix_text.c — the matrix's plain-text reports: CSV (one row per cell)
 * and Markdown (summary, one table per model, tuning), plus the small
 * string buffer and atomic file writing the writers share. */
#include "matrix.h"

#include "core/tern_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void mx_append(mx_buf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

void mx_printf(mx_buf *b, const char *fmt, ...) {
  char small[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof small) {
    mx_append(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    b->oom = true;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  mx_append(b, big, (size_t)n);
  free(big);
}

void mx_buf_free(mx_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

int mx_write_text(const char *path, const char *text, size_t n) {
  tern_err err;
  tern_err_clear(&err);
  const void *parts[1] = {text};
  size_t sizes[1] = {n};
  if (tern_write_file_atomic(path, parts, sizes, 1, &err)) {
    fprintf(stderr, "tern matrix: error: %s\n", err.msg);
    return 1;
  }
  return 0;
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void csv_str(mx_buf *b, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    mx_append(b, s, strlen(s));
    return;
  }
  mx_append(b, "\"", 1);
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      mx_append(b, "\"", 1);
    mx_append(b, p, 1);
  }
  mx_append(b, "\"", 1);
}

static void csv_num(mx_buf *b, bool have, double v) {
  if (have && isfinite(v))
    mx_printf(b, ",%.6g", v);
  else
    mx_append(b, ",", 1);
}

int mx_write_csv(const mx_report *r, const char *path) {
  mx_buf b = {0};
  mx_printf(&b, "model,source,precision,mode,device,backend,device_name,"
                "status,reason,quantized,bit_exact,max_abs_err,agreement,"
                "accuracy,samples,input,batch,lat1_median_ms,lat1_p95_ms,"
                "latn_median_ms,latn_p95_ms,throughput_sps,weight_bytes,"
                "peak_activation_bytes,nodes,fallback_nodes,seconds\n");
  for (int i = 0; i < r->n_cells; i++) {
    const mx_cell *c = &r->cells[i];
    const char *f[] = {
        c->model,  c->source,  c->precision,   c->mode,
        c->device, c->backend, c->device_name, mx_status_name(c->status),
        c->reason};
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
      if (k)
        mx_append(&b, ",", 1);
      csv_str(&b, f[k]);
    }
    mx_printf(&b, ",%s", c->quantized ? "true" : "false");
    if (c->has_accuracy)
      mx_printf(&b, ",%s", c->bit_exact ? "true" : "false");
    else
      mx_append(&b, ",", 1);
    csv_num(&b, c->has_accuracy, c->max_abs_err);
    csv_num(&b, c->has_accuracy, c->agreement);
    csv_num(&b, c->accuracy >= 0, c->accuracy);
    mx_printf(&b, ",%d,%s,%lld", c->samples, c->input, (long long)c->batch);
    csv_num(&b, c->has_timing, c->lat1_median_ms);
    csv_num(&b, c->has_timing, c->lat1_p95_ms);
    csv_num(&b, c->has_timing, c->latn_median_ms);
    csv_num(&b, c->has_timing, c->latn_p95_ms);
    csv_num(&b, c->has_timing, c->throughput_sps);
    if (c->has_timing)
      mx_printf(&b, ",%llu,%llu,%d,%d", (unsigned long long)c->weight_bytes,
                (unsigned long long)c->peak_activation_bytes, c->nodes,
                c->fallback_nodes);
    else
      mx_append(&b, ",,,,", 4);
    mx_printf(&b, ",%.3f\n", c->seconds);
  }
  int rc = b.oom ? 1 : mx_write_text(path, b.p, b.n);
  mx_buf_free(&b);
  return rc;
}

/* Markdown table cell: pipes escaped, newlines flattened. */
static void md_str(mx_buf *b, const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '|')
      mx_append(b, "\\|", 2);
    else if (*p == '\n' || *p == '\r')
      mx_append(b, " ", 1);
    else
      mx_append(b, p, 1);
  }
}

static const char *kib(uint64_t bytes, char *buf, size_t n) {
  if (bytes >= 10u << 20)
    snprintf(buf, n, "%.1f MiB", bytes / 1048576.0);
  else
    snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
  return buf;
}

int mx_write_markdown(const mx_report *r, const char *path) {
  mx_buf b = {0};
  int ok = 0, failed = 0, na = 0, q = 0, qexact = 0;
  for (int i = 0; i < r->n_cells; i++) {
    const mx_cell *c = &r->cells[i];
    ok += c->status == MX_OK;
    failed += c->status == MX_FAILED;
    na += c->status == MX_NOT_AVAILABLE || c->status == MX_UNSUPPORTED;
    if (c->quantized && c->has_accuracy) {
      q++;
      qexact += c->bit_exact;
    }
  }
  mx_printf(&b, "# tern hardware matrix\n\n");
  mx_printf(&b,
            "Created %s on %s with tern %s (%d CPU threads), %.1f s.\n"
            "Batch 1 and batch %lld; %d %s samples per cell compared with "
            "the CPU reference.\n\n",
            r->created, r->hostname, tern_version_string(), r->threads,
            r->elapsed_s, (long long)r->opt.batch, r->opt.samples,
            r->opt.data ? "MNIST" : "synthetic");
  mx_printf(&b,
            "**%d cells: %d ok, %d failed, %d unsupported or not available. "
            "Quantized cells bit-identical to the reference: %d of %d.**\n\n",
            r->n_cells, ok, failed, na, qexact, q);
  for (int i = 0; i < r->n_warnings; i++) {
    mx_printf(&b, "> warning: ");
    md_str(&b, r->warnings[i]);
    mx_printf(&b, "\n\n");
  }
  mx_printf(&b, "## Devices\n\n| id | name | vendor | driver | features |\n"
                "|---|---|---|---|---|\n");
  for (int i = 0; i < r->n_devices; i++) {
    const tern_device_info *d = &r->devices[i];
    mx_printf(&b, "| %s | ", d->id);
    md_str(&b, d->name);
    mx_printf(&b, " | ");
    md_str(&b, d->vendor);
    mx_printf(&b, " | ");
    md_str(&b, d->driver);
    mx_printf(&b, " | ");
    md_str(&b, d->features);
    mx_printf(&b, " |\n");
  }
  const char *last_model = "";
  for (int i = 0; i < r->n_cells; i++) {
    const mx_cell *c = &r->cells[i];
    if (strcmp(c->model, last_model)) {
      last_model = c->model;
      mx_printf(&b,
                "\n## %s\n\n| precision | mode | device | status | "
                "bit-exact | max abs err | agreement | batch 1 median / p95 "
                "ms | batch %lld median / p95 ms | samples/s | weights | "
                "peak activations | CPU fallback nodes |\n|---|---|---|---|---|"
                "---|---|---|---|---|---|---|---|\n",
                c->model, (long long)r->opt.batch);
    }
    char w[32], a[32];
    mx_printf(&b, "| %s | %s | ", c->precision, c->mode);
    md_str(&b, c->device);
    mx_printf(&b, " | ");
    if (c->status == MX_OK)
      mx_printf(&b, "ok");
    else {
      mx_printf(&b, "%s: ", mx_status_name(c->status));
      md_str(&b, c->reason);
    }
    if (c->has_accuracy)
      mx_printf(&b, " | %s | %.3g | %.1f%%", c->bit_exact ? "yes" : "no",
                c->max_abs_err, c->agreement * 100);
    else
      mx_printf(&b, " | | |");
    if (c->has_timing)
      mx_printf(&b, " | %.3f / %.3f | %.3f / %.3f | %.0f | %s | %s | %d |\n",
                c->lat1_median_ms, c->lat1_p95_ms, c->latn_median_ms,
                c->latn_p95_ms, c->throughput_sps,
                kib(c->weight_bytes, w, sizeof w),
                kib(c->peak_activation_bytes, a, sizeof a), c->fallback_nodes);
    else
      mx_printf(&b, " | | | | | | |\n");
  }
  mx_printf(&b, "\n## Tuning (tuned vs built-in default)\n\n");
  if (!r->n_tuning)
    mx_printf(&b, "No tuning results for these devices (run `tern tune` or "
                  "`tern matrix --tune SECONDS`).\n");
  else
    mx_printf(&b, "| device | kernel | shape | parameters | default us | "
                  "tuned us | speed-up | from |\n|---|---|---|---|---|---|---|"
                  "---|\n");
  for (int i = 0; i < r->n_tuning; i++) {
    const mx_tuning_row *t = &r->tuning[i];
    mx_printf(&b, "| %s | %s | %s | %s | ", t->device, t->kernel, t->shape,
              t->params);
    if (t->default_us > 0)
      mx_printf(&b, "%.1f | %.1f | %.2fx | %s |\n", t->default_us, t->tuned_us,
                t->default_us / t->tuned_us, t->origin);
    else
      mx_printf(&b, "? | %.1f | ? | %s |\n", t->tuned_us, t->origin);
  }
  int rc = b.oom ? 1 : mx_write_text(path, b.p, b.n);
  mx_buf_free(&b);
  return rc;
}
