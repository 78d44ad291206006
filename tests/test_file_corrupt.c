/* test_file_corrupt.c — damaged .tern files must fail cleanly, never crash:
 * missing/empty/directory paths, truncation at every byte, every single-bit
 * flip, random mutations, and targeted damage to every field with the
 * checksums recomputed so that the checks behind them are reached. */
#include "file_helpers.h"

TestSuite(file_corrupt, .init = make_dir, .fini = remove_dir);

/* ------------------------------------------------------- corrupt files */

Test(file_corrupt, not_a_file) {
  tern_graph *g = NULL;
  cr_assert_eq(tern_graph_load(path_in_dir("missing.tern"), NULL, &g),
               TERN_ERR_IO);
  cr_assert(strstr(tern_last_error(), "missing.tern") != NULL);
  cr_assert_eq(tern_graph_load(g_dir, NULL, &g), TERN_ERR_IO);
  cr_assert(strstr(tern_last_error(), "directory") != NULL, "%s",
            tern_last_error());
  tern_load_desc ld = {.size = sizeof ld, .no_mmap = 1};
  cr_assert_eq(tern_graph_load(g_dir, &ld, &g), TERN_ERR_IO);
  const char *e = path_in_dir("empty.tern");
  write_file(e, "", 0);
  cr_assert_eq(tern_graph_load(e, NULL, &g), TERN_ERR_CORRUPT_FILE);
  cr_assert(strstr(tern_last_error(), "empty") != NULL);
  cr_assert_eq(tern_graph_load(e, &ld, &g), TERN_ERR_CORRUPT_FILE);
  expect_fail((const uint8_t *)"", 0, TERN_ERR_CORRUPT_FILE, "empty");
  cr_assert_null(g);
}

Test(file_corrupt, truncated_at_every_byte) {
  for (int st = 0; st < 2; st++) {
    size_t n;
    uint8_t *b = sample_file((tern_ternary_storage)st, &n);
    const char *p = path_in_dir("t.tern");
    for (size_t len = 0; len < n; len++) {
      cr_assert_eq(load_mem(b, len), TERN_ERR_CORRUPT_FILE,
                   "truncated to %zu of %zu bytes", len, n);
      /* through the file paths too (mmap, and read) */
      if (len % 3 == 0) {
        unlink(p); /* rewriting a truncated file can force a flush (ext4) */
        write_file(p, b, len);
        tern_graph *g = NULL;
        tern_load_desc ld = {.size = sizeof ld, .no_mmap = (int)(len % 2)};
        cr_assert_eq(tern_graph_load(p, &ld, &g), TERN_ERR_CORRUPT_FILE,
                     "file truncated to %zu: %s", len, tern_last_error());
        cr_assert_null(g);
      }
    }
    cr_assert_eq(load_mem(b, n), TERN_OK);
    unlink(p);
    free(b);
  }
}

Test(file_corrupt, every_bit_flip_is_detected) {
  size_t n;
  uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
  for (size_t i = 0; i < n; i++)
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      tern_status s = load_mem(b, n);
      cr_assert_neq(s, TERN_OK, "flip of bit %d at byte %zu went unnoticed",
                    bit, i);
      b[i] ^= (uint8_t)(1u << bit);
    }
  free(b);
}

Test(file_corrupt, bit_flips_with_checksums_fixed_fail_cleanly) {
  /* Past the checksums: every flip in the header and tables must either
   * load (a harmless change such as a letter of a name) or fail cleanly. */
  for (int st = 0; st < 2; st++) {
    size_t n;
    uint8_t *b = sample_file((tern_ternary_storage)st, &n);
    uint8_t *m = malloc(n);
    layout L;
    parse_layout(b, n, &L);
    int loaded = 0, failed = 0;
    for (size_t i = 0; i < L.sec_off[3]; i++)
      for (int bit = 0; bit < 8; bit++) {
        if (i >= 20 && i < 24)
          continue; /* the header checksum itself */
        memcpy(m, b, n);
        m[i] ^= (uint8_t)(1u << bit);
        fix_crcs(m, n);
        if (load_mem(m, n) == TERN_OK)
          loaded++;
        else
          failed++;
      }
    cr_log_info("storage %d: %d flips loaded, %d failed cleanly", st, loaded,
                failed);
    cr_assert_gt(failed, loaded);
    free(m);
    free(b);
  }
}

