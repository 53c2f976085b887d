#include "verdict.h"

#include <stdarg.h>
#include <string.h>

static void
check_free(gpointer p)
{
    CvAttestCheck *c = p;

    g_free(c->name);
    g_free(c->detail);
    g_free(c);
}

CvAttestVerdict *
cv_attest_verdict_new(const char *platform)
{
    CvAttestVerdict *v = g_new0(CvAttestVerdict, 1);

    v->platform = g_strdup(platform);
    v->checks = g_ptr_array_new_with_free_func(check_free);
    return v;
}

void
cv_attest_verdict_free(CvAttestVerdict *verdict)
{
    if (!verdict)
        return;
    g_free(verdict->platform);
    g_ptr_array_unref(verdict->checks);
    g_free(verdict);
}

void
cv_attest_verdict_add(CvAttestVerdict *verdict, const char *name, CvAttestStatus status,
                      const char *detail_format, ...)
{
    CvAttestCheck *c = g_new0(CvAttestCheck, 1);
    va_list ap;

    c->name = g_strdup(name);
    c->status = status;
    if (detail_format) {
        va_start(ap, detail_format);
        c->detail = g_strdup_vprintf(detail_format, ap);
        va_end(ap);
    } else {
        c->detail = g_strdup("");
    }
    g_ptr_array_add(verdict->checks, c);
}

void
cv_attest_verdict_set(CvAttestVerdict *verdict, const char *name, CvAttestStatus status,
                      const char *detail_format, ...)
{
    CvAttestCheck *c = NULL;
    va_list ap;

    for (guint i = 0; i < verdict->checks->len && !c; i++)
        if (strcmp(((CvAttestCheck *)g_ptr_array_index(verdict->checks, i))->name, name) == 0)
            c = g_ptr_array_index(verdict->checks, i);
    if (!c) {
        c = g_new0(CvAttestCheck, 1);
        c->name = g_strdup(name);
        g_ptr_array_add(verdict->checks, c);
    }
    c->status = status;
    g_free(c->detail);
    va_start(ap, detail_format);
    c->detail = g_strdup_vprintf(detail_format, ap);
    va_end(ap);
}

void
cv_attest_verdict_merge(CvAttestVerdict *dst, CvAttestVerdict *src)
{
    for (guint i = 0; i < src->checks->len; i++)
        g_ptr_array_add(dst->checks, g_ptr_array_index(src->checks, i));
    g_ptr_array_set_free_func(src->checks, NULL);
    g_ptr_array_set_size(src->checks, 0);
    g_ptr_array_set_free_func(src->checks, check_free);
}

gboolean
cv_attest_verdict_passed(const CvAttestVerdict *verdict)
{
    gboolean any_pass = FALSE;

    for (guint i = 0; i < verdict->checks->len; i++) {
        const CvAttestCheck *c = g_ptr_array_index(verdict->checks, i);
        if (c->status == CV_ATTEST_FAIL)
            return FALSE;
        if (c->status == CV_ATTEST_PASS)
            any_pass = TRUE;
    }
    return any_pass;
}

const CvAttestCheck *
cv_attest_verdict_find(const CvAttestVerdict *verdict, const char *name)
{
    for (guint i = 0; i < verdict->checks->len; i++) {
        const CvAttestCheck *c = g_ptr_array_index(verdict->checks, i);
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

char *
cv_attest_verdict_failed_names(const CvAttestVerdict *verdict)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < verdict->checks->len; i++) {
        const CvAttestCheck *c = g_ptr_array_index(verdict->checks, i);
        if (c->status != CV_ATTEST_FAIL)
            continue;
        if (s->len)
            g_string_append(s, ", ");
        g_string_append(s, c->name);
    }
    return g_string_free(s, FALSE);
}

CV_ENUM_IMPL(cv_attest_status, CvAttestStatus, CV_ATTEST_STATUS_COUNT, "pass", "fail", "not-checked");

JsonNode *
cv_attest_verdict_to_json(const CvAttestVerdict *verdict)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, verdict->platform);
    json_builder_set_member_name(b, "passed");
    json_builder_add_boolean_value(b, cv_attest_verdict_passed(verdict));
    json_builder_set_member_name(b, "checks");
    json_builder_begin_array(b);
    for (guint i = 0; i < verdict->checks->len; i++) {
        const CvAttestCheck *c = g_ptr_array_index(verdict->checks, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, c->name);
        json_builder_set_member_name(b, "status");
        json_builder_add_string_value(b, cv_attest_status_to_string(c->status));
        json_builder_set_member_name(b, "detail");
        json_builder_add_string_value(b, c->detail);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

char *
cv_attest_verdict_to_text(const CvAttestVerdict *verdict)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < verdict->checks->len; i++) {
        const CvAttestCheck *c = g_ptr_array_index(verdict->checks, i);
        g_autofree char *status = g_ascii_strup(cv_attest_status_to_string(c->status), -1);
        g_string_append_printf(s, "%-11s %-28s %s\n", status, c->name, c->detail);
    }
    g_string_append_printf(s, "verdict: %s (%s)\n", cv_attest_verdict_passed(verdict) ? "PASSED" : "FAILED",
                           verdict->platform);
    return g_string_free(s, FALSE);
}
