/* tuning.c — the tuning database: entries keyed by device and kernel, read
 * and validated from JSON (json-c), written atomically, merged, and looked up
 * device → architecture → vendor → built-in default. */
#include "tuning.h"

#include "context.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct tern_tuning_db {
  tern_tuning_entry *v;
  int n, cap;
};

/* -------------------------------------------------------------- params */
int32_t tern_tuning_params_get(const tern_tuning_params *p, const char *name,
                               int32_t fallback) {
  if (p)
    for (int i = 0; i < p->count; i++)
      if (strcmp(p->name[i], name) == 0)
        return p->value[i];
  return fallback;
}

tern_status tern_tuning_params_set(tern_tuning_params *p, const char *name,
                                   int32_t value, tern_err *err) {
  if (!name || !*name || strlen(name) >= TERN_TUNING_NAME_MAX)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tuning parameter name '%s' is empty or longer than "
                        "%d bytes",
                        name ? name : "", TERN_TUNING_NAME_MAX - 1);
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->name[i], name) == 0) {
      p->value[i] = value;
      return TERN_OK;
    }
  if (p->count >= TERN_TUNING_MAX_PARAMS)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "more than %d tuning parameters",
                        TERN_TUNING_MAX_PARAMS);
  snprintf(p->name[p->count], TERN_TUNING_NAME_MAX, "%s", name);
  p->value[p->count++] = value;
  return TERN_OK;
}

const char *tern_tuning_params_str(const tern_tuning_params *p, char *buf,
                                   size_t n) {
  size_t used = 0;
  if (n)
    buf[0] = 0;
  for (int i = 0; p && i < p->count && used < n; i++) {
    int w = snprintf(buf + used, n - used, "%s%s=%d", i ? " " : "", p->name[i],
                     (int)p->value[i]);
    if (w < 0)
      break;
    used += (size_t)w;
  }
  return buf;
}

const char *tern_tuning_match_name(tern_tuning_match m) {
  switch (m) {
  case TERN_TUNING_VENDOR:
    return "vendor";
  case TERN_TUNING_ARCH:
    return "arch";
  case TERN_TUNING_DEVICE:
    return "device";
  default:
    return "default";
  }
}

/* ------------------------------------------------------------------ db */
tern_status tern_tuning_db_create(tern_tuning_db **out, tern_err *err) {
  tern_tuning_db *db = tern_calloc(1, sizeof *db);
  if (!db)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  *out = db;
  return TERN_OK;
}

void tern_tuning_db_destroy(tern_tuning_db *db) {
  if (!db)
    return;
  tern_free(db->v);
  tern_free(db);
}

int tern_tuning_db_count(const tern_tuning_db *db) {
  return db ? db->n : 0;
}

const tern_tuning_entry *tern_tuning_db_entry(const tern_tuning_db *db, int i) {
  return db && i >= 0 && i < db->n ? &db->v[i] : NULL;
}

static bool key_eq(const tern_tuning_key *a, const tern_tuning_key *b) {
  return strcmp(a->backend, b->backend) == 0 &&
         strcmp(a->vendor, b->vendor) == 0 &&
         strcmp(a->device, b->device) == 0 && strcmp(a->arch, b->arch) == 0 &&
         strcmp(a->driver, b->driver) == 0 &&
         strcmp(a->kernel, b->kernel) == 0 && strcmp(a->shape, b->shape) == 0;
}

static int find_key(const tern_tuning_db *db, const tern_tuning_key *k) {
  for (int i = 0; i < db->n; i++)
    if (key_eq(&db->v[i].key, k))
      return i;
  return -1;
}

