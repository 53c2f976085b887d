/* Operator defaults from MANAGER_* variables (docs/configuration.md), seed names where they still
 * mean something. */
#include "cvm-spec.h"
#include "conf-field.h"
#include "cv-util.h"
#include "cv-file.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>

static const char *
env_get(const char *const *envp, const char *name)
{
    const char *v = envp ? g_environ_getenv((char **)envp, name) : g_getenv(name);

    return (v && *v) ? v : NULL;
}

static gboolean
env_bool(const char *const *envp, const char *name, gboolean def, gboolean *out, GError **error)
{
    const char *v = env_get(envp, name);

    if (!v) {
        *out = def;
        return TRUE;
    }
    if (!g_ascii_strcasecmp(v, "true") || !strcmp(v, "1") || !g_ascii_strcasecmp(v, "yes")) {
        *out = TRUE;
        return TRUE;
    }
    if (!g_ascii_strcasecmp(v, "false") || !strcmp(v, "0") || !g_ascii_strcasecmp(v, "no")) {
        *out = FALSE;
        return TRUE;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: '%s' is not true or false", name, v);
    return FALSE;
}

static gboolean
env_uint(const char *const *envp, const char *name, guint64 min, guint64 max, guint def, guint *out,
         GError **error)
{
    const char *v = env_get(envp, name);
    guint64 n = 0;
    GError *cause = NULL;

    if (!v) {
        *out = def;
        return TRUE;
    }
    if (!cv_parse_uint(v, min, max, &n, &cause))
        return cv_conf_field_error(error, cause, name);
    *out = (guint)n;
    return TRUE;
}

static gboolean
env_path(const char *const *envp, const char *name, const char *def, char **out, GError **error)
{
    const char *v = env_get(envp, name);

    if (!v) {
        *out = g_strdup(def);
        return TRUE;
    }
    if (!cv_conf_check_path(name, v, error))
        return FALSE;
    *out = g_strdup(v);
    return TRUE;
}

/* "kvm" only where the CPU can run guests: /dev/kvm may exist on hosts that cannot (nested, no vmx/svm). */
static char *
detect_domain_type(const char *cpuinfo)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(cpuinfo ? cpuinfo : "/proc/cpuinfo", &text, NULL, NULL))
        return g_strdup("qemu");
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) words = NULL;
        if (!g_str_has_prefix(*l, "flags"))
            continue;
        words = g_strsplit_set(*l, " \t", -1);
        for (char **w = words; *w; w++)
            if (!strcmp(*w, "vmx") || !strcmp(*w, "svm"))
                return g_strdup(access("/dev/kvm", R_OK | W_OK) == 0 ? "kvm" : "qemu");
        break;
    }
    return g_strdup("qemu");
}

/* memory, vCPUs, hotplug, machine and CPU model */
static gboolean
defaults_resources(const char *const *envp, CvDefaults *d, GError **error)
{
    const char *v = env_get(envp, "MANAGER_QEMU_MEMORY_SIZE");
    GError *cause = NULL;

    if (!cv_parse_size(v ? v : "2048M", &d->memory_bytes, &cause))
        return cv_conf_field_error(error, cause, "MANAGER_QEMU_MEMORY_SIZE");
    if (d->memory_bytes < CV_CONF_MIN_MEMORY) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_QEMU_MEMORY_SIZE: at least 64M");
        return FALSE;
    }
    if (!env_uint(envp, "MANAGER_QEMU_SMP_COUNT", 1, CV_CONF_MAX_VCPUS, 2, &d->vcpus, error) ||
        !env_uint(envp, "MANAGER_QEMU_SMP_MAXCPUS", 0, CV_CONF_MAX_VCPUS, 0, &d->maxcpus, error) ||
        !env_uint(envp, "MANAGER_QEMU_MEMORY_SLOTS", 0, 255, 0, &d->memory_slots, error))
        return FALSE;
    v = env_get(envp, "MANAGER_QEMU_MAX_MEMORY");
    if (v && !cv_parse_size(v, &d->max_memory_bytes, &cause))
        return cv_conf_field_error(error, cause, "MANAGER_QEMU_MAX_MEMORY");

    d->machine = g_strdup(env_get(envp, "MANAGER_QEMU_MACHINE") ? env_get(envp, "MANAGER_QEMU_MACHINE") : "q35");
    if (strspn(d->machine, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(d->machine)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_QEMU_MACHINE: '%s' is not a machine type",
                    d->machine);
        return FALSE;
    }
    d->cpu = g_strdup(env_get(envp, "MANAGER_QEMU_CPU"));
    if (d->cpu && strspn(d->cpu, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_") !=
                      strlen(d->cpu)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_QEMU_CPU: '%s' is not a CPU model", d->cpu);
        return FALSE;
    }
    return TRUE;
}

