include $(sort $(wildcard $(BR2_EXTERNAL_COVIRT_PATH)/package/*/*.mk))