/* The checks a file entry and a put entry share. */
static tern_status check_entry(const tern_tuning_entry *e, const char *where,
                               tern_err *err) {
  const tern_tuning_key *k = &e->key;
  if (!k->backend[0] || !k->kernel[0] || !k->shape[0])
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: backend, kernel and shape must not be empty",
                        where);
  if (e->params.count < 1 || e->params.count > TERN_TUNING_MAX_PARAMS)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: params must hold 1 to %d values, not %d", where,
                        TERN_TUNING_MAX_PARAMS, e->params.count);
  for (int i = 0; i < e->params.count; i++)
    if (e->params.value[i] < 0 || e->params.value[i] > TERN_TUNING_VALUE_MAX)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: params.%s = %d is out of range [0, %d]", where,
                          e->params.name[i], (int)e->params.value[i],
                          TERN_TUNING_VALUE_MAX);
  if (!isfinite(e->time_us) || e->time_us <= 0 || e->time_us > 1e12)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: time_us = %g must be a positive number of "
                        "microseconds",
                        where, e->time_us);
  if (!isfinite(e->default_time_us) || e->default_time_us < 0 ||
      e->default_time_us > 1e12)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: default_time_us = %g must be >= 0", where,
                        e->default_time_us);
  if (e->created < 0)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE, "%s: created must be >= 0",
                        where);
  return TERN_OK;
}

static tern_status push_entry(tern_tuning_db *db, const tern_tuning_entry *e,
                              tern_err *err) {
  if (db->n == db->cap) {
    int cap = db->cap ? db->cap * 2 : 16;
    tern_tuning_entry *v = tern_realloc(db->v, (size_t)cap * sizeof *v);
    if (!v)
      return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
    db->v = v;
    db->cap = cap;
  }
  db->v[db->n++] = *e;
  return TERN_OK;
}

tern_status tern_tuning_db_put(tern_tuning_db *db, const tern_tuning_entry *e,
                               tern_err *err) {
  if (!db || !e)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_tuning_db_put: NULL argument");
  tern_status s = check_entry(e, "tuning entry", err);
  if (s)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT, "%s", err->msg);
  int i = find_key(db, &e->key);
  if (i >= 0) {
    db->v[i] = *e;
    return TERN_OK;
  }
  return push_entry(db, e, err);
}

tern_status tern_tuning_db_merge(tern_tuning_db *dst, const tern_tuning_db *src,
                                 int *added, int *replaced, tern_err *err) {
  int a = 0, r = 0;
  for (int j = 0; src && j < src->n; j++) {
    int i = find_key(dst, &src->v[j].key);
    if (i < 0) {
      tern_status s = push_entry(dst, &src->v[j], err);
      if (s)
        return s;
      a++;
    } else if (src->v[j].time_us < dst->v[i].time_us) {
      dst->v[i] = src->v[j];
      r++;
    }
  }
  if (added)
    *added = a;
  if (replaced)
    *replaced = r;
  return TERN_OK;
}

/* ------------------------------------------------------------ lookup */
static bool eq(const char *a, const char *b) {
  return strcmp(a, b) == 0;
}

/* Level of entry e for key k (0 = no match), given whether the shape must
 * match exactly or the entry must be the "*" shape. */
static int match_level(const tern_tuning_entry *e, const tern_tuning_key *k,
                       bool exact_shape, bool same_driver) {
  const tern_tuning_key *ek = &e->key;
  if (!eq(ek->backend, k->backend) || !eq(ek->kernel, k->kernel) ||
      !eq(ek->vendor, k->vendor))
    return 0;
  if (exact_shape ? !eq(ek->shape, k->shape) : !eq(ek->shape, "*"))
    return 0;
  if (eq(ek->device, k->device) && (!same_driver || eq(ek->driver, k->driver)))
    return TERN_TUNING_DEVICE;
  if (same_driver)
    return 0;
  if (ek->arch[0] && eq(ek->arch, k->arch))
    return TERN_TUNING_ARCH;
  return TERN_TUNING_VENDOR;
}

tern_tuning_match tern_tuning_lookup(const tern_tuning_db *db,
                                     const tern_tuning_key *key,
                                     tern_tuning_params *params,
                                     const tern_tuning_entry **entry) {
  if (!db || !key || !params)
    return TERN_TUNING_DEFAULT;
  /* passes from the most to the least specific: the first hit wins */
  static const struct {
    int level;
    bool exact_shape, same_driver;
  } passes[] = {
      {TERN_TUNING_DEVICE, true, true},  {TERN_TUNING_DEVICE, false, true},
      {TERN_TUNING_DEVICE, true, false}, {TERN_TUNING_DEVICE, false, false},
      {TERN_TUNING_ARCH, true, false},   {TERN_TUNING_ARCH, false, false},
      {TERN_TUNING_VENDOR, true, false}, {TERN_TUNING_VENDOR, false, false},
  };
  for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++)
    for (int i = 0; i < db->n; i++) {
      const tern_tuning_entry *e = &db->v[i];
      if (match_level(e, key, passes[p].exact_shape, passes[p].same_driver) !=
          passes[p].level)
        continue;
      for (int j = 0; j < e->params.count; j++)
        tern_tuning_params_set(params, e->params.name[j], e->params.value[j],
                               NULL);
      if (entry)
        *entry = e;
      return (tern_tuning_match)passes[p].level;
    }
  return TERN_TUNING_DEFAULT;
}