Test(file_corrupt, random_mutations) {
  size_t n;
  tern_graph *zoo = build_zoo();
  tern_save_desc sd = {.size = sizeof sd, .ternary_storage = TERN_STORE_158BIT};
  ok(tern_graph_save(zoo, path_in_dir("fuzz.tern"), &sd), "save");
  tern_graph_destroy(zoo);
  uint8_t *b = read_file(path_in_dir("fuzz.tern"), &n);
  uint8_t *m = malloc(n + 64);
  /* Fixed seed and count; TERN_FUZZ_SEED / TERN_FUZZ_ITERS override them
   * for longer local runs. */
  const char *es = getenv("TERN_FUZZ_SEED"), *ei = getenv("TERN_FUZZ_ITERS");
  rng_state = es ? (uint32_t)strtoul(es, NULL, 0) | 1u : 0xC0FFEEu;
  int iters = ei ? atoi(ei) : 2000;
  int loaded = 0;
  for (int it = 0; it < iters; it++) {
    size_t len = n;
    memcpy(m, b, n);
    int muts = 1 + (int)(rnd() % 4);
    for (int k = 0; k < muts; k++) {
      size_t at = rnd() % len;
      switch (rnd() % 6) {
      case 0:
        m[at] ^= (uint8_t)(1u << (rnd() % 8));
        break;
      case 1:
        m[at] = (uint8_t)rnd();
        break;
      case 2: /* an interesting 32-bit value */
        if (at + 4 <= len) {
          static const uint32_t v[] = {
              0, 1, 0x7fffffffu, 0x80000000u, 0xffffffffu, 64, 4096, 29};
          put32(m + at, v[rnd() % 8]);
        }
        break;
      case 3:
        if (at + 8 <= len)
          put64(m + at, (uint64_t)rnd() << (rnd() % 40));
        break;
      case 4:
        len = at;
        break;
      default: { /* copy a slice over another */
        size_t from = rnd() % len, cnt = rnd() % 32;
        if (from + cnt <= len && at + cnt <= len)
          memmove(m + at, m + from, cnt);
      }
      }
      if (len == 0)
        break;
    }
    if (rnd() % 4)
      fix_crcs(m, len);
    if (load_mem(m, len) == TERN_OK)
      loaded++;
  }
  cr_log_info("random mutations: %d of %d still loaded", loaded, iters);
  free(m);
  free(b);
}

/* Targeted damage, checksums recomputed so the field checks are reached. */
Test(file_corrupt, bad_magic) {
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  d.b[1] = 'X';
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "magic", 0);
}

Test(file_corrupt, future_major_version) {
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  d.b[8] = 2;
  damage_expect(&d, TERN_ERR_VERSION, "version 2.0", 8);
  /* also without fixing the checksum: the version is checked first */
  size_t n;
  uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
  b[8] = 9;
  expect_fail(b, n, TERN_ERR_VERSION, "upgrade");
  free(b);
}

Test(file_corrupt, unknown_flags) {
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  d.b[16] = 1;
  damage_expect(&d, TERN_ERR_VERSION, "flags", 16);
}

