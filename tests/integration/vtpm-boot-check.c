/* Checks a real vtpm boot: the event log a guest read from securityfs replays to the PCR values it
 * read from sysfs, and the PCR 4 / PCR 9 events are the ones cv_attest_vtpm_policy_new() predicts
 * from the kernel, initrd, command line and memory; a policy for another initrd does not match.
 * With BUNDLE and NONCE, the evidence bundle the guest's collector made is verified against the
 * development policy (EK chain to /var/lib/swtpm-localca) plus those boot events, and must pass;
 * with the events of another initrd it must fail on PCR 9.
 *   vtpm-boot-check LOG PCRS KERNEL INITRD CMDLINE MEMORY_BYTES [BUNDLE NONCE] */
#include <stdio.h>
#include <string.h>
#include "event-log.h"
#include "policy.h"
#include "cv-util.h"
#include "attest-util.h"
#include "evidence.h"
#include <glib/gstdio.h>
#include <stdlib.h>

static gboolean
match(CvAttestEventLog *log, JsonNode *policy, const char *pcr)
{
    JsonObject *events = json_object_get_object_member(json_node_get_object(policy), "events");
    g_autoptr(JsonObject) wrap = json_object_new();
    g_autoptr(GPtrArray) expected = NULL;
    g_autofree char *detail = NULL;
    gboolean ok;

    json_object_set_member(wrap, "d", json_node_copy(json_object_get_member(events, pcr)));
    if (!cv_attest_policy_hex(wrap, "d", 32, &expected, NULL))
        return FALSE;
    ok = cv_attest_event_log_match(log, (guint)atoi(pcr), expected, &detail);
    printf("PCR %s events: %s: %s\n", pcr, ok ? "match" : "differ", detail);
    return ok;
}

static gboolean
verify_bundle(const char *path, const char *nonce_hex, JsonNode *events_policy, JsonNode *other_policy)
{
    static const char *const ca[] = { "/var/lib/swtpm-localca/swtpm-localca-rootca-cert.pem",
                                      "/var/lib/swtpm-localca/issuercert.pem" };
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) text = cv_read_file(path, 32u << 20, &error);
    g_autoptr(JsonNode) bundle = text ? cv_json_parse(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &error) : NULL;
    g_autoptr(GBytes) nonce = cv_hex_decode(nonce_hex, NULL);
    guint8 manifest[32];
    gboolean ok = TRUE;
    JsonNode *policies[] = { events_policy, other_policy };

    memset(manifest, 0x22, 32);
    if (!bundle || !nonce) {
        printf("bundle: %s\n", error ? error->message : "bad nonce");
        return FALSE;
    }
    for (int i = 0; i < 2; i++) {
        g_autoptr(JsonNode) p = json_node_copy(policies[i]);
        JsonObject *o = json_node_get_object(p);
        JsonArray *files = json_array_new();
        g_autofree char *text_policy = NULL;
        g_autoptr(JsonNode) loaded = NULL;
        g_autoptr(CvAttestVerdict) v = NULL;
        g_autofree char *verdict = NULL;
        for (gsize k = 0; k < G_N_ELEMENTS(ca); k++)
            json_array_add_string_element(files, ca[k]);
        json_object_set_array_member(o, "ca_file", files);
        json_object_set_boolean_member(o, "require_credential", FALSE);
        text_policy = cv_json_to_string(p, FALSE);
        if (!(loaded = cv_attest_policy_parse(text_policy, -1, "vtpm", NULL, &error)) ||
            !(v = cv_attest_evidence_verify(bundle, loaded, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce),
                                            manifest, 0, &error))) {
            printf("bundle: %s\n", error->message);
            return FALSE;
        }
        verdict = cv_attest_verdict_to_text(v);
        printf("bundle against the %s policy:\n%s", i == 0 ? "CVM's" : "other initrd's", verdict);
        if (i == 0 && !cv_attest_verdict_passed(v))
            ok = FALSE;
        if (i == 1) {
            const CvAttestCheck *c = cv_attest_verdict_find(v, "tpm.events.pcr9");
            if (cv_attest_verdict_passed(v) || !c || c->status != CV_ATTEST_FAIL)
                ok = FALSE;
        }
    }
    return ok;
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) log_bytes = NULL;
    g_autoptr(CvAttestEventLog) log = NULL;
    g_autofree char *pcr_text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(JsonNode) policy = NULL;
    g_autoptr(JsonNode) other = NULL;
    g_autofree char *other_initrd = NULL;
    guint8 replay[24][32];
    guint64 memory;
    guint compared = 0;
    int failures = 0;

    if (argc != 7 && argc != 9) {
        g_printerr("usage: vtpm-boot-check LOG PCRS KERNEL INITRD CMDLINE MEMORY_BYTES [BUNDLE NONCE]\n");
        return 2;
    }
    memory = g_ascii_strtoull(argv[6], NULL, 10);
    if (!(log_bytes = cv_read_file(argv[1], CV_ATTEST_EVENT_LOG_MAX, &error)) ||
        !(log = cv_attest_event_log_parse(log_bytes, &error)) || !cv_attest_event_log_replay(log, replay, &error) ||
        !g_file_get_contents(argv[2], &pcr_text, NULL, &error)) {
        g_printerr("vtpm-boot-check: %s\n", error->message);
        return 1;
    }
    lines = g_strsplit(pcr_text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) f = g_strsplit(g_strstrip(*l), " ", 2);
        g_autoptr(GBytes) value = NULL;
        guint i;
        g_autofree char *mine = NULL;
        g_autofree char *lower = NULL;
        if (!f[0] || !f[1])
            continue;
        i = (guint)atoi(f[0]);
        lower = g_ascii_strdown(f[1], -1);
        value = cv_hex_decode(lower, NULL);
        if (i > 9 || !value || g_bytes_get_size(value) != 32)
            continue;
        compared++;
        mine = cv_hex_encode(replay[i], 32);
        if (memcmp(g_bytes_get_data(value, NULL), replay[i], 32) != 0) {
            printf("PCR %u: log replays to %s, the TPM has %s\n", i, mine, f[1]);
            failures++;
        }
    }
    printf("%u events; replay matches %u of %u PCRs read from the TPM\n", log->events->len, compared - failures,
           compared);
    if (compared != 10)
        failures++;

    if (!(policy = cv_attest_vtpm_policy_new(argv[3], argv[4], argv[5], memory, &error))) {
        g_printerr("vtpm-boot-check: %s\n", error->message);
        return 1;
    }
    if (!match(log, policy, "4"))
        failures++;
    if (!match(log, policy, "9"))
        failures++;

    /* another initrd (one byte more): PCR 9 must no longer match, and neither must PCR 4, whose
     * header fields carry the initrd's size */
    other_initrd = g_strdup_printf("%s.other", argv[4]);
    {
        g_autoptr(GBytes) initrd = cv_read_file(argv[4], 1u << 30, &error);
        g_autoptr(GByteArray) more = g_byte_array_new();
        g_byte_array_append(more, g_bytes_get_data(initrd, NULL), g_bytes_get_size(initrd));
        g_byte_array_append(more, (const guint8 *)"x", 1);
        if (!cv_write_file(other_initrd, more->data, more->len, 0644, &error) ||
            !(other = cv_attest_vtpm_policy_new(argv[3], other_initrd, argv[5], memory, &error))) {
            g_printerr("vtpm-boot-check: %s\n", error->message);
            return 1;
        }
        g_unlink(other_initrd);
    }
    if (match(log, other, "9"))
        failures++;
    if (argc == 9 && !verify_bundle(argv[7], argv[8], policy, other))
        failures++;
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
