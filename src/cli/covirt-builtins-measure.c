/* covirt measure: the launch measurement a CVM's hardware will report, computed from the files it boots.
 * `sev-snp` takes sev-snp-measure's option names (and its --mode), so that a user can switch tools. */
#include <stdio.h>
#include <string.h>
#include "covirt-builtins.h"
#include "cv-json.h"
#include "cv-util.h"
#include "igvm.h"
#include "measure-file.h"
#include "measure-policy.h"
#include "snp-measure.h"
#include "tdx-mrtd.h"

typedef struct {
    char *mode, *vcpu_type, *vcpu_sig, *vmm_type, *ovmf, *kernel, *initrd, *append, *guest_features;
    char *output_format, *snp_ovmf_hash, *svsm, *vars_size, *vars_file, *igvm;
    int vcpus, vcpu_family, vcpu_model, vcpu_stepping;
    gboolean json;
    const char *command; /* "measure sev-snp" or "policy sev-snp", for usage messages */
} SnpOptions;

static void
snp_options_clear(SnpOptions *o)
{
    char **strings[] = { &o->mode, &o->vcpu_type, &o->vcpu_sig, &o->vmm_type, &o->ovmf, &o->kernel, &o->initrd,
                         &o->append, &o->guest_features, &o->output_format, &o->snp_ovmf_hash, &o->svsm,
                         &o->vars_size, &o->vars_file, &o->igvm };

    for (guint i = 0; i < G_N_ELEMENTS(strings); i++)
        g_clear_pointer(strings[i], g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SnpOptions, snp_options_clear)

/* The vCPU signature from one of the three ways of naming it; 0 with a usage message otherwise */
static gboolean
snp_vcpu_sig(const SnpOptions *o, guint32 *sig)
{
    guint64 v = 0;

    if (o->vcpu_family >= 0 || o->vcpu_model >= 0 || o->vcpu_stepping >= 0) {
        if (o->vcpu_family < 0 || o->vcpu_model < 0 || o->vcpu_stepping < 0 || o->vcpu_family > 0x10e ||
            o->vcpu_model > 0xff || o->vcpu_stepping > 0xf) {
            cv_cli_usage(o->command, "--vcpu-family (up to 270), --vcpu-model (up to 255) and --vcpu-stepping "
                         "(up to 15) go together");
            return FALSE;
        }
        *sig = cv_snp_cpu_sig(o->vcpu_family, o->vcpu_model, o->vcpu_stepping);
        return TRUE;
    }
    if (o->vcpu_sig) {
        if (!cv_parse_hex_or_uint(o->vcpu_sig, &v, NULL) || v > G_MAXUINT32) {
            cv_cli_usage(o->command, "--vcpu-sig '%s' is not a 32-bit number", o->vcpu_sig);
            return FALSE;
        }
        *sig = (guint32)v;
        return TRUE;
    }
    if (o->vcpu_type) {
        g_autofree char *names = cv_snp_vcpu_type_names();

        if (cv_snp_vcpu_sig_from_type(o->vcpu_type, sig))
            return TRUE;
        cv_cli_usage(o->command, "unknown --vcpu-type '%s' (%s)", o->vcpu_type, names);
        return FALSE;
    }
    cv_cli_usage(o->command, "give --vcpu-type, --vcpu-sig or --vcpu-family/--vcpu-model/--vcpu-stepping");
    return FALSE;
}

/* The numbers and names of the options into inputs; 0, or the exit code after a message */
static int
snp_inputs(SnpOptions *o, CvSnpInputs *in, guint8 ovmf_hash[CV_SNP_DIGEST_SIZE])
{
    g_autoptr(GBytes) hash = NULL;
    g_autoptr(GError) error = NULL;

    if (o->vcpus <= 0)
        return cv_cli_usage(o->command, "--vcpus N is required (1 or more)");
    in->vcpus = o->vcpus;
    if (!cv_snp_vmm_from_string(o->vmm_type ? o->vmm_type : "QEMU", &in->vmm))
        return cv_cli_usage(o->command, "unknown --vmm-type '%s' (QEMU, ec2, gce)", o->vmm_type);
    if (!snp_vcpu_sig(o, &in->vcpu_sig))
        return CV_CLI_EXIT_USAGE;
    in->guest_features = 0x1;
    if (o->guest_features && !cv_parse_hex_or_uint(o->guest_features, &in->guest_features, NULL))
        return cv_cli_usage(o->command, "--guest-features '%s' is not a number", o->guest_features);
    if (o->snp_ovmf_hash) {
        if (!(hash = cv_hex_decode(o->snp_ovmf_hash, NULL)) || g_bytes_get_size(hash) != CV_SNP_DIGEST_SIZE)
            return cv_cli_usage(o->command, "--snp-ovmf-hash: expected 96 hex digits");
        memcpy(ovmf_hash, g_bytes_get_data(hash, NULL), CV_SNP_DIGEST_SIZE);
        in->ovmf_hash = ovmf_hash;
    }
    if ((o->initrd || o->append) && !o->kernel)
        return cv_cli_usage(o->command, "--initrd and --append need --kernel");
    in->ovmf = o->ovmf;
    in->kernel = o->kernel;
    in->initrd = o->initrd;
    in->append = o->append;
    in->svsm = o->svsm;
    if (o->svsm && !o->vars_size && !o->vars_file)
        return cv_cli_usage(o->command, "--svsm needs --vars-size or --vars-file");
    if (o->vars_size && o->vars_file)
        return cv_cli_usage(o->command, "--vars-size and --vars-file exclude each other");
    if (o->vars_size && !cv_parse_size(o->vars_size, &in->vars_size, NULL))
        return cv_cli_usage(o->command, "--vars-size '%s' is not a size", o->vars_size);
    if (o->vars_file && !cv_measure_file_size(o->vars_file, &in->vars_size, &error))
        return cv_cli_fail(error);
    return 0;
}

/* sev-snp-measure's --mode: snp, snp:svsm (with --svsm), snp:ovmf-hash; SEV and SEV-ES are not SNP */
static gboolean
snp_mode(const SnpOptions *o, gboolean *ovmf_hash_only)
{
    *ovmf_hash_only = g_strcmp0(o->mode, "snp:ovmf-hash") == 0;
    if (o->mode && !*ovmf_hash_only && strcmp(o->mode, "snp") != 0 && strcmp(o->mode, "snp:svsm") != 0) {
        cv_cli_usage(o->command, "--mode '%s': only snp, snp:svsm and snp:ovmf-hash (SEV-SNP)", o->mode);
        return FALSE;
    }
    if (g_strcmp0(o->mode, "snp:svsm") == 0 && !o->svsm) {
        cv_cli_usage(o->command, "--mode snp:svsm needs --svsm");
        return FALSE;
    }
    return TRUE;
}

static void
snp_print_json(const SnpOptions *o, const CvSnpInputs *in, const char *measurement)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL, *sig = g_strdup_printf("0x%08x", in->vcpu_sig);
    /* SVSM mode starts its VMSAs with SNPActive alone, whatever was asked */
    g_autofree char *features = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", in->svsm ? 1 : in->guest_features);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, "sev-snp");
    json_builder_set_member_name(b, "measurement");
    json_builder_add_string_value(b, measurement);
    json_builder_set_member_name(b, "inputs");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "mode");
    json_builder_add_string_value(b, in->svsm ? "snp:svsm" : "snp");
    json_builder_set_member_name(b, "vcpus");
    json_builder_add_int_value(b, in->vcpus);
    json_builder_set_member_name(b, "vcpu_sig");
    json_builder_add_string_value(b, sig);
    json_builder_set_member_name(b, "vmm_type");
    json_builder_add_string_value(b, cv_snp_vmm_to_string(in->vmm));
    json_builder_set_member_name(b, "guest_features");
    json_builder_add_string_value(b, features);
    {
        const char *names[] = { "ovmf", "snp_ovmf_hash", "kernel", "initrd", "append", "svsm" };
        const char *values[] = { o->ovmf, o->snp_ovmf_hash, o->kernel, o->initrd, o->append, o->svsm };

        for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
            if (!values[i])
                continue;
            json_builder_set_member_name(b, names[i]);
            json_builder_add_string_value(b, values[i]);
        }
    }
    if (in->svsm) {
        json_builder_set_member_name(b, "vars_size");
        json_builder_add_int_value(b, (gint64)in->vars_size);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = cv_json_to_string(root, TRUE);
    printf("%s\n", text);
}

