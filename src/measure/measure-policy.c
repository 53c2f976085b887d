#include "measure-policy.h"
#include "cv-util.h"

JsonNode *
cv_measure_snp_policy(const guint8 digest[CV_SNP_DIGEST_SIZE], GBytes *host_data, const char *description)
{
    g_autofree char *measurement = cv_hex_encode(digest, CV_SNP_DIGEST_SIZE);
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "platform", "sev-snp");
    json_object_set_string_member(o, "description", description);
    json_object_set_string_member(o, "measurement", measurement);
    if (host_data) {
        g_autofree char *hex = cv_hex_encode(g_bytes_get_data(host_data, NULL), g_bytes_get_size(host_data));

        json_object_set_string_member(o, "host_data", hex);
    }
    json_object_set_boolean_member(o, "allow_debug", FALSE);
    json_node_take_object(node, o);
    return node;
}

JsonNode *
cv_measure_tdx_policy(const guint8 mrtd[48], const char *description)
{
    g_autofree char *hex = cv_hex_encode(mrtd, 48);
    JsonObject *o = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_string_member(o, "platform", "tdx");
    json_object_set_string_member(o, "description", description);
    json_object_set_string_member(o, "mrtd", hex);
    json_object_set_boolean_member(o, "allow_debug", FALSE);
    json_node_take_object(node, o);
    return node;
}