/* ------------------------------------------------------- keys, classes */
void tern_tuning_arch_of(const tern_device_info *info, char *buf, size_t n) {
  if (info->type == TERN_DEVICE_CPU && strcmp(info->backend, "cpu") == 0) {
    /* the best ISA level named in the features decides CPU kernels */
    const char *f = info->features;
    snprintf(buf, n, "%s",
             strstr(f, "avx512") ? "x86-avx512"
             : strstr(f, "avx2") ? "x86-avx2"
             : strstr(f, "neon") ? "arm-neon"
                                 : "generic");
    return;
  }
  char tmp[128];
  snprintf(tmp, sizeof tmp, "%s", info->name);
  tmp[strcspn(tmp, "(")] = 0;
  /* drop trailing model numbers and spaces: "GeForce RTX 3080" -> "GeForce
   * RTX"; a name that is only a number stays as it is */
  size_t len = strlen(tmp);
  while (len && tmp[len - 1] == ' ')
    tmp[--len] = 0;
  size_t keep = len;
  while (keep && tmp[keep - 1] != ' ')
    keep--;
  bool numeric = keep < len;
  for (size_t i = keep; i < len; i++)
    if (!(tmp[i] >= '0' && tmp[i] <= '9'))
      numeric = false;
  if (numeric && keep > 0) {
    tmp[keep] = 0;
    while (keep && tmp[keep - 1] == ' ')
      tmp[--keep] = 0;
  }
  snprintf(buf, n, "%s", tmp);
}

void tern_tuning_key_for_device(const tern_device_info *info,
                                const char *kernel, const char *shape,
                                tern_tuning_key *key) {
  memset(key, 0, sizeof *key);
  snprintf(key->backend, sizeof key->backend, "%s", info->backend);
  snprintf(key->vendor, sizeof key->vendor, "%s", info->vendor);
  snprintf(key->device, sizeof key->device, "%s", info->name);
  tern_tuning_arch_of(info, key->arch, sizeof key->arch);
  snprintf(key->driver, sizeof key->driver, "%s", info->driver);
  snprintf(key->kernel, sizeof key->kernel, "%s", kernel ? kernel : "");
  snprintf(key->shape, sizeof key->shape, "%s", shape ? shape : "*");
}

static int64_t pow2_ceil(int64_t v) {
  int64_t p = 1;
  while (p < v && p < ((int64_t)1 << 40))
    p <<= 1;
  return p;
}

static const char *dtype_tag(tern_dtype d) {
  const char *s = tern_dtype_name(d);
  return s ? s : "unknown";
}

const char *tern_tuning_shape_class(const tern_exec_node *node, char *buf,
                                    size_t n) {
  const tern_view *x = &node->in[0];
  if (node->op == TERN_OP_LINEAR && node->n_inputs >= 2) {
    int64_t K = node->in[1].shape[1], N = node->in[1].shape[0];
    int64_t M = tern_view_numel(x) / (K ? K : 1);
    const char *m = M <= 1 ? "1" : M <= 8 ? "8" : M <= 64 ? "64" : "big";
    snprintf(buf, n, "%s_m%s_k%lld_n%lld", dtype_tag(node->in[1].dtype), m,
             (long long)pow2_ceil(K), (long long)pow2_ceil(N));
  } else if (node->op == TERN_OP_CONV2D && node->n_inputs >= 2 &&
             x->ndim == 4) {
    const tern_view *w = &node->in[1];
    int g = node->params.groups > 1 ? node->params.groups : 1;
    int s = node->params.stride[0] > 0 ? node->params.stride[0] : 1;
    snprintf(buf, n, "%s_c%lld_o%lld_k%lldx%lld_s%d_g%s_hw%lld",
             dtype_tag(w->dtype), (long long)x->shape[1],
             (long long)w->shape[0], (long long)w->shape[2],
             (long long)w->shape[3], s,
             g == 1             ? "1"
             : g == x->shape[1] ? "dw"
                                : "n",
             (long long)pow2_ceil(x->shape[2] > x->shape[3] ? x->shape[2]
                                                            : x->shape[3]));
  } else {
    snprintf(buf, n, "n%lld", (long long)pow2_ceil(tern_view_numel(x)));
  }
  return buf;
}

