#include "cvm-spec.h"
#include "manifest.h"
#include "cv-util.h"
#include "conf-field.h"
#include "cv-file.h"

#include <string.h>

#define MAX_CMDLINE 2048
#define MAX_PATH_LEN 1024

CV_ENUM_IMPL(cv_platform, CvPlatform, CV_PLATFORM_COUNT, "vtpm", "sev-snp", "tdx");

gboolean
cv_conf_field_error(GError **error, GError *cause, const char *field)
{
    if (cause) {
        g_set_error(error, CV_ERROR, cause->code, "%s: %s", field, cause->message);
        g_error_free(cause);
    }
    return FALSE;
}

gboolean
cv_conf_check_path(const char *field, const char *path, GError **error)
{
    gboolean control = FALSE;

    if (!g_path_is_absolute(path)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: '%s' is not an absolute path", field, path);
        return FALSE;
    }
    for (const char *c = path; *c; c++)
        control |= (guchar)*c < 0x20 || *c == 0x7f;
    /* control characters cannot even be written in XML 1.0; the rest would split or confuse a QEMU option */
    if (control || strlen(path) > MAX_PATH_LEN || strstr(path, "/../") || g_str_has_suffix(path, "/..") ||
        strpbrk(path, ",'\"<>&") || !g_utf8_validate(path, -1, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "%s: path must not contain '..', control characters, commas, quotes or markup", field);
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_cvm_name_valid(const char *name, GError **error)
{
    gsize len = name ? strlen(name) : 0;

    if (len == 0 || len > 63 || !g_ascii_isalnum(name[0]) ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "name: must be 1-63 characters of letters, digits, '.', '_' or '-', starting with a "
                    "letter or digit");
        return FALSE;
    }
    return TRUE;
}

/* ---- the spec ---- */

void
cv_cvm_spec_free(CvCvmSpec *s)
{
    if (!s)
        return;
    g_free(s->name);
    g_free(s->machine);
    g_free(s->cpu);
    g_free(s->domain_type);
    g_free(s->kernel);
    g_free(s->initrd);
    g_free(s->cmdline);
    g_free(s->ovmf);
    g_free(s->ovmf_vars);
    g_free(s->igvm);
    g_free(s->agent_bind_address);
    g_free(s->host);
    g_clear_pointer(&s->computation, json_node_unref);
    g_clear_pointer(&s->sev_snp.host_data, g_bytes_unref);
    g_free(s->sev_snp.id_block);
    g_free(s->sev_snp.id_auth);
    g_clear_pointer(&s->tdx.mr_config_id, g_bytes_unref);
    g_clear_pointer(&s->tdx.mr_owner, g_bytes_unref);
    g_clear_pointer(&s->tdx.mr_owner_config, g_bytes_unref);
    g_free(s->tdx.quote_generation_service);
    g_free(s);
}

typedef enum { F_STRING, F_INT, F_BOOL, F_OBJECT } FieldType;

/* Checks that every member of obj is one of `known`, so a typo is an error and not a silent default. */
static gboolean
check_known_members(JsonObject *obj, const char *prefix, const char *const *known, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(obj);

    for (GList *l = members; l; l = l->next) {
        if (!g_strv_contains(known, l->data)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s%s: unknown field", prefix, (char *)l->data);
            return FALSE;
        }
    }
    return TRUE;
}

/* Returns the member's node when present and of the right type; NULL and no error when absent. */
static JsonNode *
member(JsonObject *obj, const char *prefix, const char *name, FieldType type, GError **error)
{
    JsonNode *n = json_object_get_member(obj, name);
    gboolean ok;

    if (!n)
        return NULL;
    switch (type) {
    case F_STRING: ok = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING; break;
    case F_INT: ok = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64; break;
    case F_BOOL: ok = JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN; break;
    case F_OBJECT: ok = JSON_NODE_HOLDS_OBJECT(n); break;
    default: ok = FALSE;
    }
    if (!ok) {
        static const char *const type_names[] = { "a string", "an integer", "true or false", "an object" };
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s%s: must be %s", prefix, name, type_names[type]);
    }
    return ok ? n : NULL;
}

#define MEMBER_OR_FAIL(var, obj, prefix, name, type) \
    JsonNode *var = member(obj, prefix, name, type, error); \
    if (!var && *error) return FALSE

static gboolean
get_uint(JsonObject *obj, const char *prefix, const char *name, gint64 min, gint64 max, guint *out,
         GError **error)
{
    JsonNode *n = member(obj, prefix, name, F_INT, error);
    gint64 v;

    if (!n)
        return error == NULL || *error == NULL;
    v = json_node_get_int(n);
    if (v < min || v > max) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s%s: %" G_GINT64_FORMAT " is not between %" G_GINT64_FORMAT
                    " and %" G_GINT64_FORMAT, prefix, name, v, min, max);
        return FALSE;
    }
    *out = (guint)v;
    return TRUE;
}

