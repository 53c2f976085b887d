/* TCG PC Client crypto-agile event logs (binary_bios_measurements): parsing with bounds checks
 * and replay of the SHA-256 bank into PCR values. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

#define CV_ATTEST_EV_NO_ACTION 0x00000003u
#define CV_ATTEST_EV_SEPARATOR 0x00000004u
#define CV_ATTEST_EV_EFI_ACTION 0x80000007u
#define CV_ATTEST_EV_EVENT_TAG 0x00000006u
#define CV_ATTEST_EV_EFI_BOOT_SERVICES_APPLICATION 0x80000003u
#define CV_ATTEST_EVENT_LOG_MAX (16u << 20)
#define CV_ATTEST_EVENT_LOG_MAX_EVENTS 20000u

typedef struct {
    guint32 pcr;
    guint32 type;
    guint8 sha256[32];
    gboolean has_sha256;
    const guint8 *data;         /* points into the log */
    guint32 data_len;
} CvAttestEvent;

typedef struct {
    GBytes *bytes;              /* the log, which events point into */
    GArray *events;             /* CvAttestEvent, without the Spec ID header event */
    guint8 startup_locality;
} CvAttestEventLog;

CvAttestEventLog *cv_attest_event_log_parse(GBytes *log, GError **error);
void cv_attest_event_log_free(CvAttestEventLog *log);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CvAttestEventLog, cv_attest_event_log_free)

/* Replays the SHA-256 digests into pcrs[24] (starting from zero, PCR 0 from the startup locality).
 * Fails when an extending event lacks a SHA-256 digest. */
gboolean cv_attest_event_log_replay(const CvAttestEventLog *log, guint8 pcrs[24][32], GError **error);

/* The events of one PCR against expected digests (GBytes of 32): TRUE when every expected digest is
 * there and every other event is a separator or an EFI action whose digest is its own data, so
 * that nothing unexpected was measured into that PCR. detail says what matched or what did not. */
gboolean cv_attest_event_log_match(const CvAttestEventLog *log, guint pcr, GPtrArray *expected, char **detail);

G_END_DECLS