tern_tuning_match tern_tuning_lookup_node(const tern_tuning_db *db,
                                          const tern_device_info *info,
                                          const char *kernel,
                                          const tern_exec_node *node,
                                          tern_tuning_params *params) {
  if (!db || !info || !kernel || !node || !params)
    return TERN_TUNING_DEFAULT;
  char cls[64];
  tern_tuning_key key;
  tern_tuning_key_for_device(
      info, kernel, tern_tuning_shape_class(node, cls, sizeof cls), &key);
  return tern_tuning_lookup(db, &key, params, NULL);
}

void tern_tunable_defaults(const tern_tunable *t, tern_tuning_params *p) {
  memset(p, 0, sizeof *p);
  for (int i = 0; t && i < t->n_params; i++)
    tern_tuning_params_set(p, t->params[i].name, t->params[i].default_value,
                           NULL);
}

/* -------------------------------------------------------------- JSON in */
static const char *const k_entry_fields[] = {
    "backend", "vendor",          "device",  "arch",
    "driver",  "kernel",          "shape",   "params",
    "time_us", "default_time_us", "created", "tern_version"};

static tern_status get_str(json_object *o, const char *field, char *dst,
                           size_t cap, bool required, const char *where,
                           tern_err *err) {
  json_object *v;
  if (!json_object_object_get_ex(o, field, &v)) {
    if (required)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: missing field \"%s\"", where, field);
    dst[0] = 0;
    return TERN_OK;
  }
  if (!json_object_is_type(v, json_type_string))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: field \"%s\" must be a string", where, field);
  size_t len = (size_t)json_object_get_string_len(v);
  if (len >= cap)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: field \"%s\" is longer than %zu bytes", where,
                        field, cap - 1);
  const char *s = json_object_get_string(v);
  if (strlen(s) != len)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: field \"%s\" contains a NUL character", where,
                        field);
  memcpy(dst, s, len + 1);
  return TERN_OK;
}

static tern_status get_num(json_object *o, const char *field, double *dst,
                           bool required, const char *where, tern_err *err) {
  json_object *v;
  if (!json_object_object_get_ex(o, field, &v)) {
    if (required)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: missing field \"%s\"", where, field);
    *dst = 0;
    return TERN_OK;
  }
  if (!json_object_is_type(v, json_type_int) &&
      !json_object_is_type(v, json_type_double))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: field \"%s\" must be a number", where, field);
  *dst = json_object_get_double(v);
  return TERN_OK;
}

static tern_status parse_params(json_object *o, tern_tuning_params *p,
                                const char *where, tern_err *err) {
  json_object *v;
  if (!json_object_object_get_ex(o, "params", &v))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: missing field \"params\"", where);
  if (!json_object_is_type(v, json_type_object))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: \"params\" must be an object of integers", where);
  memset(p, 0, sizeof *p);
  json_object_object_foreach(v, name, val) {
    if (!json_object_is_type(val, json_type_int))
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: params.%s must be an integer", where, name);
    errno = 0;
    int64_t iv = json_object_get_int64(val);
    if (errno || iv < 0 || iv > TERN_TUNING_VALUE_MAX)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: params.%s = %lld is out of range [0, %d]", where,
                          name, (long long)iv, TERN_TUNING_VALUE_MAX);
    if (tern_tuning_params_set(p, name, (int32_t)iv, err))
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE, "%s: %s", where,
                          err->msg);
  }
  return TERN_OK;
}

