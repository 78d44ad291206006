/* matrix_html.c — the matrix as one self-contained HTML file: tables written
 * here (readable without JavaScript) and charts drawn by Chart.js, inlined
 * from Debian's libjs-chart.js at run time (never shipped with tern). When
 * Chart.js cannot be read the report keeps its tables and says so. */
#include "matrix.h"

#include <stdlib.h>
#include <string.h>

#define MX_CHARTJS_DEFAULT "/usr/share/javascript/chart.js/chart.min.js"

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  mx_buf b = {0};
  char chunk[65536];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
    mx_append(&b, chunk, got);
  fclose(f);
  if (b.oom) {
    mx_buf_free(&b);
    return NULL;
  }
  *n = b.n;
  return b.p;
}

static void html_str(mx_buf *b, const char *s) {
  for (const char *p = s; *p; p++) {
    switch (*p) {
    case '<':
      mx_append(b, "&lt;", 4);
      break;
    case '>':
      mx_append(b, "&gt;", 4);
      break;
    case '&':
      mx_append(b, "&amp;", 5);
      break;
    case '"':
      mx_append(b, "&quot;", 6);
      break;
    default:
      mx_append(b, p, 1);
    }
  }
}

/* Text inside <script>: "</" would end the element early. */
static void script_text(mx_buf *b, const char *s, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i + 1 < n; i++)
    if (s[i] == '<' && s[i + 1] == '/') {
      mx_append(b, s + start, i - start);
      mx_append(b, "<\\/", 3);
      start = i + 2;
      i++;
    }
  mx_append(b, s + start, n - start);
}

static const char k_style[] =
    "body{font-family:system-ui,sans-serif;margin:24px;color:#222;"
    "max-width:1200px}h1{margin-bottom:4px}table{border-collapse:collapse;"
    "margin:8px 0 24px;font-size:13px}th,td{border:1px solid #ccc;"
    "padding:3px 6px;text-align:left}th{background:#f0f0f0}"
    "td.ok{color:#060}td.failed{color:#b00;font-weight:bold}"
    "td.unsupported,td.not_available,td.skipped{color:#777}"
    ".warn{background:#fff3cd;padding:8px;border:1px solid #e0c060}"
    ".chart{margin:8px 0 28px}.summary{font-size:15px}";

/* Charts: speed per device and precision, batch-1 latency, accuracy vs
 * size, tuned vs default. data-charts on <body> counts charts drawn with
 * pixels on their canvas; data-js-error records any script error. */
static const char k_script[] =
    "(function(){\n"
    "var body=document.body;\n"
    "window.addEventListener('error',function(e){body.setAttribute("
    "'data-js-error',String(e.message));});\n"
    "var data=JSON.parse(document.getElementById('tern-data').textContent);\n"
    "if(typeof Chart==='undefined'){body.setAttribute('data-charts','0');"
    "return;}\n"
    "Chart.defaults.animation=false;\n"
    "var palette=['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd',"
    "'#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];\n"
    "var cells=data.cells.filter(function(c){return c.status==='ok'&&"
    "c.mode==='inference';});\n"
    "function uniq(a){var o=[];a.forEach(function(x){if(o.indexOf(x)<0)"
    "o.push(x);});return o;}\n"
    "var labels=uniq(cells.map(function(c){return c.model+' "
    "'+c.precision;}));\n"
    "var devices=uniq(cells.map(function(c){return c.device;}));\n"
    "function perDevice(field){return devices.map(function(d,i){return{"
    "label:d,backgroundColor:palette[i%10],data:labels.map(function(l){"
    "var c=cells.find(function(c){return c.device===d&&"
    "(c.model+' '+c.precision)===l;});return c?c[field]:null;})};});}\n"
    "var drawn=0,expected=0;\n"
    "function painted(ch){var cv=ch.canvas,ctx=cv.getContext('2d');"
    "var px=ctx.getImageData(0,0,cv.width,cv.height).data,n=0;"
    "for(var i=3;i<px.length;i+=16)if(px[i])n++;return n>100;}\n"
    "function make(id,cfg){expected++;var el=document.getElementById(id);"
    "if(!el)return;cfg.options=cfg.options||{};cfg.options.responsive=false;"
    "cfg.options.animation=false;var ch=new Chart(el,cfg);if(painted(ch))"
    "drawn++;}\n"
    "function logY(title){return{y:{type:'logarithmic',title:{display:true,"
    "text:title}}};}\n"
    "if(cells.length){\n"
    "make('chart-speed',{type:'bar',data:{labels:labels,datasets:"
    "perDevice('throughput_sps')},options:{plugins:{title:{display:true,"
    "text:'Throughput at batch '+data.config.batch+' (samples/s, higher is "
    "better)'}},scales:logY('samples/s')}});\n"
    "make('chart-latency',{type:'bar',data:{labels:labels,datasets:"
    "perDevice('lat1_median_ms')},options:{plugins:{title:{display:true,"
    "text:'Latency at batch 1 (median ms, lower is better)'}},scales:"
    "logY('ms')}});\n"
    "var precs=uniq(cells.map(function(c){return c.precision;}));\n"
    "make('chart-accuracy',{type:'scatter',data:{datasets:precs.map("
    "function(p,i){return{label:p,backgroundColor:palette[i%10],pointRadius:"
    "5,data:cells.filter(function(c){return c.precision===p;}).map("
    "function(c){return{x:c.weight_bytes/1024,y:100*(c.accuracy!==null?"
    "c.accuracy:c.agreement),m:c.model+' on '+c.device};})};})},options:{"
    "plugins:{title:{display:true,text:'Accuracy (or agreement with the "
    "reference) vs weight size'},tooltip:{callbacks:{label:function(t){"
    "return t.raw.m+': '+t.raw.y.toFixed(1)+'% at '+t.raw.x.toFixed(1)+"
    "' KiB';}}}},scales:{x:{type:'logarithmic',title:{display:true,text:"
    "'weights (KiB)'}},y:{title:{display:true,text:'%'},suggestedMin:0,"
    "suggestedMax:100}}}});\n"
    "}\n"
    "var tun=data.tuning.filter(function(t){return t.tuned_us!==null;});\n"
    "if(tun.length){\n"
    "make('chart-tuning',{type:'bar',data:{labels:tun.map(function(t){"
    "return t.device+' '+t.kernel+' '+t.shape;}),datasets:[{label:"
    "'built-in default',backgroundColor:'#7f7f7f',data:tun.map(function(t){"
    "return t.default_us;})},{label:'tuned',backgroundColor:'#2ca02c',data:"
    "tun.map(function(t){return t.tuned_us;})}]},options:{plugins:{title:{"
    "display:true,text:'Tuned vs default kernel time (us, lower is "
    "better)'}},scales:logY('us')}});\n"
    "}\n"
    "body.setAttribute('data-charts',String(drawn));\n"
    "body.setAttribute('data-charts-expected',String(expected));\n"
    "})();\n";

