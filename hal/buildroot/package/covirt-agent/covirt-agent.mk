################################################################################
#
# covirt-agent
#
################################################################################

# The covirt checkout this BR2_EXTERNAL tree is part of (hal/buildroot/../..).
COVIRT_AGENT_VERSION = 0.1.0
COVIRT_AGENT_SITE = $(BR2_EXTERNAL_COVIRT_PATH)/../..
COVIRT_AGENT_SITE_METHOD = local
COVIRT_AGENT_LICENSE = Apache-2.0
COVIRT_AGENT_DEPENDENCIES = host-pkgconf host-protobuf-c libglib2 json-glib libsoup3 \
	glib-networking gnutls openssl libxml2 protobuf-c tpm2-tss libarchive
# The guest's build: the manager and the CLI (and libvirt, which they need) are not configured.
COVIRT_AGENT_CONF_OPTS = -Dagent=enabled -Dmanager=disabled -Dcli=disabled \
	-Dfuzzing=false -Db_sanitize=none
# Only the agent's programs: tests and benchmarks stay out of the image.
COVIRT_AGENT_NINJA_OPTS = agent/covirt-agent agent/covirt-agent-archive

# covirt-agent runs covirt-agent-archive from its own folder (agent/archive-child.c)
define COVIRT_AGENT_INSTALL_TARGET_CMDS
	$(INSTALL) -D -m 0755 $(@D)/build/agent/covirt-agent \
		$(TARGET_DIR)/usr/sbin/covirt-agent
	$(INSTALL) -D -m 0755 $(@D)/build/agent/covirt-agent-archive \
		$(TARGET_DIR)/usr/sbin/covirt-agent-archive
endef

$(eval $(meson-package))