static tern_status parse_entry(json_object *o, tern_tuning_entry *e,
                               const char *where, tern_err *err) {
  if (!json_object_is_type(o, json_type_object))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE, "%s must be an object",
                        where);
  json_object_object_foreach(o, field, val) {
    (void)val;
    bool known = false;
    for (size_t i = 0; i < sizeof k_entry_fields / sizeof *k_entry_fields; i++)
      known |= strcmp(field, k_entry_fields[i]) == 0;
    if (!known)
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: unknown field \"%s\"", where, field);
  }
  memset(e, 0, sizeof *e);
  tern_tuning_key *k = &e->key;
  tern_status s;
  if ((s = get_str(o, "backend", k->backend, sizeof k->backend, true, where,
                   err)) ||
      (s = get_str(o, "vendor", k->vendor, sizeof k->vendor, true, where,
                   err)) ||
      (s = get_str(o, "device", k->device, sizeof k->device, true, where,
                   err)) ||
      (s = get_str(o, "arch", k->arch, sizeof k->arch, false, where, err)) ||
      (s = get_str(o, "driver", k->driver, sizeof k->driver, true, where,
                   err)) ||
      (s = get_str(o, "kernel", k->kernel, sizeof k->kernel, true, where,
                   err)) ||
      (s = get_str(o, "shape", k->shape, sizeof k->shape, true, where, err)) ||
      (s = get_str(o, "tern_version", e->tern_version, sizeof e->tern_version,
                   false, where, err)))
    return s;
  if ((s = parse_params(o, &e->params, where, err)))
    return s;
  double created = 0;
  if ((s = get_num(o, "time_us", &e->time_us, true, where, err)) ||
      (s = get_num(o, "default_time_us", &e->default_time_us, false, where,
                   err)) ||
      (s = get_num(o, "created", &created, false, where, err)))
    return s;
  if (created < 0 || created > 1e13)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: created = %g is out of range", where, created);
  e->created = (int64_t)created;
  return check_entry(e, where, err);
}

tern_status tern_tuning_db_parse(const char *text, size_t bytes,
                                 const char *origin, tern_tuning_db **out,
                                 tern_err *err) {
  if (!text || !out)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_tuning_db_parse: NULL argument");
  if (!origin)
    origin = "tuning database";
  if (bytes > (size_t)64 << 20)
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: %zu bytes is too large for a tuning database",
                        origin, bytes);
  if (memchr(text, 0, bytes))
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: contains a NUL byte (not a JSON text)", origin);
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  json_object *root = json_tokener_parse_ex(tok, text, (int)bytes);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (!root || jerr != json_tokener_success) {
    json_object_put(root);
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "%s: malformed JSON near byte %zu: %s", origin, end,
                        jerr == json_tokener_continue
                            ? "unexpected end of text"
                            : json_tokener_error_desc(jerr));
  }
  for (size_t i = end; i < bytes; i++)
    if (!strchr(" \t\r\n", text[i])) {
      json_object_put(root);
      return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                          "%s: unexpected text after the JSON value at byte "
                          "%zu",
                          origin, i);
    }
  tern_status s = TERN_OK;
  tern_tuning_db *db = NULL;
  json_object *v, *entries = NULL;
  if (!json_object_is_type(root, json_type_object)) {
    s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "%s: the top level must be an object", origin);
    goto done;
  }
  json_object_object_foreach(root, field, val) {
    (void)val;
    if (strcmp(field, "format") && strcmp(field, "version") &&
        strcmp(field, "entries")) {
      s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                       "%s: unknown top-level field \"%s\"", origin, field);
      goto done;
    }
  }
  if (!json_object_object_get_ex(root, "format", &v) ||
      !json_object_is_type(v, json_type_string) ||
      strcmp(json_object_get_string(v), TERN_TUNING_FORMAT) != 0) {
    s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "%s: \"format\" must be \"%s\"", origin,
                     TERN_TUNING_FORMAT);
    goto done;
  }
  if (!json_object_object_get_ex(root, "version", &v) ||
      !json_object_is_type(v, json_type_int)) {
    s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "%s: \"version\" must be an integer", origin);
    goto done;
  }
  if (json_object_get_int64(v) != TERN_TUNING_VERSION) {
    s = tern_err_set(
        err,
        json_object_get_int64(v) > TERN_TUNING_VERSION ? TERN_ERR_VERSION
                                                       : TERN_ERR_CORRUPT_FILE,
        "%s: version %lld is not supported (this build reads "
        "version %d)",
        origin, (long long)json_object_get_int64(v), TERN_TUNING_VERSION);
    goto done;
  }
  if (!json_object_object_get_ex(root, "entries", &entries) ||
      !json_object_is_type(entries, json_type_array)) {
    s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                     "%s: \"entries\" must be an array", origin);
    goto done;
  }
  if ((s = tern_tuning_db_create(&db, err)))
    goto done;
  size_t n = json_object_array_length(entries);
  for (size_t i = 0; i < n; i++) {
    char where[600];
    snprintf(where, sizeof where, "%s: entries[%zu]", origin, i);
    tern_tuning_entry e;
    if ((s = parse_entry(json_object_array_get_idx(entries, i), &e, where,
                         err)))
      goto done;
    int dup = find_key(db, &e.key);
    if (dup >= 0) {
      s = tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                       "%s has the same key as entries[%d] (kernel %s, shape "
                       "%s)",
                       where, dup, e.key.kernel, e.key.shape);
      goto done;
    }
    if ((s = push_entry(db, &e, err)))
      goto done;
  }
