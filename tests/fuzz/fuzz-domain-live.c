/* libFuzzer: the live domain XML the manager reads back from libvirt (anyone with libvirt access can
 * change a domain), and a host's domain capabilities (a remote libvirt's word). Every input parses or
 * is refused with a reason. */
#include "domain-live.h"

int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    GError *error = NULL;
    CvDomainLive *live = cv_conf_domain_live_parse((const char *)data, (gssize)size, &error);
    CvDomainCaps *caps;

    if (!live == !error)
        __builtin_trap(); /* refused without a reason, or a reason with a result */
    g_clear_error(&error); /* NULL again: the caps parser below sets it */
    cv_conf_domain_live_free(live);
    caps = cv_conf_domain_caps_parse((const char *)data, (gssize)size, &error);
    if (!caps == !error)
        __builtin_trap();
    g_clear_error(&error);
    cv_conf_domain_caps_free(caps);
    return 0;
}