static void cell_row(mx_buf *b, const mx_cell *c) {
  /* a model name comes from a file name: escape everything */
  const char *f[] = {c->model, c->precision, c->mode, c->device};
  mx_printf(b, "<tr>");
  for (int i = 0; i < 4; i++) {
    mx_printf(b, "<td>");
    html_str(b, f[i]);
    mx_printf(b, "</td>");
  }
  mx_printf(b, "<td");
  mx_printf(b, " class=\"%s\">%s", mx_status_name(c->status),
            mx_status_name(c->status));
  if (c->reason[0]) {
    mx_printf(b, ": ");
    html_str(b, c->reason);
  }
  mx_printf(b, "</td>");
  if (c->has_accuracy)
    mx_printf(b, "<td>%s</td><td>%.3g</td><td>%.1f%%</td>",
              c->bit_exact ? "yes" : "no", c->max_abs_err, c->agreement * 100);
  else
    mx_printf(b, "<td></td><td></td><td></td>");
  if (c->has_timing)
    mx_printf(b,
              "<td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td>"
              "<td>%.0f</td><td>%.1f</td><td>%.1f</td><td>%d</td>",
              c->lat1_median_ms, c->lat1_p95_ms, c->latn_median_ms,
              c->latn_p95_ms, c->throughput_sps, c->weight_bytes / 1024.0,
              c->peak_activation_bytes / 1024.0, c->fallback_nodes);
  else
    mx_printf(b, "<td></td><td></td><td></td><td></td><td></td><td></td>"
                 "<td></td><td></td>");
  mx_printf(b, "</tr>\n");
}