Test(file_corrupt, header_fields) {
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + 12, 64);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "header_bytes", 12);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + 24, d.n + 1);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "truncated", 24);

  {
    size_t n; /* bytes appended after a valid file */
    uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
    b = realloc(b, n + 64);
    memset(b + n, 0, 64);
    expect_fail(b, n + 64, TERN_ERR_CORRUPT_FILE, "trailing data");
    free(b);
  }

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + 32 + 24 * 2, UINT64_MAX - 3); /* tensors offset */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "outside the file", 80);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + 40 + 24 * 1, UINT64_MAX); /* graph length */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "outside the file", 56);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + 32 + 24 * 1, d.L.sec_off[0]); /* graph overlaps metadata */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "overlaps", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + 32 + 24 * 3, d.L.sec_off[3] + 8); /* data misaligned */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "aligned", 104);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + 52 + 24 * 0, 5); /* reserved */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "reserved", 52);
}

Test(file_corrupt, header_checksum) {
  size_t n;
  uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
  b[25] ^= 1;
  expect_fail(b, n, TERN_ERR_CORRUPT_FILE, "header checksum");
  free(b);
}

Test(file_corrupt, section_checksum) {
  size_t n;
  uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
  layout L;
  parse_layout(b, n, &L);
  b[L.sec_off[1] + 2] ^= 0x10;
  expect_fail(b, n, TERN_ERR_CORRUPT_FILE, "graph section (bytes");
  free(b);
}

Test(file_corrupt, huge_counts) {
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.tensor_count_at, 0xffffffffu);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "tensor_count", d.L.tensor_count_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node_count_at, 0x7fffffffu);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "node_count", d.L.node_count_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.meta_count_at, 100000);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "count", d.L.meta_count_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.n_inputs_at, 0x40000000u);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "input_count", d.L.n_inputs_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.tensor[0].at, 0xfffffff0u); /* name length */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "name length", d.L.tensor[0].at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[1].n_params_at, 0xffffffffu);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "parameter words",
                d.L.node[1].n_params_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[1].n_inputs_at, 9);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "9 inputs", d.L.node[1].n_inputs_at);
}

Test(file_corrupt, shapes_and_sizes) {
  damage_case d;
  sample s; /* ids of the sample graph */
  build_sample(&s);
  tern_graph_destroy(s.g);

  damage_begin(&d, TERN_STORE_2BIT);
  d.b[d.L.tensor[s.w_t].ndim_at] = 7;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "ndim 7", d.L.tensor[s.w_t].ndim_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_t].shape_at + 8, (uint64_t)-5);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "shape[1] is -5",
                d.L.tensor[s.w_t].shape_at + 8);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_f32].shape_at, 1ull << 39);
  put64(d.b + d.L.tensor[s.w_f32].shape_at + 8, 1ull << 39);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "overflows",
                d.L.tensor[s.w_f32].shape_at + 8);

  damage_begin(&d, TERN_STORE_2BIT); /* shape no longer matches data size */
  put64(d.b + d.L.tensor[s.w_f32].shape_at, 5);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "needs",
                d.L.tensor[s.w_f32].data_off_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_f32].data_off_at + 8, UINT64_MAX);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "fc3.w", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_f32].data_off_at, 1ull << 62);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "outside the data section",
                d.L.tensor[s.w_f32].data_off_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_f32].data_off_at,
        get64(d.b + d.L.tensor[s.w_f32].data_off_at) + 4);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "not 64-byte aligned",
                d.L.tensor[s.w_f32].data_off_at);

  damage_begin(&d, TERN_STORE_2BIT); /* two tensors share their bytes */
  put64(d.b + d.L.tensor[s.b_t].data_off_at,
        get64(d.b + d.L.tensor[s.w_t].data_off_at));
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "overlaps", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_t].data_off_at + 24, 3); /* scale count */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "scales",
                d.L.tensor[s.w_t].data_off_at);

  damage_begin(&d, TERN_STORE_2BIT);
  put64(d.b + d.L.tensor[s.w_t].data_off_at + 24, UINT64_MAX);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "scale_count", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT); /* an input carrying data */
  put64(d.b + d.L.tensor[s.x].data_off_at + 8, 64);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "not a constant",
                d.L.tensor[s.x].data_off_at);
}