/* MANAGER_DOMAIN_TYPE, or the seed's MANAGER_QEMU_ENABLE_KVM when it is unset */
static gboolean
defaults_domain_type(const char *const *envp, const char *cpuinfo, CvDefaults *d, GError **error)
{
    gboolean enable_kvm = FALSE;
    const char *v;

    if (!env_bool(envp, "MANAGER_QEMU_ENABLE_KVM", FALSE, &enable_kvm, error))
        return FALSE;
    v = env_get(envp, "MANAGER_DOMAIN_TYPE");
    if (!v)
        v = env_get(envp, "MANAGER_QEMU_ENABLE_KVM") ? (enable_kvm ? "kvm" : "qemu") : "auto";
    if (!strcmp(v, "auto")) {
        d->domain_type = detect_domain_type(cpuinfo);
        d->domain_type_auto = TRUE;
    } else if (!strcmp(v, "kvm") || !strcmp(v, "qemu")) {
        d->domain_type = g_strdup(v);
    } else {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_DOMAIN_TYPE: '%s' is not kvm, qemu or auto", v);
        return FALSE;
    }
    return TRUE;
}

static gboolean
defaults_files(const char *const *envp, CvDefaults *d, GError **error)
{
    return env_path(envp, "MANAGER_QEMU_OVMF_CODE_FILE", "/usr/share/OVMF/OVMF_CODE_4M.fd", &d->ovmf_code, error) &&
           env_path(envp, "MANAGER_QEMU_OVMF_VARS_FILE", "/usr/share/OVMF/OVMF_VARS_4M.fd", &d->ovmf_vars, error) &&
           env_path(envp, "MANAGER_QEMU_OVMF_FILE", "/usr/share/ovmf/OVMF.fd", &d->ovmf, error) &&
           env_path(envp, "MANAGER_QEMU_IGVM_FILE", NULL, &d->igvm, error) &&
           env_path(envp, "MANAGER_QEMU_DISK_IMG_KERNEL_FILE", "/var/lib/covirt/hal/bzImage", &d->kernel, error) &&
           env_path(envp, "MANAGER_QEMU_DISK_IMG_ROOTFS_FILE", "/var/lib/covirt/hal/rootfs.cpio.gz", &d->initrd,
                    error);
}

#define N_DEFAULT_FILES 6

/* the files an operator configured: trusted, wherever they are */
static void
default_files(const CvDefaults *d, const char *files[N_DEFAULT_FILES])
{
    const char *const all[N_DEFAULT_FILES] = { d->kernel, d->initrd, d->ovmf_code, d->ovmf_vars, d->ovmf, d->igvm };

    memcpy(files, all, sizeof(all));
}

static void
add_dir(GPtrArray *dirs, const char *dir)
{
    g_autofree char *norm = g_canonicalize_filename(dir, "/");
    g_autofree char *real = realpath(norm, NULL);

    if (!g_ptr_array_find_with_equal_func(dirs, norm, g_str_equal, NULL))
        g_ptr_array_add(dirs, g_steal_pointer(&norm));
    /* a resolved spec path is compared with the resolved directories */
    if (real && !g_ptr_array_find_with_equal_func(dirs, real, g_str_equal, NULL))
        g_ptr_array_add(dirs, g_steal_pointer(&real));
}

/* The colon-separated absolute directories of variable name (set), as configured and resolved. */
static gboolean
env_dirs(const char *const *envp, const char *name, GPtrArray *dirs, GError **error)
{
    g_auto(GStrv) parts = g_strsplit(env_get(envp, name), ":", -1);

    for (char **p = parts; *p; p++) {
        if (!**p)
            continue;
        if (!cv_conf_check_path(name, *p, error))
            return FALSE;
        add_dir(dirs, *p);
    }
    return TRUE;
}

static char **
dirs_steal(GPtrArray *dirs)
{
    g_ptr_array_add(dirs, NULL);
    return (char **)g_ptr_array_steal(dirs, NULL);
}

/* MANAGER_IMAGE_DIRS, by default the directories of the default files and the firmware directories
 * of Debian's ovmf and qemu packages; MANAGER_IMAGE_MAX_SIZE; the QGS socket directories */
