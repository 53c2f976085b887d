/* Name tables for enums, checked against the enum's size at compile time (as libvirt's VIR_ENUM):
 *
 *   header:  CV_ENUM_DECL(cv_mgr_state, CvMgrState);
 *   source:  CV_ENUM_IMPL(cv_mgr_state, CvMgrState, CV_MGR_STATE_COUNT, "creating", "running", ...);
 *
 * gives `const char *cv_mgr_state_to_string(CvMgrState)` (NULL when out of range) and
 * `gboolean cv_mgr_state_from_string(const char *, CvMgrState *)` (FALSE when unknown; the output is
 * untouched then). A table with one name too many or too few does not compile. */
#pragma once
#include <glib.h>
#include <string.h>

const char *cv_enum_to_string(const char *const *names, guint count, int value);
int cv_enum_from_string(const char *const *names, guint count, const char *text);

#define CV_ENUM_DECL(prefix, type) \
    const char *prefix##_to_string(type value); \
    gboolean prefix##_from_string(const char *text, type *out)

#define CV_ENUM_IMPL(prefix, type, count, ...) \
    static const char *const prefix##_names[] = { __VA_ARGS__ }; \
    G_STATIC_ASSERT(G_N_ELEMENTS(prefix##_names) == (count)); \
    const char *prefix##_to_string(type value) \
    { \
        return cv_enum_to_string(prefix##_names, G_N_ELEMENTS(prefix##_names), (int)value); \
    } \
    gboolean prefix##_from_string(const char *text, type *out) \
    { \
        int v = cv_enum_from_string(prefix##_names, G_N_ELEMENTS(prefix##_names), text); \
        if (v < 0) \
            return FALSE; \
        *out = (type)v; \
        return TRUE; \
    }