Test(file_corrupt, unknown_enums) {
  sample s;
  build_sample(&s);
  tern_graph_destroy(s.g);
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[0].at, 999);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "unknown op 999", d.L.node[0].at);

  damage_begin(&d, TERN_STORE_2BIT);
  d.b[d.L.tensor[s.w_i8].dtype_at] = 77;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "unknown dtype 77",
                d.L.tensor[s.w_i8].dtype_at);

  damage_begin(&d, TERN_STORE_2BIT); /* inputs are f32 */
  d.b[d.L.tensor[s.x].dtype_at] = TERN_DTYPE_F16;
  d.b[d.L.tensor[s.x].storage_at] = 1;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "must be f32",
                d.L.tensor[s.x].dtype_at);

  damage_begin(&d, TERN_STORE_2BIT);
  d.b[d.L.tensor[s.w_i8].kind_at] = 3;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "unknown kind 3",
                d.L.tensor[s.w_i8].kind_at);

  damage_begin(&d, TERN_STORE_2BIT);
  d.b[d.L.tensor[s.w_i8].storage_at] = 6;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "unknown storage 6",
                d.L.tensor[s.w_i8].storage_at);

  damage_begin(&d, TERN_STORE_2BIT); /* 1.58-bit is for ternary only */
  d.b[d.L.tensor[s.w_i8].storage_at] = 5;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "cannot be stored as",
                d.L.tensor[s.w_i8].storage_at);

  damage_begin(&d, TERN_STORE_2BIT); /* dtype that the data cannot be */
  d.b[d.L.tensor[s.w_i8].dtype_at] = TERN_DTYPE_F32;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "cannot be stored as",
                d.L.tensor[s.w_i8].storage_at);

  damage_begin(&d, TERN_STORE_2BIT); /* a count that misframes the node */
  put32(d.b + d.L.node[0].n_params_at, 30);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "", (size_t)-1);
}

/* A 30th parameter word, as a later minor might write: ignored when zero,
 * refused with TERN_ERR_VERSION when set. */
Test(file_corrupt, unknown_parameter_word) {
  for (uint32_t extra = 0; extra < 2; extra++) {
    size_t n;
    uint8_t *b = sample_file(TERN_STORE_2BIT, &n);
    layout L;
    parse_layout(b, n, &L);
    size_t tens_end = L.sec_off[2] + L.sec_len[2];
    cr_assert_geq(L.sec_off[3] - tens_end, 4, "needs 4 bytes of padding");
    size_t at = L.node[0].params_at + 29 * 4;
    memmove(b + at + 4, b + at, tens_end - at);
    put32(b + at, extra * 5);
    put32(b + L.node[0].n_params_at, 30);
    put64(b + 40 + 24 * 1, L.sec_len[1] + 4); /* graph grows */
    put64(b + 32 + 24 * 2, L.sec_off[2] + 4); /* tensors move */
    fix_crcs(b, n);
    if (extra) {
      expect_fail(b, n, TERN_ERR_VERSION, "parameter word 29");
    } else {
      cr_assert_eq(load_mem(b, n), TERN_OK, "%s", tern_last_error());
    }
    free(b);
  }
}