static void
snp_option_entries(GOptionContext *ctx, SnpOptions *o)
{
    GOptionEntry entries[] = {
        { "mode", 0, 0, G_OPTION_ARG_STRING, &o->mode, "snp (default), snp:svsm or snp:ovmf-hash", "MODE" },
        { "vcpus", 0, 0, G_OPTION_ARG_INT, &o->vcpus, "Number of guest vCPUs", "N" },
        { "vcpu-type", 0, 0, G_OPTION_ARG_STRING, &o->vcpu_type, "QEMU CPU model (EPYC-v4, EPYC-Milan, …)", "CPUTYPE" },
        { "vcpu-sig", 0, 0, G_OPTION_ARG_STRING, &o->vcpu_sig, "Guest vCPU signature (CPUID 1 EAX)", "VALUE" },
        { "vcpu-family", 0, 0, G_OPTION_ARG_INT, &o->vcpu_family, "Guest vCPU family", "FAMILY" },
        { "vcpu-model", 0, 0, G_OPTION_ARG_INT, &o->vcpu_model, "Guest vCPU model", "MODEL" },
        { "vcpu-stepping", 0, 0, G_OPTION_ARG_INT, &o->vcpu_stepping, "Guest vCPU stepping", "STEPPING" },
        { "vmm-type", 0, 0, G_OPTION_ARG_STRING, &o->vmm_type, "QEMU (default), ec2 or gce", "VMMTYPE" },
        { "ovmf", 0, 0, G_OPTION_ARG_FILENAME, &o->ovmf, "OVMF image (required)", "PATH" },
        { "kernel", 0, 0, G_OPTION_ARG_FILENAME, &o->kernel, "Kernel booted directly (measured by hash)", "PATH" },
        { "initrd", 0, 0, G_OPTION_ARG_FILENAME, &o->initrd, "Initrd (with --kernel)", "PATH" },
        { "append", 0, 0, G_OPTION_ARG_STRING, &o->append, "Kernel command line (with --kernel)", "CMDLINE" },
        { "guest-features", 0, 0, G_OPTION_ARG_STRING, &o->guest_features, "SEV_FEATURES of the VMSAs (0x1)",
          "VALUE" },
        { "snp-ovmf-hash", 0, 0, G_OPTION_ARG_STRING, &o->snp_ovmf_hash, "Precalculated OVMF hash (hex)", "HASH" },
        { "svsm", 0, 0, G_OPTION_ARG_FILENAME, &o->svsm, "COCONUT-SVSM image (snp:svsm mode)", "PATH" },
        { "vars-size", 0, 0, G_OPTION_ARG_STRING, &o->vars_size, "Size of the OVMF variable store", "SIZE" },
        { "vars-file", 0, 0, G_OPTION_ARG_FILENAME, &o->vars_file, "The OVMF variable store (for its size)", "PATH" },
        { "igvm", 0, 0, G_OPTION_ARG_FILENAME, &o->igvm, "IGVM file QEMU loads (instead of --ovmf and the rest)",
          "PATH" },
        { NULL },
    };
    GOptionEntry output[] = {
        { "output-format", 0, 0, G_OPTION_ARG_STRING, &o->output_format, "hex (default) or base64", "FORMAT" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &o->json, "Print the measurement with its inputs as JSON", NULL },
        { NULL },
    };

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (g_str_has_prefix(o->command, "measure"))
        g_option_context_add_main_entries(ctx, output, NULL);
}

