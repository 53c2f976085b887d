/* The CVM spec: what an operator asks for (JSON, docs/cvm-spec.md), with defaults taken
 * from the environment (docs/configuration.md). Parsing refuses anything it does not
 * know, naming the field. Parsing is pure (no libvirt, no files are touched); cv_cvm_spec_check_files()
 * then opens the host files the spec names. */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include "cv-error.h"
#include "cv-enum.h"

G_BEGIN_DECLS

typedef enum {
    CV_PLATFORM_VTPM,
    CV_PLATFORM_SEV_SNP,
    CV_PLATFORM_TDX,
    CV_PLATFORM_COUNT
} CvPlatform;

/* "vtpm", "sev-snp", "tdx": in specs, records, and the domain templates' file names */
CV_ENUM_DECL(cv_platform, CvPlatform);

/* Operator defaults, from MANAGER_* variables (seed names where they still mean something): trusted,
 * unlike a spec. */
typedef struct {
    guint64 memory_bytes;          /* MANAGER_QEMU_MEMORY_SIZE, 2048M */
    guint vcpus;                   /* MANAGER_QEMU_SMP_COUNT, 2 */
    guint maxcpus;                 /* MANAGER_QEMU_SMP_MAXCPUS, 0 = same as vcpus */
    guint64 max_memory_bytes;      /* MANAGER_QEMU_MAX_MEMORY, 0 = no hotplug */
    guint memory_slots;            /* MANAGER_QEMU_MEMORY_SLOTS, 0 */
    char *machine;                 /* MANAGER_QEMU_MACHINE, q35 */
    char *cpu;                     /* MANAGER_QEMU_CPU, EPYC-v4 for sev-snp; else host-model/qemu64 */
    char *domain_type;             /* "kvm" or "qemu", resolved from MANAGER_DOMAIN_TYPE / ENABLE_KVM */
    gboolean domain_type_auto;     /* MANAGER_DOMAIN_TYPE=auto (or unset): sev-snp and tdx get kvm, and the
                                    * manager uses what each host's capabilities offer */
    char *ovmf_code;               /* MANAGER_QEMU_OVMF_CODE_FILE */
    char *ovmf_vars;               /* MANAGER_QEMU_OVMF_VARS_FILE */
    char *ovmf;                    /* MANAGER_QEMU_OVMF_FILE: single (AMDSEV/TDX) OVMF image */
    char *igvm;                    /* MANAGER_QEMU_IGVM_FILE */
    char *kernel;                  /* MANAGER_QEMU_DISK_IMG_KERNEL_FILE */
    char *initrd;                  /* MANAGER_QEMU_DISK_IMG_ROOTFS_FILE */
    /* MANAGER_IMAGE_DIRS: where a spec's kernel, initrd, ovmf and igvm may be (the files above may be
     * anywhere: the operator set them); each as configured and, when it differs, resolved. */
    char **image_dirs;
    guint64 image_max_bytes;       /* MANAGER_IMAGE_MAX_SIZE, 1G */
    CvPlatform platform;           /* vtpm unless ENABLE_SEV_SNP / ENABLE_TDX */
    guint sev_snp_cbitpos;         /* MANAGER_QEMU_SEV_SNP_CBITPOS, 51 */
    guint sev_snp_reduced_phys_bits; /* MANAGER_QEMU_SEV_SNP_REDUCED_PHYS_BITS, 1 */
    GBytes *sev_snp_host_data;     /* MANAGER_QEMU_HOST_DATA when MANAGER_QEMU_ENABLE_HOST_DATA */
    guint qgs_port;                /* MANAGER_QEMU_QUOTE_GENERATION_PORT (vsock), 0 = unset */
    /* MANAGER_QEMU_QUOTE_GENERATION_SOCKET_DIRS: where a spec's tdx.quote_generation_service may be,
     * /var/run/tdx-qgs:/run/tdx-qgs (QEMU connects to it for the guest) */
    char **qgs_socket_dirs;
    guint host_port_min, host_port_max; /* MANAGER_QEMU_HOST_FWD_RANGE, 6100-6200 */
    guint agent_port;              /* MANAGER_QEMU_GUEST_FWD_AGENT, 7002 */
    char *agent_bind_address;      /* MANAGER_AGENT_BIND_ADDRESS, 127.0.0.1 */
    char *libvirt_uri;             /* MANAGER_LIBVIRT_URI, qemu:///system */
} CvDefaults;

