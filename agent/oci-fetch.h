/* Algorithms and datasets from OCI images (issue 10, docs/remote-resources.md "OCI images"):
 * Debian's skopeo pulls the reference into an `oci:` layout (oci-fetch.c), then the layout is read
 * strictly and its layers extracted like a dataset archive (oci-layout.c). Both block: the agent
 * calls them from a worker thread (GTask), never from its main loop. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
    guint64 max_pull_bytes;   /* what skopeo may write (layout and its temporaries), checked while it runs */
    guint64 max_unpacked;     /* bytes of all layers extracted */
    guint64 max_entries;      /* entries of all layers */
    guint timeout_seconds;    /* skopeo's whole run */
    /* a plain-HTTP (or self-signed) registry, taken only when its host is loopback: the manifest's
     * `source.insecure`, for tests and a registry on the host's loopback */
    gboolean insecure_loopback;
} CvAgentOciLimits;

/* Defaults: 4 GiB pulled, 8 GiB unpacked, 1 M entries, 30 minutes. */
void cv_agent_oci_limits_default(CvAgentOciLimits *limits);

/* Pulls reference (`docker://HOST[:PORT]/REPO:TAG` or `oci:DIR[:TAG]`) into work_dir/layout (an
 * `oci:` layout, tag "covirt"); work_dir must exist and be empty (on tmpfs: it holds the image).
 * key_pem (NULL: none) is the private key skopeo decrypts the layers with; it is written 0600 to
 * work_dir for skopeo's run only. Errors: CV_ERROR_INVALID (reference), CV_ERROR_VERIFY (the layers
 * could not be decrypted with key_pem), CV_ERROR_TOO_LARGE / CV_ERROR_UNAVAILABLE (a limit, the
 * time), CV_ERROR_IO (skopeo failed: its last words are in the message). */
gboolean cv_agent_oci_pull(const char *reference, const char *work_dir, GBytes *key_pem,
                           const CvAgentOciLimits *limits, GError **error);

/* A descriptor (OCI image-spec descriptor.md): media type, "sha256:" digest (hex part kept), size. */
typedef struct {
    char *media_type;
    char *digest_hex;
    guint64 size;
} CvAgentOciDesc;
void cv_agent_oci_desc_free(CvAgentOciDesc *desc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAgentOciDesc, cv_agent_oci_desc_free)

/* The parsers of the layout's JSON (fuzz-oci-layout.c). index.json → the one image manifest (tag
 * NULL: the only one; else the one whose org.opencontainers.image.ref.name is tag). */
CvAgentOciDesc *cv_agent_oci_parse_index(const char *text, gsize len, const char *tag, GError **error);
/* An image manifest → its layers (CvAgentOciDesc, bottom first) and *config. Layers are tar, tar+gzip
 * or tar+zstd; an encrypted one (…+encrypted) is CV_ERROR_VERIFY "still encrypted". */
GPtrArray *cv_agent_oci_parse_manifest(const char *text, gsize len, CvAgentOciDesc **config, GError **error);
/* An image config: rootfs.type "layers" with n_layers diff_ids, each a sha256 digest. */
gboolean cv_agent_oci_parse_config(const char *text, gsize len, guint n_layers, GError **error);

/* Reads layout_dir (what cv_agent_oci_pull left in work_dir/layout) and extracts its layers, bottom
 * first, into rootfs (created; must not exist). Each blob's size and sha256 are checked against its
 * descriptor before it is used. Extraction is dataset-strict (regular files and directories only,
 * no "..", no absolute paths); a layer may not replace a file of a lower one and whiteouts (.wh.) are
 * refused. On failure rootfs is removed. */
gboolean cv_agent_oci_unpack(const char *layout_dir, const char *rootfs, const CvAgentOciLimits *limits,
                             GError **error);

/* Cocos's choice of the algorithm in rootfs (its pkg/oci/extract.go): the first file in name order
 * that fits algo_type ("python": .py, "wasm": .wasm or .wat, "bin": named algorithm/main/run/execute
 * or executable, without a script or data extension). *requirements gets requirements.txt's path
 * when there is one (may be NULL). CV_ERROR_NOT_FOUND when nothing fits. */
char *cv_agent_oci_find_algorithm(const char *rootfs, const char *algo_type, char **requirements, GError **error);
/* Cocos's datasets: every regular file with a data extension (.csv .json .txt .parquet .arrow .dat
 * .zip .tar .gz .tgz), in name order, as paths. */
GPtrArray *cv_agent_oci_find_datasets(const char *rootfs);

G_END_DECLS
