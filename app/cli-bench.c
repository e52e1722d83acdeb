/* cli-bench.c: `hark bench ops`: time the compute ops on every backend here.
 *
 * For each backend (cpu, cuda when present; cpu-ref with --ref) and each op at
 * model-sized shapes: median time, GB/s (bytes the op must read and write)
 * and GFLOP/s, plus the machine's measured copy bandwidth (host: threaded
 * memcpy; GPU: device-to-device copy) and, for memory-bound ops, the ratio of
 * their GB/s to it. Inputs are random (never zeros). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app-cli.h"
#include "kern-backend.h"
#include "kern-bench.h"
#include "kern-cpu.h"


typedef struct {
  const char *backend;
  const char *op;
  kern_bench_result r;
} bench_row;

int
app_cli_bench(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("bench");
  gboolean json = FALSE, with_ref = FALSE;
  double min_time = 0.3;
  char *only = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON instead of a table", NULL },
    { "ref", 0, 0, G_OPTION_ARG_NONE, &with_ref, "Also time the reference backend (slow)", NULL },
    { "min-time", 0, 0, G_OPTION_ARG_DOUBLE, &min_time, "Seconds to spend per case (default 0.3)", "S" },
    { "filter", 0, 0, G_OPTION_ARG_STRING, &only, "Only cases whose name contains TEXT", "TEXT" },
    { NULL },
  };
  int rc = app_cli_parse_options(cmd, entries, NULL, &argc, &argv);
  if (rc)
    return rc;
  if (strcmp(argv[1], "ops") != 0 || argc > 2) {
    app_cli_error(cmd, "'%s': only 'hark bench ops' is in this build (whisper and llm come with their engines)",
                  argv[1]);
    g_free(only);
    return APP_EXIT_USAGE;
  }

  kern_cpu_info cpu;
  kern_cpu_info_get(&cpu);
  double host_bw = kern_bench_host_copy_bandwidth((size_t)512 << 20, cpu.physical_cores);
  const char *names[3] = { "cpu", "cuda", "cpu-ref" };
  int n_backends = with_ref ? 3 : 2;
  GArray *rows = g_array_new(FALSE, TRUE, sizeof(bench_row));
  GString *backends_json = g_string_new("");
  if (!json)
    printf("host memory copy bandwidth: %.1f GB/s (%d threads)\n", host_bw, cpu.physical_cores);

  for (int bi = 0; bi < n_backends; bi++) {
    char *err = NULL;
    kern_backend_params params = kern_backend_default_params();
    kern_backend_t be = kern_backend_new(names[bi], &params, &err);
    if (!be) {
      if (!json)
        printf("\n%s: not available: %s\n", names[bi], err);
      g_string_append_printf(backends_json, "%s{\"name\":\"%s\",\"available\":false}", backends_json->len ? "," : "",
                             names[bi]);
      free(err);
      continue;
    }
    int is_gpu = !kern_backend_is_host(be);
    double bw = is_gpu ? kern_bench_device_copy_bandwidth(be) : host_bw;
    g_string_append_printf(backends_json, "%s{\"name\":\"%s\",\"available\":true,\"copy_gbs\":%.2f}",
                           backends_json->len ? "," : "", names[bi], bw);
    if (!json) {
      printf("\n%s (copy bandwidth %.1f GB/s)\n", names[bi], bw);
      printf("  %-48s %10s %9s %9s %7s\n", "op", "ms", "GB/s", "GFLOP/s", "of copy");
    }
    for (int ci = 0; ci < kern_bench_n_cases(); ci++) {
      const char *name = kern_bench_case_name(ci);
      int flags = kern_bench_case_flags(ci);
      if (((flags & KERN_BENCH_GPU_ONLY) && !is_gpu) || (only && !strstr(name, only)))
        continue;
      if (bi == 2 && (flags & KERN_BENCH_HEAVY))
        continue; /* the reference would take minutes */
      bench_row row = { .backend = names[bi], .op = name };
      kern_bench_case_run(be, ci, min_time, bw, &row.r);
      kern_bench_result *r = &row.r;
      if (!json) {
        if (r->error)
          printf("  %-48s %s\n", name, r->error);
        else if (r->of_copy < 0)
          printf("  %-48s %10.3f %9.1f %9.1f %7s\n", name, r->ms, r->gbs, r->gflops, "");
        else
          printf("  %-48s %10.3f %9.1f %9.1f %6.0f%%\n", name, r->ms, r->gbs, r->gflops, 100 * r->of_copy);
        fflush(stdout);
      }
      r->error = r->error ? g_strdup(r->error) : NULL;
      g_array_append_val(rows, row);
    }
    kern_backend_free(be);
  }

  if (json) {
    char features[256];
    kern_cpu_features_string(cpu.features, features, sizeof features);
    printf("{\"cpu\":\"%s\",\"cpu_features\":\"%s\",\"host_copy_gbs\":%.2f,\"backends\":[%s],\"results\":[", cpu.model,
           features, host_bw, backends_json->str);
    for (guint i = 0; i < rows->len; i++) {
      bench_row *row = &g_array_index(rows, bench_row, i);
      kern_bench_result *r = &row->r;
      printf("%s{\"backend\":\"%s\",\"op\":\"%s\"", i ? "," : "", row->backend, row->op);
      if (r->error) {
        GString *e = g_string_new(NULL);
        app_cli_json_string(e, r->error);
        printf(",\"error\":%s}", e->str);
        g_string_free(e, TRUE);
      } else {
        char ratio[32] = "null";
        if (r->of_copy >= 0)
          snprintf(ratio, sizeof ratio, "%.3f", r->of_copy);
        printf(",\"ms\":%.4f,\"gbs\":%.2f,\"gflops\":%.2f,\"of_copy\":%s}", r->ms, r->gbs, r->gflops, ratio);
      }
    }
    printf("]}\n");
  }
  for (guint i = 0; i < rows->len; i++)
    g_free((char *)g_array_index(rows, bench_row, i).r.error);
  g_array_free(rows, TRUE);
  g_string_free(backends_json, TRUE);
  g_free(only);
  return APP_EXIT_OK;
}