done:
  json_object_put(root);
  if (s) {
    tern_tuning_db_destroy(db);
    return s;
  }
  *out = db;
  return TERN_OK;
}

tern_status tern_tuning_db_load(const char *path, tern_tuning_db **out,
                                tern_err *err) {
  if (!path || !out)
    return tern_err_set(err, TERN_ERR_INVALID_ARGUMENT,
                        "tern_tuning_db_load: NULL argument");
  FILE *f = fopen(path, "rb");
  if (!f)
    return tern_err_set(err, errno == ENOENT ? TERN_ERR_NOT_FOUND : TERN_ERR_IO,
                        "cannot open tuning database '%s': %s", path,
                        strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return tern_err_set(err, TERN_ERR_IO,
                        "tuning database '%s' is not a regular file", path);
  }
  if (st.st_size > (off_t)64 << 20) {
    fclose(f);
    return tern_err_set(err, TERN_ERR_CORRUPT_FILE,
                        "tuning database '%s' is %lld bytes, more than 64 MiB",
                        path, (long long)st.st_size);
  }
  size_t bytes = (size_t)st.st_size;
  char *buf = tern_malloc(bytes + 1);
  if (!buf) {
    fclose(f);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  size_t got = fread(buf, 1, bytes, f);
  fclose(f);
  if (got != bytes) {
    tern_free(buf);
    return tern_err_set(err, TERN_ERR_IO, "cannot read tuning database '%s'",
                        path);
  }
  buf[bytes] = 0;
  tern_status s = tern_tuning_db_parse(buf, bytes, path, out, err);
  tern_free(buf);
  return s;
}

/* ------------------------------------------------------------- JSON out */
static int cmp_entry(const void *a, const void *b) {
  const tern_tuning_key *x = &((const tern_tuning_entry *)a)->key;
  const tern_tuning_key *y = &((const tern_tuning_entry *)b)->key;
  int c;
  if ((c = strcmp(x->backend, y->backend)) ||
      (c = strcmp(x->vendor, y->vendor)) ||
      (c = strcmp(x->device, y->device)) ||
      (c = strcmp(x->driver, y->driver)) ||
      (c = strcmp(x->kernel, y->kernel)) || (c = strcmp(x->shape, y->shape)))
    return c;
  return strcmp(x->arch, y->arch);
}

char *tern_tuning_db_to_json(const tern_tuning_db *db, tern_err *err) {
  json_object *root = json_object_new_object();
  json_object *arr = json_object_new_array();
  tern_tuning_entry *sorted = NULL;
  char *text = NULL;
  if (!root || !arr)
    goto oom;
  json_object_object_add(root, "format",
                         json_object_new_string(TERN_TUNING_FORMAT));
  json_object_object_add(root, "version",
                         json_object_new_int(TERN_TUNING_VERSION));
  json_object_object_add(root, "entries", arr);
  int n = db ? db->n : 0;
  if (n) {
    sorted = tern_malloc((size_t)n * sizeof *sorted);
    if (!sorted)
      goto oom;
    memcpy(sorted, db->v, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_entry);
  }
  for (int i = 0; i < n; i++) {
    const tern_tuning_entry *e = &sorted[i];
    json_object *o = json_object_new_object(), *p = json_object_new_object();
    if (!o || !p) {
      json_object_put(o);
      json_object_put(p);
      goto oom;
    }
    json_object_object_add(o, "backend",
                           json_object_new_string(e->key.backend));
    json_object_object_add(o, "vendor", json_object_new_string(e->key.vendor));
    json_object_object_add(o, "device", json_object_new_string(e->key.device));
    json_object_object_add(o, "arch", json_object_new_string(e->key.arch));
    json_object_object_add(o, "driver", json_object_new_string(e->key.driver));
    json_object_object_add(o, "kernel", json_object_new_string(e->key.kernel));
    json_object_object_add(o, "shape", json_object_new_string(e->key.shape));
    for (int j = 0; j < e->params.count; j++)
      json_object_object_add(p, e->params.name[j],
                             json_object_new_int(e->params.value[j]));
    json_object_object_add(o, "params", p);
    json_object_object_add(o, "time_us", json_object_new_double(e->time_us));
    json_object_object_add(o, "default_time_us",
                           json_object_new_double(e->default_time_us));
    json_object_object_add(o, "created", json_object_new_int64(e->created));
    json_object_object_add(o, "tern_version",
                           json_object_new_string(e->tern_version));
    json_object_array_add(arr, o);
  }
  const char *s = json_object_to_json_string_ext(
      root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                JSON_C_TO_STRING_NOSLASHESCAPE);
  text = s ? tern_strdup(s) : NULL;
  if (!text)
    goto oom;
  json_object_put(root);
  tern_free(sorted);
  return text;
oom:
  json_object_put(root);
  tern_free(sorted);
  tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  return NULL;
}

tern_status tern_tuning_db_save(const tern_tuning_db *db, const char *path,
                                tern_err *err) {
  char *text = tern_tuning_db_to_json(db, err);
  if (!text)
    return err ? err->status : TERN_ERR_OUT_OF_MEMORY;
  const void *parts[2] = {text, "\n"};
  size_t sizes[2] = {strlen(text), 1};
  tern_status s = tern_write_file_atomic(path, parts, sizes, 2, err);
  tern_free(text);
  return s;
}

/* ------------------------------------------------------------ context */
bool tern_tuning_default_path(char *buf, size_t n) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) {
    snprintf(buf, n, "%s/tern/tuning.json", xdg);
    return true;
  }
  const char *home = getenv("HOME");
  if (!home || !*home)
    return false;
  snprintf(buf, n, "%s/.cache/tern/tuning.json", home);
  return true;
}

