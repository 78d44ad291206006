/* json_check.c — test helper for cli_test.sh: checks that a file holds
 * exactly one JSON document (RFC 8259 syntax) and prints the values at the
 * given dotted paths ("compression.ratio", "layers.0.name"), one per line
 * (strings unquoted). Exit 0 ok, 1 invalid JSON or a missing path. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
  const char *s;
  size_t i, n;
} parser;

static void ws(parser *p) {
  while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]))
    p->i++;
}

static bool value(parser *p);

static bool string(parser *p) {
  if (p->i >= p->n || p->s[p->i] != '"')
    return false;
  for (p->i++; p->i < p->n; p->i++) {
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      return true;
    }
    if (c < 0x20)
      return false;
    if (c == '\\') {
      p->i++;
      if (p->i >= p->n || !strchr("\"\\/bfnrtu", p->s[p->i]))
        return false;
      if (p->s[p->i] == 'u') {
        for (int k = 0; k < 4; k++)
          if (++p->i >= p->n || !strchr("0123456789abcdefABCDEF", p->s[p->i]))
            return false;
      }
    }
  }
  return false;
}

static bool digits(parser *p) {
  size_t st = p->i;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
    p->i++;
  return p->i > st;
}

static bool number(parser *p) {
  if (p->i < p->n && p->s[p->i] == '-')
    p->i++;
  if (p->i < p->n && p->s[p->i] == '0')
    p->i++;
  else if (!digits(p))
    return false;
  if (p->i < p->n && p->s[p->i] == '.') {
    p->i++;
    if (!digits(p))
      return false;
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
      p->i++;
    if (!digits(p))
      return false;
  }
  return true;
}

static bool literal(parser *p, const char *w) {
  size_t n = strlen(w);
  if (p->n - p->i < n || memcmp(p->s + p->i, w, n) != 0)
    return false;
  p->i += n;
  return true;
}

static bool container(parser *p, char open, char close) {
  p->i++;
  ws(p);
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return true;
  }
  for (;;) {
    ws(p);
    if (open == '{') {
      if (!string(p))
        return false;
      ws(p);
      if (p->i >= p->n || p->s[p->i++] != ':')
        return false;
    }
    if (!value(p))
      return false;
    ws(p);
    if (p->i >= p->n)
      return false;
    char c = p->s[p->i++];
    if (c == close)
      return true;
    if (c != ',')
      return false;
  }
}

static bool value(parser *p) {
  ws(p);
  if (p->i >= p->n)
    return false;
  switch (p->s[p->i]) {
  case '{':
    return container(p, '{', '}');
  case '[':
    return container(p, '[', ']');
  case '"':
    return string(p);
  case 't':
    return literal(p, "true");
  case 'f':
    return literal(p, "false");
  case 'n':
    return literal(p, "null");
  default:
    return number(p);
  }
}

/* Find the value at `path` inside the (valid) value at p->i; on success
 * p->i is at the value's first character. */
static bool find(parser *p, const char *path) {
  ws(p);
  if (!*path)
    return true;
  const char *dot = strchr(path, '.');
  size_t klen = dot ? (size_t)(dot - path) : strlen(path);
  const char *rest = dot ? dot + 1 : path + klen;
  char c = p->s[p->i];
  if (c != '{' && c != '[')
    return false;
  long want = c == '[' ? strtol(path, NULL, 10) : -1;
  p->i++;
  ws(p);
  if (p->s[p->i] == (c == '{' ? '}' : ']'))
    return false;
  for (long idx = 0;; idx++) {
    ws(p);
    bool hit;
    if (c == '{') {
      size_t ks = p->i + 1;
      string(p);
      hit = p->i - 1 - ks == klen && memcmp(p->s + ks, path, klen) == 0;
      ws(p);
      p->i++; /* ':' */
      ws(p);
    } else {
      hit = idx == want;
    }
    if (hit)
      return find(p, rest);
    value(p);
    ws(p);
    if (p->s[p->i++] != ',')
      return false;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: json_check FILE [PATH...]\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "json_check: cannot open %s\n", argv[1]);
    return 1;
  }
  static char buf[1 << 24];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  parser p = {buf, 0, n};
  if (!value(&p)) {
    fprintf(stderr, "json_check: invalid JSON near byte %zu\n", p.i);
    return 1;
  }
  ws(&p);
  if (p.i != n) {
    fprintf(stderr,
            "json_check: trailing data at byte %zu (more than one "
            "document?)\n",
            p.i);
    return 1;
  }
  for (int a = 2; a < argc; a++) {
    parser q = {buf, 0, n};
    if (!find(&q, argv[a])) {
      fprintf(stderr, "json_check: no value at '%s'\n", argv[a]);
      return 1;
    }
    size_t st = q.i;
    value(&q);
    if (buf[st] == '"')
      printf("%.*s\n", (int)(q.i - st - 2), buf + st + 1);
    else
      printf("%.*s\n", (int)(q.i - st), buf + st);
  }
  return 0;
}
