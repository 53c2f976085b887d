/* CVM spec → libvirt domain XML, a pure function of its inputs, built with libxml2's
 * tree API from the platform's template in domain-templates/. */
#pragma once
#include "cvm-spec.h"

G_BEGIN_DECLS

#define CV_XML_NAMESPACE "https://covirt.org/xmlns/cvm/1.0"
#define CV_XML_PREFIX "covirt"
#define CV_AGENT_CHANNEL "org.covirt.agent.0"

typedef struct {
    /* libvirt version as virConnectGetLibVersion reports it: major*1000000 + minor*1000 + micro */
    unsigned long libvirt_version;
    const char *template_dir;    /* NULL: cv_domain_template_dir() */
    const char *log_dir;         /* serial log of debug CVMs: LOG_DIR/NAME.serial */
    const char *metadata_xml;    /* optional: one element in CV_XML_NAMESPACE, put in <metadata> */
    const char *uuid;            /* optional: the domain's <uuid> (the manager's CVM id) */
} CvRenderOptions;

/* libvirt versions that first parse these elements */
#define CV_LIBVIRT_SEV_SNP_VERSION 10005000UL
#define CV_LIBVIRT_TDX_VERSION 11006000UL
#define CV_LIBVIRT_PASST_PORTFORWARD_VERSION 9002000UL

gboolean cv_libvirt_version_parse(const char *text, unsigned long *out, GError **error);
char *cv_domain_render(const CvCvmSpec *spec, const CvRenderOptions *opts, GError **error);
/* $COVIRT_TEMPLATE_DIR, else the installed PREFIX/share/covirt/domain-templates (never a source tree's) */
const char *cv_domain_template_dir(void);

G_END_DECLS
