/* cli-devices.c: `hark devices`, the CPU and CUDA devices this machine offers. */
#include "app-cli.h"
#include "kern-cpu.h"
#include "kern-cuda.h"

static char *
version_string(int v, int div_major, int div_minor)
{
  return g_strdup_printf("%d.%d", v / div_major, v % div_major / div_minor);
}

static void
print_text(const kern_cpu_info *cpu, const char *features, const kern_cuda_report *cuda)
{
  printf("CPU: %s\n", cpu->model);
  printf("  cores: %d physical, %d logical (%d usable by this process)\n", cpu->physical_cores,
         cpu->logical_cores, cpu->usable_cores);
  printf("  SIMD: %s\n", features[0] ? features : "none detected");
  if (cpu->memory_total)
    printf("  memory: %.1f GiB\n", (double)cpu->memory_total / (1024.0 * 1024.0 * 1024.0));

  if (cuda->n_devices == 0) {
    printf("CUDA: no CUDA device: %s\n", cuda->why);
    return;
  }
  char *drv = version_string(cuda->driver_version, 1000, 10);
  char *rt = version_string(cuda->runtime_version, 1000, 10);
  printf("CUDA: driver %s, runtime %s, cuBLAS %d.%d.%d, kernels for sm_%s\n", drv, rt,
         cuda->cublas_version / 10000, cuda->cublas_version / 100 % 100, cuda->cublas_version % 100, cuda->archs);
  g_free(drv);
  g_free(rt);
  for (int i = 0; i < cuda->n_devices; i++) {
    const kern_cuda_device *d = &cuda->devices[i];
    printf("  cuda:%d %s, compute capability %d.%d, %d SMs, VRAM %.1f GiB free of %.1f GiB%s%s\n", d->index,
           d->name, d->cc_major, d->cc_minor, d->sm_count, (double)d->vram_free / (1 << 30),
           (double)d->vram_total / (1 << 30), d->usable ? "" : ": not usable: ", d->usable ? "" : d->status);
  }
}

static void
print_json(const kern_cpu_info *cpu, const char *features, const kern_cuda_report *cuda)
{
  GString *j = g_string_new("{\"cpu\":{\"model\":");
  app_cli_json_string(j, cpu->model);
  g_string_append_printf(j, ",\"physical_cores\":%d,\"logical_cores\":%d,\"usable_cores\":%d,\"features\":",
                         cpu->physical_cores, cpu->logical_cores, cpu->usable_cores);
  app_cli_json_string(j, features);
  g_string_append_printf(j, ",\"memory_bytes\":%" G_GUINT64_FORMAT "},", cpu->memory_total);
  g_string_append_printf(j, "\"cuda\":{\"built\":%s,\"module_loaded\":%s,\"driver_version\":%d,"
                            "\"runtime_version\":%d,\"cublas_version\":%d,\"archs\":",
                         cuda->built_with_cuda ? "true" : "false", cuda->module_loaded ? "true" : "false",
                         cuda->driver_version, cuda->runtime_version, cuda->cublas_version);
  app_cli_json_string(j, cuda->archs);
  g_string_append(j, ",\"devices\":[");
  for (int i = 0; i < cuda->n_devices; i++) {
    const kern_cuda_device *d = &cuda->devices[i];
    g_string_append_printf(j, "%s{\"index\":%d,\"name\":", i ? "," : "", d->index);
    app_cli_json_string(j, d->name);
    g_string_append_printf(j, ",\"compute_capability\":\"%d.%d\",\"sm_count\":%d,\"vram_free\":%zu,"
                              "\"vram_total\":%zu,\"usable\":%s,\"status\":",
                           d->cc_major, d->cc_minor, d->sm_count, d->vram_free, d->vram_total,
                           d->usable ? "true" : "false");
    app_cli_json_string(j, d->status);
    g_string_append_c(j, '}');
  }
  g_string_append(j, "],\"why_none\":");
  app_cli_json_string(j, cuda->n_devices ? "" : cuda->why);
  g_string_append(j, "}}\n");
  fputs(j->str, stdout);
  g_string_free(j, TRUE);
}

int
app_cli_devices(int argc, char **argv)
{
  const app_cli_command *cmd = app_cli_find("devices");

  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print one JSON object instead of text", NULL },
    { NULL },
  };
  int rc = app_cli_parse_options(cmd, entries, NULL, &argc, &argv);
  if (rc)
    return rc;
  if (argc > 1) {
    app_cli_error(cmd, "unexpected argument '%s'", argv[1]);
    return APP_EXIT_USAGE;
  }

  kern_cpu_info cpu;
  kern_cpu_info_get(&cpu);
  char features[256];
  kern_cpu_features_string(cpu.features, features, sizeof features);
  kern_cuda_report *cuda = g_new0(kern_cuda_report, 1);
  kern_cuda_probe(cuda);
  if (json)
    print_json(&cpu, features, cuda);
  else
    print_text(&cpu, features, cuda);
  g_free(cuda);
  return APP_EXIT_OK;
}