static gboolean
defaults_images(const char *const *envp, CvDefaults *d, GError **error)
{
    static const char *const firmware[] = { "/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/qemu" };
    static const char *const qgs[] = { "/var/run/tdx-qgs", "/run/tdx-qgs" };
    const char *files[N_DEFAULT_FILES];
    g_autoptr(GPtrArray) dirs = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) qgs_dirs = g_ptr_array_new_with_free_func(g_free);
    const char *v;
    GError *cause = NULL;

    if (env_get(envp, "MANAGER_IMAGE_DIRS")) {
        if (!env_dirs(envp, "MANAGER_IMAGE_DIRS", dirs, error))
            return FALSE;
    } else {
        default_files(d, files);
        for (gsize i = 0; i < N_DEFAULT_FILES; i++) {
            g_autofree char *dir = files[i] ? g_path_get_dirname(files[i]) : NULL;

            if (dir)
                add_dir(dirs, dir);
        }
        for (gsize i = 0; i < G_N_ELEMENTS(firmware); i++)
            add_dir(dirs, firmware[i]);
    }
    d->image_dirs = dirs_steal(dirs);
    if (env_get(envp, "MANAGER_QEMU_QUOTE_GENERATION_SOCKET_DIRS")) {
        if (!env_dirs(envp, "MANAGER_QEMU_QUOTE_GENERATION_SOCKET_DIRS", qgs_dirs, error))
            return FALSE;
    } else {
        for (gsize i = 0; i < G_N_ELEMENTS(qgs); i++)
            add_dir(qgs_dirs, qgs[i]);
    }
    d->qgs_socket_dirs = dirs_steal(qgs_dirs);
    v = env_get(envp, "MANAGER_IMAGE_MAX_SIZE");
    if (!cv_parse_size(v ? v : "1G", &d->image_max_bytes, &cause))
        return cv_conf_field_error(error, cause, "MANAGER_IMAGE_MAX_SIZE");
    return TRUE;
}

static gboolean
is_default_file(const CvDefaults *d, const char *path)
{
    const char *files[N_DEFAULT_FILES];

    default_files(d, files);
    for (gsize i = 0; i < N_DEFAULT_FILES; i++)
        if (files[i] && !strcmp(files[i], path))
            return TRUE;
    return FALSE;
}

/* path is normalised (no "//", "." or ".."): under one of the directories */
static gboolean
under_dirs(char **dirs, const char *path)
{
    for (char **dir = dirs; dir && *dir; dir++) {
        gsize len = strlen(*dir);

        if (!strcmp(*dir, "/") || (!strncmp(path, *dir, len) && path[len] == '/'))
            return TRUE;
    }
    return FALSE;
}

gboolean
cv_conf_image_path_allowed(const CvDefaults *d, const char *path)
{
    g_autofree char *norm = g_canonicalize_filename(path, "/");

    return is_default_file(d, path) || under_dirs(d->image_dirs, norm);
}

gboolean
cv_conf_qgs_socket_allowed(const CvDefaults *d, const char *path)
{
    g_autofree char *norm = g_canonicalize_filename(path, "/");

    return under_dirs(d->qgs_socket_dirs, norm);
}

gboolean
cv_conf_image_refused(const char *field, const char *path, GError **error)
{
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: '%s' is not a file in the image directories "
                "(MANAGER_IMAGE_DIRS)", field, path);
    return FALSE;
}

int
cv_defaults_open_image(const CvDefaults *d, const char *field, const char *path, guint64 *size, GError **error)
{
    g_autofree char *real = NULL;
    GError *cause = NULL;
    int fd;

    if (!cv_conf_check_path(field, path, error))
        return -1;
    /* a symlink in a directory must not lead out of it; one that does not resolve is refused alike */
    if (!cv_conf_image_path_allowed(d, path) || !(real = realpath(path, NULL)) ||
        (!is_default_file(d, path) && !under_dirs(d->image_dirs, real))) {
        cv_conf_image_refused(field, path, error);
        return -1;
    }
    fd = cv_file_open_regular(real, d->image_max_bytes, size, &cause);
    if (fd < 0) {
        /* the spec is what is wrong, whichever check refused the file */
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "%s: %s", field, cause->message);
        g_error_free(cause);
    }
    return fd;
}

/* MANAGER_QEMU_HOST_DATA, when MANAGER_QEMU_ENABLE_HOST_DATA: 32 bytes, base64 */
static gboolean
defaults_host_data(const char *const *envp, CvDefaults *d, GError **error)
{
    const char *v = env_get(envp, "MANAGER_QEMU_HOST_DATA");
    GError *cause = NULL;

    if (!v) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_QEMU_HOST_DATA: required when MANAGER_QEMU_ENABLE_HOST_DATA is true");
        return FALSE;
    }
    if (!(d->sev_snp_host_data = cv_base64_decode_strict(v, &cause)))
        return cv_conf_field_error(error, cause, "MANAGER_QEMU_HOST_DATA");
    if (g_bytes_get_size(d->sev_snp_host_data) != 32) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_QEMU_HOST_DATA: must be 32 bytes, not %zu",
                    g_bytes_get_size(d->sev_snp_host_data));
        return FALSE;
    }
    return TRUE;
}

