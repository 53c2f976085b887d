################################################################################
#
# libvirt-glib
#
################################################################################

# Debian 12's version, the one covirt is developed against
LIBVIRT_GLIB_VERSION = 4.0.0
LIBVIRT_GLIB_SOURCE = libvirt-glib-$(LIBVIRT_GLIB_VERSION).tar.xz
LIBVIRT_GLIB_SITE = https://libvirt.org/sources/glib
LIBVIRT_GLIB_LICENSE = LGPL-2.1+
LIBVIRT_GLIB_LICENSE_FILES = COPYING
LIBVIRT_GLIB_INSTALL_STAGING = YES
LIBVIRT_GLIB_DEPENDENCIES = host-pkgconf libglib2 libvirt libxml2
LIBVIRT_GLIB_CONF_OPTS = -Dintrospection=disabled -Dvapi=disabled -Ddocs=disabled -Dtests=disabled

$(eval $(meson-package))