Test(file_corrupt, tensor_ids) {
  sample s;
  build_sample(&s);
  tern_graph_destroy(s.g);
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[1].inputs_at, 1000);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "out of range", d.L.node[1].at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[1].inputs_at, 0x80000001u);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "out of range", d.L.node[1].at);

  damage_begin(&d, TERN_STORE_2BIT); /* reads its own output */
  put32(d.b + d.L.node[1].inputs_at, (uint32_t)s.h2);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "not defined before",
                d.L.node[1].at);

  damage_begin(&d, TERN_STORE_2BIT); /* reads a later tensor */
  put32(d.b + d.L.node[0].inputs_at, (uint32_t)s.f16c);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "not defined before",
                d.L.node[0].at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.node[2].output_at, 1);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "output is 1", d.L.node[2].at);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.n_outputs_at + 4, 5000);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "output 0 refers to tensor 5000",
                d.L.n_outputs_at + 4);

  damage_begin(&d, TERN_STORE_2BIT); /* an output that is a constant */
  put32(d.b + d.L.n_outputs_at + 4, (uint32_t)s.w_t);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "builder refuses",
                d.L.n_outputs_at + 4);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.n_inputs_at + 4, 2);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "inputs must list", d.L.n_inputs_at);

  damage_begin(&d, TERN_STORE_2BIT); /* a node whose shapes do not fit */
  put32(d.b + d.L.node[1].inputs_at + 4, (uint32_t)s.b_t);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "builder refuses", d.L.node[1].at);

  damage_begin(&d, TERN_STORE_2BIT); /* stored shape differs from inferred */
  put64(d.b + d.L.tensor[s.h1].shape_at, 3);
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "differs",
                d.L.tensor[s.h1].shape_at);
}

Test(file_corrupt, strings) {
  sample s;
  build_sample(&s);
  tern_graph_destroy(s.g);
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT); /* 'x' -> NUL */
  d.b[d.L.tensor[s.x].at + 4] = 0;
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "UTF-8", d.L.tensor[s.x].at + 4);

  damage_begin(&d, TERN_STORE_2BIT);
  d.b[d.L.tensor[s.x].at + 4] = 0xc0; /* lone lead byte */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "UTF-8", d.L.tensor[s.x].at + 4);

  damage_begin(&d, TERN_STORE_2BIT);
  put32(d.b + d.L.tensor[s.x].at, 0); /* empty name */
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "empty", d.L.tensor[s.x].at);

  damage_begin(&d, TERN_STORE_2BIT); /* activation renamed away from node */
  d.b[d.L.tensor[s.h1].at + 4] = 'g';
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "its node", d.L.tensor[s.h1].at);

  damage_begin(&d, TERN_STORE_2BIT); /* duplicate metadata key */
  {
    size_t p = d.L.meta_count_at + 4;
    bool found = false;
    for (uint32_t e = 0; e < get32(d.b + d.L.meta_count_at); e++) {
      uint32_t kl = get32(d.b + p);
      if (kl == 4 && memcmp(d.b + p + 4, "tags", 4) == 0) {
        memcpy(d.b + p + 4, "name", 4);
        found = true;
      }
      p += 4 + kl;
      p += 4 + get32(d.b + p);
    }
    cr_assert(found);
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "repeats key 'name'", (size_t)-1);
}

