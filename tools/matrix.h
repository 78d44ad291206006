/* matrix.h — `tern matrix`, the hardware-compatibility benchmark matrix:
 * models × precisions × devices, each cell checked against the CPU reference
 * and timed; report writers (CSV, JSON, Markdown, HTML) and --compare.
 * The JSON layout is documented in docs/MATRIX.md and
 * docs/matrix.schema.json. */
#ifndef TERN_MATRIX_H
#define TERN_MATRIX_H

#include "tern.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define MX_MAX_LIST 32
#define MX_FORMAT "tern-matrix"
#define MX_VERSION 1

typedef struct mx_options {
  const char *out_dir;             /* default "tern-report" */
  const char *models[MX_MAX_LIST]; /* zoo names, optionally "name:k=v,..." */
  int n_models;
  const char *files[MX_MAX_LIST]; /* .tern files */
  int n_files;
  const char *precisions[MX_MAX_LIST]; /* fp32 int8 ternary mixed */
  int n_precisions;
  const char *devices[MX_MAX_LIST]; /* ids; none: every device */
  int n_devices;
  int64_t batch;      /* the larger batch (batch 1 is always timed) */
  int samples;        /* inputs compared with the reference */
  double time_s;      /* timing per batch size per cell */
  int max_runs;       /* timed runs per batch size at most */
  double tune_budget; /* seconds of `tern tune` per device first; 0: none */
  const char *data;   /* MNIST directory (real inputs) or NULL */
  const char *tuning_db;
  const char *compare; /* baseline matrix.json */
  uint64_t seed;
  int threads;
  bool quick;
  bool strict; /* exit 1 when a quantized cell is not bit-exact/fails */
  bool json;   /* the report's JSON on stdout */
  const char *train_models[MX_MAX_LIST]; /* trained with --data (mlp) */
  int n_train_models;
  int64_t train_steps; /* per training mode */
  int train_samples;   /* test images the trained rows are checked on */
  bool no_isolate;     /* run cells in this process (debugging) */
  double cell_timeout; /* seconds before a cell is killed */
} mx_options;

typedef enum mx_status {
  MX_OK = 0,
  MX_FAILED = 1,        /* ran but wrong, or an error while running */
  MX_UNSUPPORTED = 2,   /* the device cannot run it */
  MX_NOT_AVAILABLE = 3, /* not in this build */
  MX_SKIPPED = 4
} mx_status;

const char *mx_status_name(mx_status s);

typedef struct mx_cell {
  char model[64];
  char source[16]; /* "zoo", "file" */
  char precision[16];
  char mode[16]; /* "inference", "fp32", "ptq", "qat", "distill" */
  char device[32];
  char backend[16];
  char device_name[128];
  mx_status status;
  char reason[320];
  bool quantized;   /* the model has int8/ternary weights */
  int has_accuracy; /* correctness fields are set */
  bool bit_exact;
  double max_abs_err;
  double agreement; /* fraction of samples whose argmax matches */
  double accuracy;  /* vs labels when real data is used; < 0: none */
  int samples;
  char input[16]; /* "synthetic", "mnist" */
  int has_timing;
  int64_t batch; /* the larger batch */
  double lat1_median_ms, lat1_p95_ms;
  double latn_median_ms, latn_p95_ms;
  int runs1, runsn;
  double throughput_sps; /* samples per second at the larger batch */
  uint64_t weight_bytes, peak_activation_bytes;
  int nodes, fallback_nodes;
  double seconds; /* wall time spent on the cell */
} mx_cell;

typedef struct mx_tuning_row {
  char device[32];
  char kernel[64];
  char shape[64];
  char params[128]; /* "rows=4 unpack=1" */
  double default_us, tuned_us;
  char origin[16]; /* "database", "this run" */
} mx_tuning_row;

typedef struct mx_report {
  mx_options opt;
  char created[32]; /* ISO 8601 UTC */
  char hostname[64];
  int threads;
  tern_device_info *devices;
  int n_devices;
  mx_cell *cells;
  int n_cells, cap_cells;
  mx_tuning_row *tuning;
  int n_tuning, cap_tuning;
  double elapsed_s;
  char warnings[8][256]; /* what the report should say besides cells */
  int n_warnings;
} mx_report;

/* Print a warning on stderr and keep it for the report. */
void mx_warn(mx_report *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Run the matrix (progress on stderr). Returns 0, or 1 with a message
 * printed when nothing could run at all. */
int mx_run(const mx_options *o, mx_report *r);
void mx_report_free(mx_report *r);

/* Writers: 0 on success, else prints why and returns 1. */
int mx_write_csv(const mx_report *r, const char *path);
int mx_write_markdown(const mx_report *r, const char *path);
int mx_write_json(const mx_report *r, const char *path, FILE *also);
/* chartjs: path of Chart.js to inline (NULL: the Debian location); when it
 * cannot be read the report has tables only and *charts is set false. */
int mx_write_html(const mx_report *r, const char *path, const char *chartjs,
                  bool *charts);
/* The report's JSON text (free()). */
char *mx_report_json(const mx_report *r);

/* Print per-cell deltas of r against the baseline file. */
int mx_compare(const mx_report *r, const char *baseline, FILE *out);

/* Models: build `spec` ("mlp", "bitnet-block:width=256") in `precision`. */
tern_status mx_build_model(const char *spec, const char *precision,
                           uint64_t seed, tern_graph **out, char *why,
                           size_t why_n);
/* Training-mode rows: the model trained in fp32, then PTQ, QAT and
 * distilled (mixed precision), each exported as a graph (caller destroys g;
 * g NULL with why set when that mode failed). */
typedef struct mx_trained {
  char mode[16];      /* fp32, ptq, qat, distill */
  char precision[16]; /* fp32, mixed */
  tern_graph *g;
  double trainer_accuracy; /* the trainer's own evaluation, 0..1 */
  char why[256];
} mx_trained;
bool mx_train_available(void);
/* Returns the rows filled (0 with why when training is impossible). */
int mx_train_modes(const mx_options *o, const char *model, mx_trained *out,
                   int max, char *why, size_t wn);

/* The built-in model list of this build ("mlp lenet5 ..."). */
int mx_default_models(const char **names, int max, bool quick);

/* Run fn(arg, fd) in a child process (in this one when !isolate); what it
 * writes to fd is appended to out. A crash, a non-zero exit or running past
 * timeout_s returns 1 with a description in why. */
struct mx_buf;
int mx_isolated(void (*fn)(void *arg, int fd), void *arg, bool isolate,
                double timeout_s, struct mx_buf *out, char *why, size_t wn);
bool mx_write_all(int fd, const void *p, size_t n);

/* Files written atomically from a memory buffer. */
int mx_write_text(const char *path, const char *text, size_t n);

/* A growable string. */
typedef struct mx_buf {
  char *p;
  size_t n, cap;
  bool oom;
} mx_buf;
void mx_printf(mx_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void mx_append(mx_buf *b, const char *s, size_t n);
void mx_buf_free(mx_buf *b);

#endif
