/* Runs inside a test guest: collects an evidence bundle from the vTPM (device:/dev/tpmrm0, the
 * event log from securityfs) for the nonce on the kernel command line (covirt.nonce=HEX) and
 * prints it base64-encoded between markers on the console. TLS key and manifest hashes are fixed
 * test values (0x11…, 0x22…). */
#include <stdio.h>
#include <string.h>
#include "collector.h"
#include "cv-util.h"

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *cmdline = NULL;
    g_autoptr(GBytes) nonce = NULL;
    g_autoptr(CvAgentCollector) c = NULL;
    g_autoptr(JsonNode) bundle = NULL;
    g_autofree char *text = NULL, *b64 = NULL;
    guint8 tls[32], manifest[32];
    const char *p;

    memset(tls, 0x11, 32);
    memset(manifest, 0x22, 32);
    if (!g_file_get_contents("/proc/cmdline", &cmdline, NULL, &error) || !(p = strstr(cmdline, "covirt.nonce="))) {
        printf("COVIRT-COLLECT-ERROR no covirt.nonce= on the command line\n");
        return 1;
    }
    {
        g_autofree char *hex = g_strndup(p + strlen("covirt.nonce="), strcspn(p + strlen("covirt.nonce="), " \n"));
        nonce = cv_hex_decode(hex, &error);
    }
    if (!nonce || !(c = cv_agent_collector_new("vtpm", argc > 1 ? argv[1] : "device:/dev/tpmrm0", NULL, &error)) ||
        !(bundle = cv_agent_collector_collect(c, g_bytes_get_data(nonce, NULL), g_bytes_get_size(nonce), tls, manifest,
                                              &error))) {
        printf("COVIRT-COLLECT-ERROR %s\n", error ? error->message : "bad nonce");
        return 1;
    }
    text = cv_json_to_string(bundle, FALSE);
    b64 = g_base64_encode((const guchar *)text, strlen(text));
    printf("COVIRT-BUNDLE-BEGIN\n");
    for (gsize i = 0, n = strlen(b64); i < n; i += 76)
        printf("%.76s\n", b64 + i);
    printf("COVIRT-BUNDLE-END\n");
    fflush(stdout);
    return 0;
}
