#include <stdio.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include "covirt-builtins.h"
#include "cv-util.h"
#include "domain-render.h"

#define MAX_SPEC_BYTES (1 << 20)

static int
domain_render(int argc, char **argv)
{
    g_autofree char *version_text = NULL;
    g_autoptr(GOptionContext) ctx = g_option_context_new("SPEC.json - print the libvirt domain XML of a CVM spec");
    GOptionEntry entries[] = {
        { "libvirt-version", 0, 0, G_OPTION_ARG_STRING, &version_text,
          "render for this libvirt version (default: the installed one)", "X.Y.Z" },
        { NULL },
    };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) data = NULL;
    g_autoptr(CvDefaults) defaults = NULL;
    g_autoptr(CvCvmSpec) spec = NULL;
    g_autofree char *xml = NULL;
    CvRenderOptions opts = { 0 };

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Defaults come from the MANAGER_* environment (docs/configuration.md).\n"
        "SPEC.json may be '-' for standard input.");
    if (!cv_cli_parse(ctx, "domain render", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc != 2)
        return cv_cli_usage("domain render", "exactly one SPEC.json expected");
    if (version_text) {
        if (!cv_libvirt_version_parse(version_text, &opts.libvirt_version, &error))
            return cv_cli_fail(error);
    } else if (virGetVersion(&opts.libvirt_version, NULL, NULL) < 0) {
        g_set_error(&error, CV_ERROR, CV_ERROR_INTERNAL, "cannot read libvirt's version");
        return cv_cli_fail(error);
    }

    if (strcmp(argv[1], "-") == 0) {
        g_autoptr(GByteArray) buf = g_byte_array_new();
        guint8 chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
            if (buf->len + n > MAX_SPEC_BYTES) {
                g_set_error(&error, CV_ERROR, CV_ERROR_TOO_LARGE, "spec: larger than 1 MiB");
                return cv_cli_fail(error);
            }
            g_byte_array_append(buf, chunk, n);
        }
        data = g_byte_array_free_to_bytes(g_steal_pointer(&buf));
    } else if (!(data = cv_read_file(argv[1], MAX_SPEC_BYTES, &error))) {
        return cv_cli_fail(error);
    }

    if (!(defaults = cv_defaults_new(NULL, NULL, &error)))
        return cv_cli_fail(error);
    spec = cv_cvm_spec_from_data(g_bytes_get_data(data, NULL), g_bytes_get_size(data), defaults, &error);
    if (!spec)
        return cv_cli_fail(error);
    if (!(xml = cv_domain_render(spec, &opts, &error)))
        return cv_cli_fail(error);
    fputs(xml, stdout);
    if (!g_str_has_suffix(xml, "\n"))
        fputc('\n', stdout);
    return 0;
}

int
cv_cli_domain(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "render", "print the libvirt domain XML of a CVM spec", domain_render },
        { NULL, NULL, NULL },
    };

    return cv_cli_dispatch("domain", subs, "Usage: covirt domain render SPEC.json [--libvirt-version X.Y.Z]\n", argc,
                           argv);
}