static gboolean
get_path(JsonObject *obj, const char *prefix, const char *name, char **out, GError **error)
{
    JsonNode *n = member(obj, prefix, name, F_STRING, error);
    g_autofree char *field = g_strconcat(prefix, name, NULL);

    if (!n)
        return *error == NULL;
    if (!cv_conf_check_path(field, json_node_get_string(n), error))
        return FALSE;
    g_free(*out);
    *out = g_strdup(json_node_get_string(n));
    return TRUE;
}

/* kernel, initrd, ovmf, igvm: host files the manager hands to QEMU and hashes for the policy */
static gboolean
get_image(JsonObject *obj, const char *name, const CvDefaults *d, char **out, GError **error)
{
    if (!json_object_has_member(obj, name))
        return TRUE;
    if (!get_path(obj, "", name, out, error))
        return FALSE;
    return cv_conf_image_path_allowed(d, *out) || cv_conf_image_refused(name, *out, error);
}

static gboolean
get_base64(JsonObject *obj, const char *prefix, const char *name, gsize want, GBytes **out, GError **error)
{
    JsonNode *n = member(obj, prefix, name, F_STRING, error);
    g_autoptr(GBytes) b = NULL;
    GError *cause = NULL;
    g_autofree char *field = g_strconcat(prefix, name, NULL);

    if (!n)
        return *error == NULL;
    b = cv_base64_decode_strict(json_node_get_string(n), &cause);
    if (!b)
        return cv_conf_field_error(error, cause, field);
    if (want && g_bytes_get_size(b) != want) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: must be %zu bytes, not %zu", field, want,
                    g_bytes_get_size(b));
        return FALSE;
    }
    g_clear_pointer(out, g_bytes_unref);
    *out = g_steal_pointer(&b);
    return TRUE;
}

static gboolean
get_hex_policy(JsonObject *obj, const char *prefix, const char *name, guint64 *out, GError **error)
{
    JsonNode *n = member(obj, prefix, name, F_STRING, error);
    GError *cause = NULL;
    g_autofree char *field = g_strconcat(prefix, name, NULL);

    if (!n)
        return *error == NULL;
    if (!g_str_has_prefix(json_node_get_string(n), "0x")) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: '%s' is not a hexadecimal number like 0x30000",
                    field, json_node_get_string(n));
        return FALSE;
    }
    if (!cv_parse_hex_or_uint(json_node_get_string(n), out, &cause))
        return cv_conf_field_error(error, cause, field);
    return TRUE;
}

