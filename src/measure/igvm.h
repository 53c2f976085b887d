/* IGVM files (Microsoft's Independent Guest Virtual Machine format, github.com/microsoft/igvm igvm_defs):
 * a fixed header, variable headers (platforms, initialization, directives) and file data the directives
 * point into. Parsed here for one purpose: the SEV-SNP launch digest that QEMU's IGVM loader and KVM
 * produce from it (docs/measure.md). */
#pragma once
#include <glib.h>
#include "cv-error.h"
#include "snp-launch.h"

G_BEGIN_DECLS

/* The SEV-SNP launch digest of the IGVM image `data` (the whole file); `what` names it in errors. A file
 * without an SEV-SNP platform, a truncated or malformed file, or one QEMU/KVM cannot load as written (a
 * VMSA elsewhere than KVM's GPA, more than one VMSA, pages after the VMSA) is an error. */
gboolean cv_igvm_snp_measure(const guint8 *data, gsize len, const char *what, guint8 digest[CV_SNP_DIGEST_SIZE],
                             GError **error);
/* The same from a file's path */
gboolean cv_igvm_snp_measure_file(const char *path, guint8 digest[CV_SNP_DIGEST_SIZE], GError **error);

G_END_DECLS