/* --igvm: the file holds firmware, VMSA and all; the options that describe them otherwise are refused rather
 * than silently ignored. 0, or the exit code after a message. */
static int
snp_igvm_digest(const SnpOptions *o, guint8 digest[CV_SNP_DIGEST_SIZE])
{
    const char *others[] = { o->ovmf, o->kernel, o->initrd, o->append, o->svsm, o->snp_ovmf_hash, o->vars_size,
                             o->vars_file, o->guest_features };
    g_autoptr(GError) error = NULL;

    for (guint i = 0; i < G_N_ELEMENTS(others); i++) {
        if (others[i])
            return cv_cli_usage(o->command, "--igvm carries the firmware and the VMSA: give it alone (with "
                                "--vcpus at most)");
    }
    if (o->mode && strcmp(o->mode, "snp") != 0)
        return cv_cli_usage(o->command, "--igvm is measured in --mode snp only");
    if (!cv_igvm_snp_measure_file(o->igvm, digest, &error))
        return cv_cli_fail(error);
    return 0;
}

/* {"platform", key: value, "inputs": {name: value…}} for --json; `inputs` is NULL-terminated pairs */
static void
print_measure_json(const char *platform, const char *key, const char *value, const char *const *inputs)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, platform);
    json_builder_set_member_name(b, key);
    json_builder_add_string_value(b, value);
    json_builder_set_member_name(b, "inputs");
    json_builder_begin_object(b);
    for (guint i = 0; inputs[i]; i += 2) {
        json_builder_set_member_name(b, inputs[i]);
        json_builder_add_string_value(b, inputs[i + 1]);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    text = cv_json_to_string(root, TRUE);
    printf("%s\n", text);
}