/* the platform (SEV-SNP, TDX or vtpm) and its settings */
static gboolean
defaults_platform(const char *const *envp, CvDefaults *d, GError **error)
{
    gboolean snp = FALSE, tdx = FALSE, host_data = FALSE;

    if (!env_bool(envp, "MANAGER_QEMU_ENABLE_SEV_SNP", FALSE, &snp, error) ||
        !env_bool(envp, "MANAGER_QEMU_ENABLE_TDX", FALSE, &tdx, error) ||
        !env_bool(envp, "MANAGER_QEMU_ENABLE_HOST_DATA", FALSE, &host_data, error))
        return FALSE;
    if (snp && tdx) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_QEMU_ENABLE_SEV_SNP and MANAGER_QEMU_ENABLE_TDX cannot both be true");
        return FALSE;
    }
    d->platform = snp ? CV_PLATFORM_SEV_SNP : tdx ? CV_PLATFORM_TDX : CV_PLATFORM_VTPM;
    return env_uint(envp, "MANAGER_QEMU_SEV_SNP_CBITPOS", 32, 63, 51, &d->sev_snp_cbitpos, error) &&
           env_uint(envp, "MANAGER_QEMU_SEV_SNP_REDUCED_PHYS_BITS", 0, 63, 1, &d->sev_snp_reduced_phys_bits,
                    error) &&
           env_uint(envp, "MANAGER_QEMU_QUOTE_GENERATION_PORT", 0, 0xffffffffULL, 0, &d->qgs_port, error) &&
           env_uint(envp, "MANAGER_QEMU_GUEST_FWD_AGENT", 1, 65535, 7002, &d->agent_port, error) &&
           (!host_data || defaults_host_data(envp, d, error));
}

/* host ports, the agent's bind address, the libvirt URI */
static gboolean
defaults_host(const char *const *envp, CvDefaults *d, GError **error)
{
    const char *v = env_get(envp, "MANAGER_QEMU_HOST_FWD_RANGE");
    g_auto(GStrv) parts = g_strsplit(v ? v : "6100-6200", "-", -1);
    g_autoptr(GInetAddress) address = NULL;
    guint64 lo = 0, hi = 0;

    if (g_strv_length(parts) != 2 || !cv_parse_uint(parts[0], 1, 65535, &lo, NULL) ||
        !cv_parse_uint(parts[1], 1, 65535, &hi, NULL) || lo > hi) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "MANAGER_QEMU_HOST_FWD_RANGE: '%s' is not a port range like 6100-6200", v);
        return FALSE;
    }
    d->host_port_min = lo;
    d->host_port_max = hi;

    v = env_get(envp, "MANAGER_AGENT_BIND_ADDRESS");
    d->agent_bind_address = g_strdup(v ? v : "127.0.0.1");
    if (!(address = g_inet_address_new_from_string(d->agent_bind_address))) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "MANAGER_AGENT_BIND_ADDRESS: '%s' is not an IP address",
                    d->agent_bind_address);
        return FALSE;
    }
    v = env_get(envp, "MANAGER_LIBVIRT_URI");
    d->libvirt_uri = g_strdup(v ? v : "qemu:///system");
    return TRUE;
}

CvDefaults *
cv_defaults_new(const char *const *envp, const char *cpuinfo, GError **error)
{
    g_autoptr(CvDefaults) d = g_new0(CvDefaults, 1);

    if (!defaults_resources(envp, d, error) || !defaults_domain_type(envp, cpuinfo, d, error) ||
        !defaults_files(envp, d, error) || !defaults_images(envp, d, error) || !defaults_platform(envp, d, error) ||
        !defaults_host(envp, d, error))
        return NULL;
    return g_steal_pointer(&d);
}

void
cv_defaults_free(CvDefaults *d)
{
    if (!d)
        return;
    g_free(d->machine);
    g_free(d->cpu);
    g_free(d->domain_type);
    g_free(d->ovmf_code);
    g_free(d->ovmf_vars);
    g_free(d->ovmf);
    g_free(d->igvm);
    g_free(d->kernel);
    g_free(d->initrd);
    g_strfreev(d->image_dirs);
    g_strfreev(d->qgs_socket_dirs);
    g_clear_pointer(&d->sev_snp_host_data, g_bytes_unref);
    g_free(d->agent_bind_address);
    g_free(d->libvirt_uri);
    g_free(d);
}
