/* Attestation policies (docs/policy.md): one JSON object per platform. Loading is strict: an
 * unknown member is an error, so that a misspelt expectation can never turn into "not checked". */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Parses and checks a policy. platform NULL accepts any; otherwise the policy's "platform"
 * must be that one. "ca_file" members are resolved against base_dir (NULL = cwd) and replaced
 * by "ca_pem" (the file's text), so that a loaded policy is self-contained. */
JsonNode *cv_attest_policy_parse(const char *text, gssize len, const char *platform, const char *base_dir,
                                 GError **error);
JsonNode *cv_attest_policy_load(const char *path, const char *platform, GError **error);
/* The secure default of a platform: debug refused, nothing else expected. */
JsonNode *cv_attest_policy_default(const char *platform);
/* "platform" of a parsed policy */
const char *cv_attest_policy_platform(JsonNode *policy);

/* Expected vtpm boot events for a kernel + initrd + command line booted by OVMF through QEMU's
 * direct kernel boot with memory_bytes of RAM (../shared/measured-boot.md):
 *   {"platform":"vtpm","require_event_log":true,
 *    "events":{"4":[Authenticode SHA-256 of the kernel as QEMU patched it],
 *              "9":[SHA-256 of the UTF-16LE "cmdline initrd=initrd\0", SHA-256 of the initrd]}}
 * Callers add "pcrs" (e.g. PCR 0/7 of their firmware) and "ca_file"/"ca_pem" for the EK root. */
JsonNode *cv_attest_vtpm_policy_new(const char *kernel, const char *initrd, const char *cmdline,
                                    guint64 memory_bytes, GError **error);
/* The same from descriptors the caller opened and checked (cv_file_open_regular), each read once from
 * where it stands: what was checked is what is hashed. */
JsonNode *cv_attest_vtpm_policy_new_fd(int kernel_fd, int initrd_fd, const char *cmdline, guint64 memory_bytes,
                                       GError **error);

/* PE/COFF Authenticode SHA-256 of an image in memory (the PE/COFF specification's "Calculating
 * the PE Image Hash"). */
gboolean cv_attest_authenticode_sha256(const guint8 *image, gsize len, guint8 digest[32], GError **error);

G_END_DECLS