static gboolean
parse_sev_snp(JsonObject *o, CvCvmSpec *s, GError **error)
{
    static const char *const known[] = { "cbitpos", "reduced_phys_bits", "policy", "host_data", "id_block",
                                         "id_auth", "author_key", "vcek", NULL };
    const char *p = "sev_snp.";
    JsonNode *n;
    g_autoptr(GBytes) id_block = NULL;
    g_autoptr(GBytes) id_auth = NULL;

    if (!check_known_members(o, p, known, error) ||
        !get_uint(o, p, "cbitpos", 32, 63, &s->sev_snp.cbitpos, error) ||
        !get_uint(o, p, "reduced_phys_bits", 0, 63, &s->sev_snp.reduced_phys_bits, error) ||
        !get_hex_policy(o, p, "policy", &s->sev_snp.policy, error) ||
        !get_base64(o, p, "host_data", 32, &s->sev_snp.host_data, error) ||
        !get_base64(o, p, "id_block", 96, &id_block, error) ||
        !get_base64(o, p, "id_auth", 4096, &id_auth, error))
        return FALSE;
    /* SNP ABI: bit 17 of the guest policy is reserved and must be one; bits 25-63 are reserved zero. */
    if (!(s->sev_snp.policy & (1ULL << 17)) || (s->sev_snp.policy >> 25)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "sev_snp.policy: 0x%" G_GINT64_MODIFIER "x is not a valid SNP guest policy "
                    "(bit 17 must be set, bits 25-63 clear)", s->sev_snp.policy);
        return FALSE;
    }
    if (id_block)
        s->sev_snp.id_block = g_strdup(json_object_get_string_member(o, "id_block"));
    if (id_auth)
        s->sev_snp.id_auth = g_strdup(json_object_get_string_member(o, "id_auth"));
    if ((s->sev_snp.id_block != NULL) != (s->sev_snp.id_auth != NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "sev_snp.id_auth: id_block and id_auth go together");
        return FALSE;
    }
    if ((n = member(o, p, "author_key", F_BOOL, error)))
        s->sev_snp.author_key = json_node_get_boolean(n);
    else if (*error)
        return FALSE;
    if ((n = member(o, p, "vcek", F_BOOL, error)))
        s->sev_snp.vcek_disabled = !json_node_get_boolean(n);
    else if (*error)
        return FALSE;
    return TRUE;
}

static gboolean
parse_tdx(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    static const char *const known[] = { "policy", "mr_config_id", "mr_owner", "mr_owner_config",
                                         "quote_generation_service", NULL };
    const char *p = "tdx.";

    if (!check_known_members(o, p, known, error) ||
        !get_hex_policy(o, p, "policy", &s->tdx.policy, error) ||
        !get_base64(o, p, "mr_config_id", 48, &s->tdx.mr_config_id, error) ||
        !get_base64(o, p, "mr_owner", 48, &s->tdx.mr_owner, error) ||
        !get_base64(o, p, "mr_owner_config", 48, &s->tdx.mr_owner_config, error) ||
        !get_path(o, p, "quote_generation_service", &s->tdx.quote_generation_service, error))
        return FALSE;
    /* QEMU connects there for the guest: not to any socket of the host */
    if (s->tdx.quote_generation_service && !cv_conf_qgs_socket_allowed(d, s->tdx.quote_generation_service)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "tdx.quote_generation_service: '%s' is not in the QGS socket "
                    "directories (MANAGER_QEMU_QUOTE_GENERATION_SOCKET_DIRS)", s->tdx.quote_generation_service);
        return FALSE;
    }
    /* TD attributes: bit 0 is DEBUG, bit 28 SEPT_VE_DISABLE, bit 30 PKS, bit 63 PERFMON; the rest are reserved. */
    if (s->tdx.policy & ~((1ULL << 0) | (1ULL << 28) | (1ULL << 30) | (1ULL << 63))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "tdx.policy: 0x%" G_GINT64_MODIFIER "x sets reserved TD attribute bits", s->tdx.policy);
        return FALSE;
    }
    return TRUE;
}

static gboolean
check_cmdline(const char *cmdline, GError **error)
{
    if (strlen(cmdline) > MAX_CMDLINE || !g_utf8_validate(cmdline, -1, NULL)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cmdline: longer than %d bytes or not UTF-8", MAX_CMDLINE);
        return FALSE;
    }
    for (const char *c = cmdline; *c; c++) {
        if ((guchar)*c < 0x20 || *c == 0x7f) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "cmdline: control characters are not allowed");
            return FALSE;
        }
    }
    return TRUE;
}

/* name and platform */
static gboolean
parse_identity(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    MEMBER_OR_FAIL(name, o, "", "name", F_STRING);
    if (!name) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "name: required");
        return FALSE;
    }
    if (!cv_cvm_name_valid(json_node_get_string(name), error))
        return FALSE;
    s->name = g_strdup(json_node_get_string(name));

    MEMBER_OR_FAIL(platform, o, "", "platform", F_STRING);
    s->platform = d->platform;
    if (platform && !cv_platform_from_string(json_node_get_string(platform), &s->platform)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "platform: '%s' is not vtpm, sev-snp or tdx",
                    json_node_get_string(platform));
        return FALSE;
    }
    return TRUE;
}