int mx_write_html(const mx_report *r, const char *path, const char *chartjs,
                  bool *charts) {
  const char *cpath = chartjs ? chartjs : MX_CHARTJS_DEFAULT;
  size_t clen = 0;
  char *cjs = read_file(cpath, &clen);
  *charts = cjs != NULL;
  char *json = mx_report_json(r);
  if (!json) {
    free(cjs);
    fprintf(stderr, "tern matrix: error: out of memory\n");
    return 1;
  }
  mx_buf b = {0};
  mx_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\"><title>tern hardware matrix</title>\n");
  mx_printf(&b, "<style>%s</style>\n</head><body>\n", k_style);
  mx_printf(&b, "<h1>tern hardware matrix</h1>\n<p>Created %s on ", r->created);
  html_str(&b, r->hostname);
  mx_printf(&b, " with tern %s, %d CPU threads, in %.1f s.</p>\n",
            tern_version_string(), r->threads, r->elapsed_s);
  int ok = 0, failed = 0, q = 0, qexact = 0;
  for (int i = 0; i < r->n_cells; i++) {
    ok += r->cells[i].status == MX_OK;
    failed += r->cells[i].status == MX_FAILED;
    if (r->cells[i].quantized && r->cells[i].has_accuracy) {
      q++;
      qexact += r->cells[i].bit_exact;
    }
  }
  mx_printf(&b,
            "<p class=\"summary\"><b>%d cells: %d ok, %d failed.</b> "
            "Quantized cells bit-identical to the CPU reference: <b>%d of "
            "%d</b>.</p>\n",
            r->n_cells, ok, failed, qexact, q);
  if (!cjs) {
    mx_printf(&b, "<p class=\"warn\">Charts are missing: Chart.js was not "
                  "found at ");
    html_str(&b, cpath);
    mx_printf(&b, " (install Debian's libjs-chart.js). The tables below hold "
                  "every number.</p>\n");
  }
  for (int i = 0; i < r->n_warnings; i++) {
    mx_printf(&b, "<p class=\"warn\">Warning: ");
    html_str(&b, r->warnings[i]);
    mx_printf(&b, "</p>\n");
  }
  mx_printf(&b, "<h2>Devices</h2>\n<table><tr><th>id</th><th>name</th>"
                "<th>vendor</th><th>driver</th><th>features</th></tr>\n");
  for (int i = 0; i < r->n_devices; i++) {
    const tern_device_info *d = &r->devices[i];
    const char *f[] = {d->id, d->name, d->vendor, d->driver, d->features};
    mx_printf(&b, "<tr>");
    for (int k = 0; k < 5; k++) {
      mx_printf(&b, "<td>");
      html_str(&b, f[k]);
      mx_printf(&b, "</td>");
    }
    mx_printf(&b, "</tr>\n");
  }
  mx_printf(&b, "</table>\n");
  if (cjs) {
    mx_printf(&b, "<h2>Charts</h2>\n");
    const char *ids[] = {"chart-speed", "chart-latency", "chart-accuracy",
                         "chart-tuning"};
    /* the tuning chart only when there is something to compare */
    for (int i = 0; i < (r->n_tuning ? 4 : 3); i++)
      mx_printf(&b,
                "<div class=\"chart\"><canvas id=\"%s\" width=\"1100\" "
                "height=\"380\"></canvas></div>\n",
                ids[i]);
  }
  mx_printf(&b,
            "<h2>Cells</h2>\n<table><tr><th>model</th><th>precision</th>"
            "<th>mode</th><th>device</th><th>status</th><th>bit-exact</th>"
            "<th>max abs err</th><th>agreement</th><th>batch 1 median ms</th>"
            "<th>batch 1 p95 ms</th><th>batch %lld median ms</th><th>batch "
            "%lld p95 ms</th><th>samples/s</th><th>weights KiB</th><th>peak "
            "activations KiB</th><th>CPU fallback nodes</th></tr>\n",
            (long long)r->opt.batch, (long long)r->opt.batch);
  for (int i = 0; i < r->n_cells; i++)
    cell_row(&b, &r->cells[i]);
  mx_printf(&b, "</table>\n<h2>Tuning: tuned vs built-in default</h2>\n");
  if (!r->n_tuning)
    mx_printf(&b, "<p>No tuning results for these devices (run <code>tern "
                  "tune</code> or <code>tern matrix --tune SECONDS</code>)."
                  "</p>\n");
  else {
    mx_printf(&b, "<table><tr><th>device</th><th>kernel</th><th>shape</th>"
                  "<th>parameters</th><th>default us</th><th>tuned us</th>"
                  "<th>speed-up</th><th>from</th></tr>\n");
    for (int i = 0; i < r->n_tuning; i++) {
      const mx_tuning_row *t = &r->tuning[i];
      mx_printf(&b, "<tr><td>");
      html_str(&b, t->device);
      mx_printf(&b, "</td><td>");
      html_str(&b, t->kernel);
      mx_printf(&b, "</td><td>");
      html_str(&b, t->shape);
      mx_printf(&b, "</td><td>");
      html_str(&b, t->params);
      if (t->default_us > 0 && t->tuned_us > 0)
        mx_printf(&b, "</td><td>%.1f</td><td>%.1f</td><td>%.2fx</td>",
                  t->default_us, t->tuned_us, t->default_us / t->tuned_us);
      else
        mx_printf(&b, "</td><td>?</td><td>%.1f</td><td>?</td>", t->tuned_us);
      mx_printf(&b, "<td>%s</td></tr>\n", t->origin);
    }
    mx_printf(&b, "</table>\n");
  }
  mx_printf(&b, "<script type=\"application/json\" id=\"tern-data\">");
  script_text(&b, json, strlen(json));
  mx_printf(&b, "</script>\n");
  if (cjs) {
    mx_printf(&b, "<script>\n");
    script_text(&b, cjs, clen);
    mx_printf(&b, "\n</script>\n<script>\n%s</script>\n", k_script);
  }
  mx_printf(&b, "</body></html>\n");
  int rc = b.oom ? 1 : mx_write_text(path, b.p, b.n);
  mx_buf_free(&b);
  free(json);
  free(cjs);
  return rc;
}
