/* What the CVM spec and its defaults share: limits, and errors that name the field (or the variable)
 * they came from. Internal to src/conf. */
#pragma once
#include <glib.h>
#include "cvm-spec.h"

#define CV_CONF_MIN_MEMORY (64ULL << 20)
#define CV_CONF_MAX_VCPUS 512

/* Prefixes cause (taken) with the field, so that every message names it; returns FALSE. */
gboolean cv_conf_field_error(GError **error, GError *cause, const char *field);
/* An absolute path without "..", control characters, commas, quotes or markup. */
gboolean cv_conf_check_path(const char *field, const char *path, GError **error);
/* Whether path (checked by cv_conf_check_path) may be named by a spec as an image, as written: one of
 * the defaults' files or under an image directory. Touches no file. */
gboolean cv_conf_image_path_allowed(const CvDefaults *d, const char *path);
/* The one refusal for an image path outside the directories, whether or not it exists; returns FALSE. */
gboolean cv_conf_image_refused(const char *field, const char *path, GError **error);
/* Whether path may be named as a spec's tdx.quote_generation_service: under a QGS socket directory. */
gboolean cv_conf_qgs_socket_allowed(const CvDefaults *d, const char *path);