/* envp: NULL for the process environment. cpuinfo: path read for MANAGER_DOMAIN_TYPE=auto
 * (NULL: /proc/cpuinfo). */
CvDefaults *cv_defaults_new(const char *const *envp, const char *cpuinfo, GError **error);
void cv_defaults_free(CvDefaults *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvDefaults, cv_defaults_free)

typedef struct {
    char *name;
    CvPlatform platform;
    guint vcpus;
    guint maxcpus;
    guint64 memory_bytes;
    guint64 max_memory_bytes;
    guint memory_slots;
    char *machine;
    char *cpu;
    char *domain_type;
    char *kernel;
    char *initrd;
    char *cmdline;
    char *ovmf;          /* vtpm: OVMF code; sev-snp/tdx: the single OVMF image */
    char *ovmf_vars;     /* vtpm only */
    char *igvm;          /* sev-snp */
    guint agent_port;    /* guest side */
    guint host_port;     /* 0: the manager allocates one */
    char *agent_bind_address;
    char *host;          /* the libvirt URI of the host to run on (the manager checks it); NULL: placed */
    guint64 ttl_seconds; /* 0: no TTL */
    gboolean debug;
    JsonNode *computation; /* manifest, opaque here; NULL when absent */
    struct {
        guint cbitpos;
        guint reduced_phys_bits;
        guint64 policy;
        GBytes *host_data;   /* 32 bytes or NULL */
        char *id_block;      /* base64, passed through */
        char *id_auth;       /* base64, passed through */
        gboolean author_key;
        gboolean vcek_disabled; /* spec "vcek": false → the guest asks for VLEK-signed reports */
    } sev_snp;
    struct {
        guint64 policy;
        GBytes *mr_config_id;    /* 48 bytes or NULL */
        GBytes *mr_owner;
        GBytes *mr_owner_config;
        char *quote_generation_service; /* unix socket path, or NULL */
        guint qgs_vsock_port;
    } tdx;
} CvCvmSpec;

CvCvmSpec *cv_cvm_spec_from_json(JsonNode *root, const CvDefaults *defaults, GError **error);
CvCvmSpec *cv_cvm_spec_from_data(const char *json, gssize len, const CvDefaults *defaults, GError **error);
/* the spec with every default filled in, as the manager records it */
JsonNode *cv_cvm_spec_to_json(const CvCvmSpec *spec);
void cv_cvm_spec_free(CvCvmSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvCvmSpec, cv_cvm_spec_free)

/* Names are used as libvirt domain names and file names: [A-Za-z0-9][A-Za-z0-9._-]{0,62} */
gboolean cv_cvm_name_valid(const char *name, GError **error);

/* Opens a host file that a spec names, as field (kernel, initrd, ovmf, igvm), for the manager to
 * read: one of the defaults' files or, once symlinks are resolved, a file under an image directory;
 * a regular file of at most image_max_bytes (cv_file_open_regular). A path outside the directories
 * is refused with the same message whether or not it exists. Returns the descriptor or -1. */
int cv_defaults_open_image(const CvDefaults *d, const char *field, const char *path, guint64 *size,
                           GError **error);

/* The host-side files the spec names (kernel, initrd, OVMF, IGVM) pass cv_defaults_open_image(). */
gboolean cv_cvm_spec_check_files(const CvCvmSpec *spec, const CvDefaults *d, GError **error);

G_END_DECLS