/* vCPUs, memory and memory hotplug */
static gboolean
parse_resources(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    GError *cause = NULL;

    s->vcpus = d->vcpus;
    if (!get_uint(o, "", "vcpus", 1, CV_CONF_MAX_VCPUS, &s->vcpus, error))
        return FALSE;
    s->maxcpus = MAX(d->maxcpus, s->vcpus);

    MEMBER_OR_FAIL(memory, o, "", "memory", F_STRING);
    s->memory_bytes = d->memory_bytes;
    if (memory && !cv_parse_size(json_node_get_string(memory), &s->memory_bytes, &cause))
        return cv_conf_field_error(error, cause, "memory");
    if (s->memory_bytes < CV_CONF_MIN_MEMORY || s->memory_bytes % (1 << 20)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "memory: must be a whole number of MiB, at least 64M");
        return FALSE;
    }
    s->max_memory_bytes = d->max_memory_bytes > s->memory_bytes ? d->max_memory_bytes : 0;
    s->memory_slots = s->max_memory_bytes ? d->memory_slots : 0;
    if (!s->memory_slots)
        s->max_memory_bytes = 0;
    return TRUE;
}

/* machine, firmware, kernel, initrd and command line */
static gboolean
parse_boot(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    s->machine = g_strdup(d->machine);
    /* SEV-SNP and TDX exist only under KVM: rendering one for another machine needs no KVM here */
    s->domain_type = g_strdup(d->domain_type_auto && s->platform != CV_PLATFORM_VTPM ? "kvm" : d->domain_type);
    s->cpu = g_strdup(d->cpu);
    s->kernel = g_strdup(d->kernel);
    s->initrd = g_strdup(d->initrd);
    s->igvm = g_strdup(d->igvm);
    s->ovmf_vars = g_strdup(d->ovmf_vars);
    s->ovmf = g_strdup(s->platform == CV_PLATFORM_VTPM ? d->ovmf_code : d->ovmf);
    if (!get_image(o, "kernel", d, &s->kernel, error) || !get_image(o, "initrd", d, &s->initrd, error) ||
        !get_image(o, "ovmf", d, &s->ovmf, error) || !get_image(o, "igvm", d, &s->igvm, error))
        return FALSE;

    MEMBER_OR_FAIL(cmdline, o, "", "cmdline", F_STRING);
    s->cmdline = g_strdup(cmdline ? json_node_get_string(cmdline) : "console=null quiet");
    return check_cmdline(s->cmdline, error);
}

/* the agent's ports, TTL, debug and the computation */
static gboolean
parse_runtime(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    GError *cause = NULL;

    s->agent_port = d->agent_port;
    if (!get_uint(o, "", "agent_port", 1, 65535, &s->agent_port, error) ||
        !get_uint(o, "", "host_port", 1, 65535, &s->host_port, error))
        return FALSE;
    s->agent_bind_address = g_strdup(d->agent_bind_address);

    MEMBER_OR_FAIL(host, o, "", "host", F_STRING);
    if (host && (!*json_node_get_string(host) || strlen(json_node_get_string(host)) > 1024)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "host: must be a libvirt URI of MANAGER_LIBVIRT_URI");
        return FALSE;
    }
    s->host = host ? g_strdup(json_node_get_string(host)) : NULL;

    MEMBER_OR_FAIL(ttl, o, "", "ttl", F_STRING);
    if (ttl && !cv_parse_duration(json_node_get_string(ttl), &s->ttl_seconds, &cause))
        return cv_conf_field_error(error, cause, "ttl");

    MEMBER_OR_FAIL(debug, o, "", "debug", F_BOOL);
    s->debug = debug ? json_node_get_boolean(debug) : FALSE;

    MEMBER_OR_FAIL(computation, o, "", "computation", F_OBJECT);
    if (computation)
        s->computation = json_node_copy(computation);
    return TRUE;
}

