/* covirt policy: check a policy file, or make the vtpm policy of a kernel + initrd + command line. */
#include <stdio.h>
#include <string.h>
#include "covirt-builtins.h"
#include "cv-util.h"
#include "policy.h"

static int
policy_check(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("FILE… - check attestation policies");
    g_autoptr(GError) error = NULL;

    if (!cv_cli_parse(ctx, "policy check", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc < 2)
        return cv_cli_usage("policy check", "name at least one policy file");
    for (int i = 1; i < argc; i++) {
        g_autoptr(JsonNode) p = cv_attest_policy_load(argv[i], NULL, &error);
        if (!p)
            return cv_cli_fail(error);
        printf("%s: %s policy, ok\n", argv[i], cv_attest_policy_platform(p));
    }
    return 0;
}

static int
policy_vtpm(int argc, char **argv)
{
    g_autofree char *kernel = NULL, *initrd = NULL, *cmdline = NULL, *memory = NULL;
    g_auto(GStrv) ca = NULL;
    g_auto(GStrv) pcrs = NULL;
    GOptionEntry entries[] = {
        { "kernel", 0, 0, G_OPTION_ARG_FILENAME, &kernel, "the CVM's kernel (bzImage)", "FILE" },
        { "initrd", 0, 0, G_OPTION_ARG_FILENAME, &initrd, "the CVM's initrd", "FILE" },
        { "cmdline", 0, 0, G_OPTION_ARG_STRING, &cmdline, "the kernel command line of the domain", "TEXT" },
        { "memory", 0, 0, G_OPTION_ARG_STRING, &memory, "the CVM's memory (e.g. 512M)", "SIZE" },
        { "ca", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &ca, "EK CA certificate (repeat for root and issuer)", "FILE" },
        { "pcr", 0, 0, G_OPTION_ARG_STRING_ARRAY, &pcrs, "an expected PCR value (repeatable)", "N=HEX" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("--kernel FILE --initrd FILE --cmdline TEXT --memory SIZE - print the vtpm policy of a "
                                                         "CVM's boot");
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) p = NULL;
    g_autofree char *text = NULL;
    guint64 bytes = 0;
    JsonObject *o;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "policy vtpm", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (!kernel || !initrd || !memory)
        return cv_cli_usage("policy vtpm", "--kernel, --initrd and --memory are required");
    if (!cv_parse_size(memory, &bytes, &error) ||
        !(p = cv_attest_vtpm_policy_new(kernel, initrd, cmdline ? cmdline : "", bytes, &error)))
        return cv_cli_fail(error);
    o = json_node_get_object(p);
    if (ca) {
        JsonArray *a = json_array_new();
        for (char **c = ca; *c; c++) {
            g_autofree char *abs = g_canonicalize_filename(*c, NULL);
            json_array_add_string_element(a, abs);
        }
        json_object_set_array_member(o, "ca_file", a);
    }
    if (pcrs) {
        JsonObject *m = json_object_new();
        for (char **e = pcrs; *e; e++) {
            g_auto(GStrv) kv = g_strsplit(*e, "=", 2);
            guint64 n;
            g_autoptr(GBytes) value = NULL;
            if (!kv[0] || !kv[1] || !cv_parse_uint(kv[0], 0, 23, &n, &error) || !(value = cv_hex_decode(kv[1], &error)) ||
                g_bytes_get_size(value) != 32) {
                if (!error)
                    g_set_error(&error, CV_ERROR, CV_ERROR_INVALID, "--pcr %s: expected N=64 hex digits", *e);
                json_object_unref(m);
                return cv_cli_fail(error);
            }
            json_object_set_string_member(m, kv[0], kv[1]);
        }
        json_object_set_object_member(o, "pcrs", m);
    }
    text = cv_json_to_string(p, TRUE);
    printf("%s\n", text);
    return 0;
}

int
cv_cli_policy(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "check", "check attestation policies", policy_check },
        { "vtpm", "print the vtpm policy of a CVM's boot", policy_vtpm },
        { "sev-snp", "print the SEV-SNP policy of a guest's launch", cv_cli_policy_snp },
        { "tdx", "print the TDX policy of a TD's launch", cv_cli_policy_tdx },
        { NULL, NULL, NULL },
    };

    return cv_cli_dispatch("policy", subs,
                           "Usage: covirt policy check FILE…\n"
                           "       covirt policy vtpm --kernel FILE --initrd FILE --cmdline TEXT --memory SIZE [--ca FILE]… [--pcr N=HEX]…\n"
                           "       covirt policy sev-snp (--measurement HEX | --ovmf PATH --vcpus N --vcpu-type TYPE …) [--host-data HEX]\n"
                           "       covirt policy tdx (--mrtd HEX | --ovmf PATH) [--rtmr0..3 HEX] [--mrconfigid HEX] [--mrowner HEX]\n\n"
                           "Checks attestation policies (docs/policy.md), or prints the vtpm policy that a CVM booted\n"
                           "with that kernel, initrd, command line and memory must meet, or the SEV-SNP policy of a\n"
                           "launch (the options of 'covirt measure sev-snp', docs/measure.md), or the TDX policy of a\n"
                           "TDVF's MRTD.\n",
                           argc, argv);
}