Test(file_corrupt, data_payloads) {
  sample s;
  build_sample(&s);
  tern_graph_destroy(s.g);
  damage_case d;
  damage_begin(&d, TERN_STORE_2BIT); /* ternary code 3 */
  {
    const tlayout *t = &d.L.tensor[s.w_t];
    uint64_t off = get64(d.b + t->data_off_at);
    d.b[d.L.sec_off[3] + off + 1] = 0xff;
    fix_tensor_crc(d.b, &d.L, s.w_t);
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "code 3", (size_t)-1);

  /* col 12, the only real code in a row's last byte: found; the three
   * padding codes of that byte are not looked at (as in the builder) */
  for (int pad = 0; pad < 2; pad++) {
    damage_begin(&d, TERN_STORE_2BIT);
    const tlayout *t = &d.L.tensor[s.w_t];
    uint64_t off = get64(d.b + t->data_off_at);
    d.b[d.L.sec_off[3] + off + 4 + 3] = pad ? 0xfd : 0x03; /* row 1 */
    fix_tensor_crc(d.b, &d.L, s.w_t);
    fix_crcs(d.b, d.n);
    if (pad) {
      cr_assert_eq(load_mem(d.b, d.n), TERN_OK);
      free(d.b);
    } else {
      damage_expect(&d, TERN_ERR_CORRUPT_FILE, "at row 1 col 12",
                    d.L.sec_off[3] + off + 7);
    }
  }

  damage_begin(&d, TERN_STORE_158BIT); /* trit byte above 242 */
  {
    const tlayout *t = &d.L.tensor[s.w_t];
    uint64_t off = get64(d.b + t->data_off_at);
    d.b[d.L.sec_off[3] + off + 2] = 250;
    fix_tensor_crc(d.b, &d.L, s.w_t);
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "242", (size_t)-1);

  damage_begin(&d, TERN_STORE_158BIT); /* non-zero padding trit */
  {
    const tlayout *t = &d.L.tensor[s.w_t];
    uint64_t off = get64(d.b + t->data_off_at),
             n = get64(d.b + t->data_off_at + 8);
    d.b[d.L.sec_off[3] + off + n - 1] = 0; /* 104 codes: last byte pads */
    fix_tensor_crc(d.b, &d.L, s.w_t);
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "padding", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT); /* data checksum */
  {
    const tlayout *t = &d.L.tensor[s.w_f32];
    uint64_t off = get64(d.b + t->data_off_at);
    d.b[d.L.sec_off[3] + off] ^= 4;
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "fc3.w') data checksum", (size_t)-1);

  damage_begin(&d, TERN_STORE_2BIT); /* padding between blobs */
  {
    const tlayout *t = &d.L.tensor[s.b_t];
    uint64_t off = get64(d.b + t->data_off_at);
    d.b[d.L.sec_off[3] + off + 32 + 3] = 1; /* bias is 32 bytes */
  }
  damage_expect(&d, TERN_ERR_CORRUPT_FILE, "padding", (size_t)-1);
}

Test(file_corrupt, every_op_round_trip_and_damage) {
  tern_graph *g = build_zoo();
  cr_assert_eq(tern_graph_node_count(g), TERN_OP_COUNT_ + 0,
               "the zoo should use every op once");
  for (int st = 0; st < 2; st++) {
    tern_save_desc d = {.size = sizeof d, .ternary_storage = st};
    const char *p = path_in_dir("zoo.tern");
    ok(tern_graph_save(g, p, &d), "save");
    for (int mm = 0; mm < 2; mm++) {
      tern_load_desc ld = {.size = sizeof ld, .no_mmap = mm};
      tern_graph *h = NULL;
      ok(tern_graph_load(p, &ld, &h), "load");
      compare_graphs(g, h);
      tern_graph_destroy(h);
    }
    size_t n;
    uint8_t *b = read_file(p, &n), *m = malloc(n);
    layout L;
    parse_layout(b, n, &L);
    /* two bits of every byte of the graph section, checksums fixed (the
     * damage is done on the 2-bit file only, to keep the test short) */
    for (size_t i = L.sec_off[1]; st == 0 && i < L.sec_off[1] + L.sec_len[1];
         i++)
      for (int k = 0; k < 2; k++) {
        memcpy(m, b, n);
        m[i] ^= (uint8_t)(1u << ((i * 3 + (size_t)k * 5) % 8));
        fix_crcs(m, n);
        load_mem(m, n);
      }
    /* every parameter word of every node set to extreme values */
    static const uint32_t vals[] = {0,           1,           2,
                                    0xffffffffu, 0x80000000u, 0x7fffffffu,
                                    0x7f800000u, 0x7fc00000u, 0xff800000u,
                                    7,           0xfffffffeu};
    for (int k = 0; st == 0 && k < L.n_nodes; k++)
      for (int wi = 0; wi < 29; wi++)
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
          memcpy(m, b, n);
          put32(m + L.node[k].params_at + 4 * (size_t)wi, vals[v]);
          fix_crcs(m, n);
          load_mem(m, n);
        }
    free(m);
    free(b);
    unlink(p);
  }
  tern_graph_destroy(g);
}