/* the sev_snp and tdx sections, each only for its platform, over the defaults */
static gboolean
parse_platform(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    s->sev_snp.cbitpos = d->sev_snp_cbitpos;
    s->sev_snp.reduced_phys_bits = d->sev_snp_reduced_phys_bits;
    s->sev_snp.policy = 0x30000;
    if (d->sev_snp_host_data)
        s->sev_snp.host_data = g_bytes_ref(d->sev_snp_host_data);
    s->tdx.policy = 0x10000000;
    s->tdx.qgs_vsock_port = d->qgs_port;

    MEMBER_OR_FAIL(snp, o, "", "sev_snp", F_OBJECT);
    MEMBER_OR_FAIL(tdx, o, "", "tdx", F_OBJECT);
    if (snp && s->platform != CV_PLATFORM_SEV_SNP) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "sev_snp: only for platform sev-snp");
        return FALSE;
    }
    if (tdx && s->platform != CV_PLATFORM_TDX) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "tdx: only for platform tdx");
        return FALSE;
    }
    if (snp && !parse_sev_snp(json_node_get_object(snp), s, error))
        return FALSE;
    if (tdx && !parse_tdx(json_node_get_object(tdx), s, d, error))
        return FALSE;
    if (s->platform == CV_PLATFORM_SEV_SNP && s->max_memory_bytes) {
        /* guest memory of an SNP guest is encrypted at launch and cannot be hot-plugged */
        s->max_memory_bytes = 0;
        s->memory_slots = 0;
    }
    if (s->platform == CV_PLATFORM_SEV_SNP && !s->cpu)
        s->cpu = g_strdup("EPYC-v4");
    return TRUE;
}

static gboolean
parse_spec(JsonObject *o, CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    static const char *const known[] = { "name", "platform", "vcpus", "memory", "kernel", "initrd", "cmdline",
                                         "ovmf", "igvm", "agent_port", "host_port", "host", "ttl", "debug",
                                         "computation", "sev_snp", "tdx", NULL };

    return check_known_members(o, "", known, error) && parse_identity(o, s, d, error) &&
           parse_resources(o, s, d, error) && parse_boot(o, s, d, error) && parse_runtime(o, s, d, error) &&
           parse_platform(o, s, d, error);
}

/* Every string of the spec ends up in the domain's XML (values, or the computation inside <metadata>),
 * and valid JSON can hold characters XML 1.0 cannot: refuse them here, naming the field, instead of
 * failing later when the document is written. json-glib's strings are valid UTF-8 (cv_json_check). */
static gboolean
xml_text_ok(const char *text, const char *field, GError **error)
{
    for (const char *c = text; *c; c = g_utf8_next_char(c)) {
        gunichar u = g_utf8_get_char(c);

        if ((u < 0x20 && u != 0x9 && u != 0xa && u != 0xd) || u == 0xfffe || u == 0xffff) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: U+%04X cannot be stored in XML", field, u);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
check_xml_chars(JsonNode *node, const char *field, GError **error)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter it;
        const char *name;
        JsonNode *member;

        json_object_iter_init(&it, json_node_get_object(node));
        while (json_object_iter_next(&it, &name, &member)) {
            g_autofree char *sub = *field ? g_strdup_printf("%s.%s", field, name) : g_strdup(name);

            if (!xml_text_ok(name, *field ? field : "spec", error) || !check_xml_chars(member, sub, error))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *a = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(a); i++) {
            g_autofree char *sub = g_strdup_printf("%s[%u]", field, i);

            if (!check_xml_chars(json_array_get_element(a, i), sub, error))
                return FALSE;
        }
    } else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
        return xml_text_ok(json_node_get_string(node), field, error);
    }
    return TRUE;
}

CvCvmSpec *
cv_cvm_spec_from_json(JsonNode *root, const CvDefaults *defaults, GError **error)
{
    g_autoptr(CvCvmSpec) s = g_new0(CvCvmSpec, 1);
    GError *local = NULL;

    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "spec: must be a JSON object");
        return NULL;
    }
    if (!parse_spec(json_node_get_object(root), s, defaults, &local)) {
        if (!local)
            local = g_error_new(CV_ERROR, CV_ERROR_INTERNAL, "spec: rejected without a reason");
        g_propagate_error(error, local);
        return NULL;
    }
    /* after the fields' own checks, so that their messages stay the ones a user sees first */
    if (!check_xml_chars(root, "", error))
        return NULL;
    /* the agent's own parser: a computation it would refuse after boot is refused now (400) */
    if (s->computation) {
        g_autoptr(CvManifest) m = cv_manifest_from_json(s->computation, "computation", error);

        if (!m)
            return NULL;
    }
    return g_steal_pointer(&s);
}