tern_status tern_tuning_db_open_for_context(const char *explicit_path,
                                            tern_tuning_db **out,
                                            char **path_out, tern_err *err) {
  *out = NULL;
  *path_out = NULL;
  const char *path = explicit_path && *explicit_path ? explicit_path
                                                     : getenv("TERN_TUNING_DB");
  char def[1024];
  bool is_default = false;
  if (!path || !*path) {
    if (!tern_tuning_default_path(def, sizeof def))
      return TERN_OK;
    path = def;
    is_default = true;
  }
  tern_tuning_db *db = NULL;
  tern_err local;
  tern_err_clear(&local);
  tern_status s = tern_tuning_db_load(path, &db, &local);
  if (s == TERN_ERR_NOT_FOUND) {
    if (is_default)
      return TERN_OK;
    /* a named database that does not exist yet starts empty: `tern tune`
     * creates it */
    tern_log(TERN_LOG_INFO, "tuning database '%s' does not exist yet", path);
    s = tern_tuning_db_create(&db, &local);
  } else if (s && is_default) {
    tern_log(TERN_LOG_WARN, "ignoring the default tuning database: %s",
             local.msg);
    return TERN_OK;
  }
  if (s) {
    if (err)
      *err = local;
    return tern_err_set(err, s, "%s", local.msg);
  }
  *path_out = tern_strdup(path);
  if (!*path_out) {
    tern_tuning_db_destroy(db);
    return tern_err_set(err, TERN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  *out = db;
  return TERN_OK;
}

tern_tuning_db *tern_context_tuning_db(tern_context *ctx) {
  return ctx ? ctx->tuning_db : NULL;
}

const char *tern_context_tuning_db_path(const tern_context *ctx) {
  return ctx ? ctx->tuning_db_path : NULL;
}