static int
measure_snp(int argc, char **argv)
{
    g_auto(SnpOptions) o = { .vcpu_family = -1, .vcpu_model = -1, .vcpu_stepping = -1,
                             .command = "measure sev-snp" };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- the SEV-SNP launch digest of a guest");
    g_autoptr(GError) error = NULL;
    guint8 ovmf_hash[CV_SNP_DIGEST_SIZE], digest[CV_SNP_DIGEST_SIZE];
    g_autofree char *text = NULL;
    CvSnpInputs in = { 0 };
    gboolean hash_only = FALSE, base64;
    int rc;

    snp_option_entries(ctx, &o);
    if (!cv_cli_parse(ctx, o.command, &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc > 1)
        return cv_cli_usage(o.command, "unexpected argument '%s'", argv[1]);
    if (o.output_format && strcmp(o.output_format, "hex") != 0 && strcmp(o.output_format, "base64") != 0)
        return cv_cli_usage(o.command, "--output-format must be hex or base64");
    base64 = g_strcmp0(o.output_format, "base64") == 0;
    if (o.igvm) {
        if ((rc = snp_igvm_digest(&o, digest)) != 0)
            return rc;
        text = base64 ? g_base64_encode(digest, sizeof(digest)) : cv_hex_encode(digest, sizeof(digest));
        if (o.json)
            print_measure_json("sev-snp", "measurement", text,
                               (const char *const[]){ "mode", "snp", "igvm", o.igvm, NULL });
        else
            printf("%s\n", text);
        return 0;
    }
    if (!o.ovmf)
        return cv_cli_usage(o.command, "--ovmf PATH (or --igvm PATH) is required");
    if (!snp_mode(&o, &hash_only))
        return CV_CLI_EXIT_USAGE;
    if (hash_only) {
        if (!cv_snp_ovmf_hash(o.ovmf, digest, &error))
            return cv_cli_fail(error);
    } else if ((rc = snp_inputs(&o, &in, ovmf_hash)) != 0) {
        return rc;
    } else if (!cv_snp_measure(&in, digest, &error)) {
        return cv_cli_fail(error);
    }
    text = base64 ? g_base64_encode(digest, sizeof(digest)) : cv_hex_encode(digest, sizeof(digest));
    if (o.json && !hash_only)
        snp_print_json(&o, &in, text);
    else
        printf("%s\n", text);
    return 0;
}

/* "bootloader=3,tee=0,snp=20,microcode=209[,fmc=N]" → the policy's minimum_tcb object */
static JsonNode *
minimum_tcb(const char *text, const char *command)
{
    static const char *const names[] = { "bootloader", "tee", "snp", "microcode", "fmc" };
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    for (char **p = parts; *p; p++) {
        g_auto(GStrv) kv = g_strsplit(*p, "=", 2);
        guint64 v = 0;
        gboolean known = FALSE;

        for (guint i = 0; kv[0] && i < G_N_ELEMENTS(names); i++)
            known |= strcmp(kv[0], names[i]) == 0;
        if (!known || !kv[1] || !cv_parse_uint(kv[1], 0, 255, &v, NULL)) {
            cv_cli_usage(command, "--minimum-tcb: '%s' is not NAME=0..255 (bootloader, tee, snp, microcode, fmc)",
                         *p);
            return NULL;
        }
        json_builder_set_member_name(b, kv[0]);
        json_builder_add_int_value(b, (gint64)v);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

typedef struct {
    char *measurement, *host_data, *tcb;
    char **ca;
    int vmpl;
} SnpPolicyOptions;

static void
snp_policy_options_clear(SnpPolicyOptions *p)
{
    g_free(p->measurement);
    g_free(p->host_data);
    g_free(p->tcb);
    g_strfreev(p->ca);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SnpPolicyOptions, snp_policy_options_clear)

/* The policy's members beyond the measurement; 0 or the exit code after a message */
static int
snp_policy_members(JsonObject *policy, const SnpPolicyOptions *p, const char *command)
{
    if (p->tcb) {
        JsonNode *tcb = minimum_tcb(p->tcb, command);

        if (!tcb)
            return CV_CLI_EXIT_USAGE;
        json_object_set_member(policy, "minimum_tcb", tcb);
    }
    if (p->vmpl >= 0) {
        if (p->vmpl > 3)
            return cv_cli_usage(command, "--vmpl must be 0 to 3");
        json_object_set_int_member(policy, "vmpl", p->vmpl);
    }
    if (p->ca) {
        JsonArray *a = json_array_new();

        for (char **c = p->ca; *c; c++) {
            g_autofree char *abs = g_canonicalize_filename(*c, NULL);

            json_array_add_string_element(a, abs);
        }
        json_object_set_array_member(policy, "ca_file", a);
    }
    return 0;
}

/* The digest a policy expects: given, or measured from the options; 0 or the exit code */
static int
snp_policy_digest(SnpOptions *o, const SnpPolicyOptions *p, guint8 digest[CV_SNP_DIGEST_SIZE])
{
    g_autoptr(GBytes) given = NULL;
    g_autoptr(GError) error = NULL;
    guint8 ovmf_hash[CV_SNP_DIGEST_SIZE];
    CvSnpInputs in = { 0 };
    gboolean hash_only = FALSE;
    int rc;

    if (p->measurement) {
        if (o->ovmf || o->igvm)
            return cv_cli_usage(o->command, "give --measurement or --ovmf/--igvm and its options, not both");
        if (!(given = cv_hex_decode(p->measurement, NULL)) || g_bytes_get_size(given) != CV_SNP_DIGEST_SIZE)
            return cv_cli_usage(o->command, "--measurement: expected 96 hex digits");
        memcpy(digest, g_bytes_get_data(given, NULL), CV_SNP_DIGEST_SIZE);
        return 0;
    }
    if (o->igvm)
        return snp_igvm_digest(o, digest);
    if (!o->ovmf)
        return cv_cli_usage(o->command, "give --measurement, or --ovmf and the options of 'covirt measure sev-snp'");
    if (!snp_mode(o, &hash_only) || hash_only)
        return hash_only ? cv_cli_usage(o->command, "--mode snp:ovmf-hash makes no policy") : CV_CLI_EXIT_USAGE;
    if ((rc = snp_inputs(o, &in, ovmf_hash)) != 0)
        return rc;
    if (!cv_snp_measure(&in, digest, &error))
        return cv_cli_fail(error);
    return 0;
}

int
cv_cli_policy_snp(int argc, char **argv)
{
    g_auto(SnpOptions) o = { .vcpu_family = -1, .vcpu_model = -1, .vcpu_stepping = -1,
                             .command = "policy sev-snp" };
    g_auto(SnpPolicyOptions) p = { .vmpl = -1 };
    GOptionEntry entries[] = {
        { "measurement", 0, 0, G_OPTION_ARG_STRING, &p.measurement, "The launch digest, given (hex)", "HEX" },
        { "host-data", 0, 0, G_OPTION_ARG_STRING, &p.host_data, "Expected HOST_DATA (64 hex digits)", "HEX" },
        { "minimum-tcb", 0, 0, G_OPTION_ARG_STRING, &p.tcb, "bootloader=N,tee=N,snp=N,microcode=N[,fmc=N]", "LIST" },
        { "vmpl", 0, 0, G_OPTION_ARG_INT, &p.vmpl, "The VMPL the report must come from (0-3)", "N" },
        { "ca", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &p.ca, "AMD ARK/ASK certificates (PEM, repeatable)", "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- print the SEV-SNP policy of a guest's launch");
    g_autoptr(GBytes) host_data = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autofree char *text = NULL;
    guint8 digest[CV_SNP_DIGEST_SIZE];
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    snp_option_entries(ctx, &o);
    if (!cv_cli_parse(ctx, o.command, &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc > 1)
        return cv_cli_usage(o.command, "unexpected argument '%s'", argv[1]);
    if (p.host_data && (!(host_data = cv_hex_decode(p.host_data, NULL)) || g_bytes_get_size(host_data) != 32))
        return cv_cli_usage(o.command, "--host-data: expected 64 hex digits");
    if ((rc = snp_policy_digest(&o, &p, digest)) != 0)
        return rc;
    policy = cv_measure_snp_policy(digest, host_data, "covirt policy sev-snp");
    if ((rc = snp_policy_members(json_node_get_object(policy), &p, o.command)) != 0)
        return rc;
    text = cv_json_to_string(policy, TRUE);
    printf("%s\n", text);
    return 0;
}

/* covirt measure tdx: MRTD of a TDVF image */
static int
measure_tdx(int argc, char **argv)
{
    g_autofree char *ovmf = NULL, *order = NULL, *format = NULL;
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "ovmf", 0, 0, G_OPTION_ARG_FILENAME, &ovmf, "TDVF image (OVMF built with TDX support; required)", "PATH" },
        { "page-order", 0, 0, G_OPTION_ARG_STRING, &order,
          "single-pass (default: Linux 6.16+ KVM) or two-pass (earlier TDX kernels)", "ORDER" },
        { "output-format", 0, 0, G_OPTION_ARG_STRING, &format, "hex (default) or base64", "FORMAT" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print MRTD with its inputs as JSON", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- MRTD of a TD booted from a TDVF image");
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    guint8 mrtd[CV_TDX_DIGEST_SIZE];
    CvTdxOrder o = CV_TDX_ORDER_SINGLE_PASS;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "measure tdx", &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc > 1)
        return cv_cli_usage("measure tdx", "unexpected argument '%s'", argv[1]);
    if (!ovmf)
        return cv_cli_usage("measure tdx", "--ovmf PATH is required");
    if (order && strcmp(order, "two-pass") == 0)
        o = CV_TDX_ORDER_TWO_PASS;
    else if (order && strcmp(order, "single-pass") != 0)
        return cv_cli_usage("measure tdx", "--page-order must be single-pass or two-pass");
    if (format && strcmp(format, "hex") != 0 && strcmp(format, "base64") != 0)
        return cv_cli_usage("measure tdx", "--output-format must be hex or base64");
    if (!cv_tdx_mrtd(ovmf, o, mrtd, &error))
        return cv_cli_fail(error);
    text = g_strcmp0(format, "base64") == 0 ? g_base64_encode(mrtd, sizeof(mrtd)) : cv_hex_encode(mrtd, sizeof(mrtd));
    if (json) {
        print_measure_json("tdx", "mrtd", text,
                           (const char *const[]){ "ovmf", ovmf, "page_order",
                                                  o == CV_TDX_ORDER_TWO_PASS ? "two-pass" : "single-pass", NULL });
    } else {
        printf("%s\n", text);
    }
    return 0;
}

/* --NAME HEX values of a tdx policy: 48 bytes each; 0 or the exit code */
static int
tdx_policy_values(JsonObject *policy, const char *const *names, char **values)
{
    for (guint i = 0; names[i]; i++) {
        g_autoptr(GBytes) v = NULL;

        if (!values[i])
            continue;
        if (!(v = cv_hex_decode(values[i], NULL)) || g_bytes_get_size(v) != 48)
            return cv_cli_usage("policy tdx", "--%s: expected 96 hex digits", names[i]);
        json_object_set_string_member(policy, names[i], values[i]);
    }
    return 0;
}

int
cv_cli_policy_tdx(int argc, char **argv)
{
    static const char *const names[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner", NULL };
    g_autofree char *ovmf = NULL, *order = NULL, *given = NULL;
    char *values[G_N_ELEMENTS(names)] = { NULL };
    GOptionEntry entries[] = {
        { "ovmf", 0, 0, G_OPTION_ARG_FILENAME, &ovmf, "TDVF image to compute MRTD from", "PATH" },
        { "page-order", 0, 0, G_OPTION_ARG_STRING, &order, "single-pass (default) or two-pass", "ORDER" },
        { "mrtd", 0, 0, G_OPTION_ARG_STRING, &given, "MRTD, given (hex)", "HEX" },
        { "rtmr0", 0, 0, G_OPTION_ARG_STRING, &values[0], "Expected RTMR 0 (hex)", "HEX" },
        { "rtmr1", 0, 0, G_OPTION_ARG_STRING, &values[1], "Expected RTMR 1 (hex)", "HEX" },
        { "rtmr2", 0, 0, G_OPTION_ARG_STRING, &values[2], "Expected RTMR 2 (hex)", "HEX" },
        { "rtmr3", 0, 0, G_OPTION_ARG_STRING, &values[3], "Expected RTMR 3 (hex)", "HEX" },
        { "mrconfigid", 0, 0, G_OPTION_ARG_STRING, &values[4], "Expected MRCONFIGID (hex)", "HEX" },
        { "mrowner", 0, 0, G_OPTION_ARG_STRING, &values[5], "Expected MROWNER (hex)", "HEX" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- print the TDX policy of a TD's launch");
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) mrtd_given = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autofree char *text = NULL;
    guint8 mrtd[CV_TDX_DIGEST_SIZE];
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, "policy tdx", &argc, &argv))
        rc = CV_CLI_EXIT_USAGE;
    else if (argc > 1)
        rc = cv_cli_usage("policy tdx", "unexpected argument '%s'", argv[1]);
    else if (!given == !ovmf)
        rc = cv_cli_usage("policy tdx", "give --mrtd HEX or --ovmf PATH");
    else if (order && strcmp(order, "single-pass") != 0 && strcmp(order, "two-pass") != 0)
        rc = cv_cli_usage("policy tdx", "--page-order must be single-pass or two-pass");
    else if (given && (!(mrtd_given = cv_hex_decode(given, NULL)) || g_bytes_get_size(mrtd_given) != 48))
        rc = cv_cli_usage("policy tdx", "--mrtd: expected 96 hex digits");
    else if (given)
        memcpy(mrtd, g_bytes_get_data(mrtd_given, NULL), sizeof(mrtd));
    else if (!cv_tdx_mrtd(ovmf, g_strcmp0(order, "two-pass") == 0 ? CV_TDX_ORDER_TWO_PASS : CV_TDX_ORDER_SINGLE_PASS,
                          mrtd, &error))
        rc = cv_cli_fail(error);
    if (rc == 0) {
        policy = cv_measure_tdx_policy(mrtd, "covirt policy tdx");
        rc = tdx_policy_values(json_node_get_object(policy), names, values);
    }
    if (rc == 0) {
        text = cv_json_to_string(policy, TRUE);
        printf("%s\n", text);
    }
    for (guint i = 0; i < G_N_ELEMENTS(values); i++)
        g_free(values[i]);
    return rc;
}

int
cv_cli_measure(int argc, char **argv)
{
    static const CvCliCommand subs[] = {
        { "sev-snp", "the SEV-SNP launch digest of a guest", measure_snp },
        { "tdx", "MRTD of a TD booted from a TDVF image", measure_tdx },
        { NULL, NULL, NULL },
    };

    return cv_cli_dispatch("measure", subs,
                           "Usage: covirt measure sev-snp --ovmf PATH --vcpus N --vcpu-type TYPE [OPTION…]\n"
                           "       covirt measure tdx --ovmf PATH [--page-order single-pass|two-pass]\n\n"
                           "Computes the launch measurement a CVM's hardware reports, from the files it boots\n"
                           "(docs/measure.md). The value is printed alone on the last line.\n",
                           argc, argv);
}
