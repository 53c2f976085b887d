/* What the CVM spec and its defaults share: limits, and errors that name the field (or the variable)
 * they came from. Internal to src/conf. */
#pragma once
#include <glib.h>

#define CV_CONF_MIN_MEMORY (64ULL << 20)
#define CV_CONF_MAX_VCPUS 512

/* Prefixes cause (taken) with the field, so that every message names it; returns FALSE. */
gboolean cv_conf_field_error(GError **error, GError *cause, const char *field);
/* An absolute path without "..", control characters, commas, quotes or markup. */
gboolean cv_conf_check_path(const char *field, const char *path, GError **error);