CvCvmSpec *
cv_cvm_spec_from_data(const char *json, gssize len, const CvDefaults *defaults, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse(json, len, error);

    return root ? cv_cvm_spec_from_json(root, defaults, error) : NULL;
}

static void
add_b64(JsonBuilder *b, const char *name, GBytes *bytes)
{
    if (!bytes)
        return;
    g_autofree char *t = g_base64_encode(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, t);
}

static void
add_str(JsonBuilder *b, const char *name, const char *value)
{
    if (!value)
        return;
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

static void
add_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

JsonNode *
cv_cvm_spec_to_json(const CvCvmSpec *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *mem = g_strdup_printf("%" G_GUINT64_FORMAT "M", s->memory_bytes >> 20);
    g_autofree char *ttl = s->ttl_seconds ? g_strdup_printf("%" G_GUINT64_FORMAT "s", s->ttl_seconds) : NULL;
    g_autofree char *pol = NULL;

    json_builder_begin_object(b);
    add_str(b, "name", s->name);
    add_str(b, "platform", cv_platform_to_string(s->platform));
    add_int(b, "vcpus", s->vcpus);
    add_str(b, "memory", mem);
    add_str(b, "kernel", s->kernel);
    add_str(b, "initrd", s->initrd);
    add_str(b, "cmdline", s->cmdline);
    add_str(b, "ovmf", s->ovmf);
    add_str(b, "igvm", s->igvm);
    add_int(b, "agent_port", s->agent_port);
    if (s->host_port)
        add_int(b, "host_port", s->host_port);
    add_str(b, "host", s->host);
    add_str(b, "ttl", ttl);
    json_builder_set_member_name(b, "debug");
    json_builder_add_boolean_value(b, s->debug);
    if (s->computation) {
        json_builder_set_member_name(b, "computation");
        json_builder_add_value(b, json_node_copy(s->computation));
    }
    if (s->platform == CV_PLATFORM_SEV_SNP) {
        pol = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", s->sev_snp.policy);
        json_builder_set_member_name(b, "sev_snp");
        json_builder_begin_object(b);
        add_int(b, "cbitpos", s->sev_snp.cbitpos);
        add_int(b, "reduced_phys_bits", s->sev_snp.reduced_phys_bits);
        add_str(b, "policy", pol);
        add_b64(b, "host_data", s->sev_snp.host_data);
        add_str(b, "id_block", s->sev_snp.id_block);
        add_str(b, "id_auth", s->sev_snp.id_auth);
        json_builder_set_member_name(b, "author_key");
        json_builder_add_boolean_value(b, s->sev_snp.author_key);
        json_builder_set_member_name(b, "vcek");
        json_builder_add_boolean_value(b, !s->sev_snp.vcek_disabled);
        json_builder_end_object(b);
    } else if (s->platform == CV_PLATFORM_TDX) {
        pol = g_strdup_printf("0x%" G_GINT64_MODIFIER "x", s->tdx.policy);
        json_builder_set_member_name(b, "tdx");
        json_builder_begin_object(b);
        add_str(b, "policy", pol);
        add_b64(b, "mr_config_id", s->tdx.mr_config_id);
        add_b64(b, "mr_owner", s->tdx.mr_owner);
        add_b64(b, "mr_owner_config", s->tdx.mr_owner_config);
        add_str(b, "quote_generation_service", s->tdx.quote_generation_service);
        json_builder_end_object(b);
    }
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static gboolean
check_image(const CvDefaults *d, const char *field, const char *path, GError **error)
{
    g_auto(CvFd) fd = path ? cv_defaults_open_image(d, field, path, NULL, error) : -1;

    return !path || fd >= 0;
}

gboolean
cv_cvm_spec_check_files(const CvCvmSpec *s, const CvDefaults *d, GError **error)
{
    return check_image(d, "kernel", s->kernel, error) && check_image(d, "initrd", s->initrd, error) &&
           (s->platform == CV_PLATFORM_SEV_SNP && s->igvm ? TRUE : check_image(d, "ovmf", s->ovmf, error)) &&
           check_image(d, "igvm", s->igvm, error);
}
