/* covirt cvm create|list|show|rm|events|wait|policy|stop-computation|reset-computation, and covirt
 * host list: clients of covirt-manager's HTTP API. The computation's stop and reset are not `stop` and `reset`: to an
 * operator who knows virsh those stop or hard-reset the domain, which these leave running. */
#include <stdio.h>
#include <string.h>
#include <libsoup/soup.h>
#include <json-glib/json-glib.h>
#include "covirt-builtins.h"
#include "covirt-replies.h"
#include "cv-json.h"
#include "cv-util.h"
#include "client-session.h"

typedef struct {
    char *manager;
    gboolean json;
    char *cacert;
    char *cert;
    char *key;
    char *token_file;
    char *token;            /* from token_file: sent as Authorization: Bearer */
    gboolean no_follow;
    char *manifest;         /* reset-computation: the new manifest's file */
    char *reason;
    char *state;            /* wait: the CVM's or the computation's state */
    gint timeout;           /* wait: seconds */
} CvmOptions;

static void
cvm_options_clear(CvmOptions *o)
{
    g_clear_pointer(&o->manager, g_free);
    g_clear_pointer(&o->cacert, g_free);
    g_clear_pointer(&o->cert, g_free);
    g_clear_pointer(&o->key, g_free);
    g_clear_pointer(&o->token_file, g_free);
    g_clear_pointer(&o->token, g_free);
    g_clear_pointer(&o->manifest, g_free);
    g_clear_pointer(&o->reason, g_free);
    g_clear_pointer(&o->state, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CvmOptions, cvm_options_clear)

/* the first token of a MANAGER_HTTP_TOKEN_FILE-style file (one a line, # comments) */
static gboolean
load_token(CvmOptions *o, GError **error)
{
    const char *path = o->token_file ? o->token_file : g_getenv("COVIRT_MANAGER_TOKEN_FILE");
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) local = NULL;

    if (!path || !*path)
        return TRUE;
    if (!g_file_get_contents(path, &text, NULL, &local)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--token-file: %s", local->message);
        return FALSE;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l && !o->token; l++)
        if (*g_strstrip(*l) && **l != '#')
            o->token = g_strdup(*l);
    if (!o->token)
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--token-file: %s holds no token", path);
    return o->token != NULL;
}

/* COVIRT_MANAGER_URL as covirt's other defaults are named; MANAGER_URL as the first releases read it */
static const char *
default_manager(void)
{
    const char *v = g_getenv("COVIRT_MANAGER_URL");

    if (!v || !*v)
        v = g_getenv("MANAGER_URL");
    return v && *v ? v : "http://127.0.0.1:7003";
}

static SoupSession *
session_new(const CvmOptions *o, GError **error)
{
    g_autoptr(SoupSession) s = cv_client_session_new(NULL);

    if (o->cacert) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GTlsDatabase) db = g_tls_file_database_new(o->cacert, &local);

        if (!db) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--cacert: %s", local->message);
            return NULL;
        }
        soup_session_set_tls_database(s, db);
    }
    return g_steal_pointer(&s);
}

static SoupMessage *
message_new(const CvmOptions *o, const char *method, const char *path, GError **error)
{
    g_autofree char *url = g_strconcat(o->manager, path, NULL);
    g_autoptr(GUri) uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, NULL);
    SoupMessage *msg;

    if (!uri || (g_strcmp0(g_uri_get_scheme(uri), "http") != 0 && g_strcmp0(g_uri_get_scheme(uri), "https") != 0)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--manager: '%s' is not an http(s) URL", o->manager);
        return NULL;
    }
    msg = soup_message_new_from_uri(method, uri);
    if (o->token) {
        g_autofree char *auth = g_strconcat("Bearer ", o->token, NULL);

        soup_message_headers_replace(soup_message_get_request_headers(msg), "Authorization", auth);
    }
    if (o->cert) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GTlsCertificate) c = g_tls_certificate_new_from_files(o->cert, o->key ? o->key : o->cert, &local);

        if (!c) {
            g_object_unref(msg);
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--cert/--key: %s", local->message);
            return NULL;
        }
        soup_message_set_tls_client_certificate(msg, c);
    }
    return msg;
}

/* Sends, and turns a non-2xx answer into a GError carrying the API's message. */
static GBytes *
call(SoupSession *s, SoupMessage *msg, GError **error)
{
    g_autoptr(GError) local = NULL;
    g_autoptr(GBytes) body = soup_session_send_and_read(s, msg, NULL, &local);
    guint status = soup_message_get_status(msg);

    if (!body) {
        g_autofree char *why = cv_client_transport_message(local);
        g_autofree char *where = g_uri_to_string_partial(soup_message_get_uri(msg), G_URI_HIDE_USERINFO);

        /* which manager: --manager, $COVIRT_MANAGER_URL or the default may have chosen it */
        g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "cannot reach the manager (%s): %s", where, why);
        return NULL;
    }
    if (status < 200 || status > 299) {
        cv_cli_manager_error(status, soup_message_get_reason_phrase(msg), g_bytes_get_data(body, NULL),
                             g_bytes_get_size(body), error);
        return NULL;
    }
    return g_steal_pointer(&body);
}

/* METHOD PATH [with a JSON body]: the answer's body, or the error */
static GBytes *
request(SoupSession *s, const CvmOptions *o, const char *method, const char *path, GBytes *body, GError **error)
{
    g_autoptr(SoupMessage) msg = message_new(o, method, path, error);

    if (!msg)
        return NULL;
    if (body)
        soup_message_set_request_body_from_bytes(msg, "application/json", body);
    return call(s, msg, error);
}

static JsonNode *
request_json(SoupSession *s, const CvmOptions *o, const char *method, const char *path, GBytes *body, GError **error)
{
    g_autoptr(GBytes) answer = request(s, o, method, path, body, error);

    if (!answer)
        return NULL;
    return cv_json_parse(g_bytes_get_data(answer, NULL), g_bytes_get_size(answer), error);
}

static void
print_json(JsonNode *node)
{
    g_autofree char *text = cv_json_to_string(node, TRUE);

    printf("%s\n", text);
}

/* a CVM: as JSON, or as text */
static void
print_answer(const CvmOptions *o, JsonNode *node)
{
    g_autofree char *text = o->json ? NULL : cv_cli_cvm_text(node);

    if (o->json)
        print_json(node);
    else
        fputs(text, stdout);
}

static int
cmd_create(SoupSession *s, const CvmOptions *o, const char *file)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) spec = NULL;
    g_autoptr(JsonNode) node = NULL;

    if (strcmp(file, "-") == 0) {
        GByteArray *buf = g_byte_array_new();
        guint8 chunk[65536];
        size_t n;

        while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0 && buf->len <= 16 * 1024 * 1024)
            g_byte_array_append(buf, chunk, (guint)n);
        spec = g_byte_array_free_to_bytes(buf);
    } else {
        spec = cv_read_file(file, 16 * 1024 * 1024, &error);
        if (!spec)
            return cv_cli_fail(error);
    }
    node = request_json(s, o, SOUP_METHOD_POST, "/v1/cvms", spec, &error);
    if (!node)
        return cv_cli_fail(error);
    print_answer(o, node);
    return 0;
}

/* GET path: its JSON, or the table text_of makes of it */
static int
print_list(SoupSession *s, const CvmOptions *o, const char *path, char *(*text_of)(JsonNode *list))
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = request_json(s, o, SOUP_METHOD_GET, path, NULL, &error);
    g_autofree char *text = NULL;

    if (!node)
        return cv_cli_fail(error);
    if (o->json) {
        print_json(node);
        return 0;
    }
    text = text_of(node);
    fputs(text, stdout);
    return 0;
}

static int
cmd_list(SoupSession *s, const CvmOptions *o, const char *unused)
{
    return print_list(s, o, "/v1/cvms", cv_cli_cvm_list_text);
}

static int
cmd_host_list(SoupSession *s, const CvmOptions *o, const char *unused)
{
    return print_list(s, o, "/v1/hosts", cv_cli_host_list_text);
}

static char *
item_path(const char *id, const char *suffix)
{
    g_autofree char *escaped = g_uri_escape_string(id, NULL, FALSE);

    return g_strconcat("/v1/cvms/", escaped, suffix, NULL);
}

/* GET /v1/cvms/ID[SUFFIX], printed as a CVM (print_answer) or, raw, as JSON whatever --json says */
static int
show_item(SoupSession *s, const CvmOptions *o, const char *id, const char *suffix, gboolean raw)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = item_path(id, suffix);
    g_autoptr(JsonNode) node = request_json(s, o, SOUP_METHOD_GET, path, NULL, &error);

    if (!node)
        return cv_cli_fail(error);
    if (raw)
        print_json(node);
    else
        print_answer(o, node);
    return 0;
}

static int
cmd_show(SoupSession *s, const CvmOptions *o, const char *id)
{
    return show_item(s, o, id, "", FALSE);
}

static int
cmd_rm(SoupSession *s, const CvmOptions *o, const char *id)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = item_path(id, "");
    g_autoptr(GBytes) body = request(s, o, SOUP_METHOD_DELETE, path, NULL, &error);

    if (!body)
        return cv_cli_fail(error);
    if (o->json)
        printf("{\"deleted\":\"%s\"}\n", id);
    else
        printf("removed %s\n", id);
    return 0;
}

typedef struct {
    GCancellable *cancel;
    GInputStream *in;
    GError *error;
    gboolean done;
    gboolean timed_out;
} Sent;

static void
sent(GObject *src, GAsyncResult *res, gpointer data)
{
    Sent *st = data;

    st->in = soup_session_send_finish(SOUP_SESSION(src), res, &st->error);
    st->done = TRUE;
}

static gboolean
deadline(gpointer data)
{
    Sent *st = data;

    st->timed_out = TRUE;
    g_cancellable_cancel(st->cancel);
    return G_SOURCE_REMOVE;
}

/* An event stream is idle between events as long as the CVM is quiet: the timeout bounds connecting
 * and the answer's head, not the stream after it (the session's own I/O timeout is off). */
static GInputStream *
send_stream(SoupSession *s, SoupMessage *msg, GError **error)
{
    g_autoptr(GCancellable) cancel = g_cancellable_new();
    guint timeout = cv_client_get_timeout();
    Sent st = { cancel };
    guint source = 0;

    g_object_set(s, "timeout", 0, NULL);
    soup_session_send_async(s, msg, G_PRIORITY_DEFAULT, cancel, sent, &st);
    if (timeout)
        source = g_timeout_add_seconds(timeout, deadline, &st);
    while (!st.done)
        g_main_context_iteration(NULL, TRUE);
    if (source && !st.timed_out)
        g_source_remove(source);
    if (!st.in) {
        g_autoptr(GError) local = st.error;

        if (st.timed_out)
            g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "cannot reach the manager: no answer within the "
                        "timeout of %u s (covirt --timeout SECONDS or COVIRT_TIMEOUT; 0 for none)", timeout);
        else
            g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE, "cannot reach the manager: %s", local->message);
    }
    return st.in;
}

static int
cmd_events(SoupSession *s, const CvmOptions *o, const char *id)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *path = item_path(id, o->no_follow ? "/events?follow=0" : "/events");
    g_autoptr(SoupMessage) msg = message_new(o, SOUP_METHOD_GET, path, &error);
    g_autoptr(GInputStream) in = NULL;
    g_autoptr(GDataInputStream) data = NULL;
    g_autofree char *kind = NULL;

    if (!msg)
        return cv_cli_fail(error);
    in = send_stream(s, msg, &error);
    if (!in)
        return cv_cli_fail(error);
    if (soup_message_get_status(msg) != 200) {
        g_autoptr(GBytes) rest = NULL;
        guint status = soup_message_get_status(msg);

        g_set_error(&error, CV_ERROR, cv_error_code_from_http_status(status, CV_ERROR_INTERNAL), "%u %s", status,
                    soup_message_get_reason_phrase(msg));
        return cv_cli_fail(error);
    }
    data = g_data_input_stream_new(in);
    for (;;) {
        gsize len;
        g_autofree char *line = g_data_input_stream_read_line_utf8(data, &len, NULL, &error);

        if (!line) {
            if (error)
                return cv_cli_fail(error);
            break;
        }
        if (g_str_has_prefix(line, "event: ")) {
            g_free(kind);
            kind = g_strdup(line + 7);
        } else if (g_str_has_prefix(line, "data: ")) {
            const char *json = line + 6;

            if (o->json) {
                printf("%s\n", json);
            } else {
                g_autofree char *text = cv_cli_cvm_event_text(kind, json);
                /* NULL: said already by another event (a run's result, a state the agent reported) */
                if (text)
                    printf("%s\n", text);
            }
            fflush(stdout);
        }
    }
    return 0;
}

/* {"reason": …[, "manifest": the file's JSON]}: the body of a computation's stop or reset */
static GBytes *
action_body(const CvmOptions *o, gboolean with_manifest, GError **error)
{
    g_autoptr(JsonObject) body = json_object_new();
    g_autoptr(JsonNode) root = json_node_new(JSON_NODE_OBJECT);
    char *text;

    if (o->reason)
        json_object_set_string_member(body, "reason", o->reason);
    if (with_manifest && o->manifest) {
        g_autoptr(GBytes) file = cv_read_file(o->manifest, 16 * 1024 * 1024, error);
        g_autoptr(JsonNode) m = file ? cv_json_parse(g_bytes_get_data(file, NULL), g_bytes_get_size(file), error)
                                     : NULL;

        if (!m)
            return NULL;
        if (!JSON_NODE_HOLDS_OBJECT(m)) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "--manifest %s: not a JSON object", o->manifest);
            return NULL;
        }
        json_object_set_member(body, "manifest", g_steal_pointer(&m));
    }
    json_node_set_object(root, body);
    text = cv_json_to_string(root, FALSE);
    return g_bytes_new_take(text, strlen(text));
}

static int
computation_action(SoupSession *s, const CvmOptions *o, const char *id, const char *action)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) body = action_body(o, strcmp(action, "reset") == 0, &error);
    g_autofree char *sub = g_strconcat("/computation/", action, NULL);
    g_autofree char *path = item_path(id, sub);
    g_autoptr(JsonNode) node = body ? request_json(s, o, SOUP_METHOD_POST, path, body, &error) : NULL;

    if (!node)
        return cv_cli_fail(error);
    if (o->json)
        print_json(node);
    else
        printf("%s of the computation sent to the agent of %s; `covirt cvm wait %s --state %s` waits for it\n",
               strcmp(action, "reset") == 0 ? "reset" : "stop", id, id,
               strcmp(action, "reset") == 0 ? "ReceivingAlgorithm" : "Stopped");
    return 0;
}

static int
cmd_stop_computation(SoupSession *s, const CvmOptions *o, const char *id)
{
    return computation_action(s, o, id, "stop");
}

static int
cmd_reset_computation(SoupSession *s, const CvmOptions *o, const char *id)
{
    return computation_action(s, o, id, "reset");
}

/* The CVM's state ("running") or its computation's ("Complete"): the two name sets do not overlap. */
static const char *
computation_state(JsonNode *cvm, const char **error_out)
{
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(cvm) ? json_node_get_object(cvm) : NULL;
    JsonObject *comp = NULL;

    *error_out = NULL;
    if (!o || !cv_json_member_object(o, "computation", FALSE, &comp, NULL) || !comp)
        return NULL;
    *error_out = cv_json_member_string_or(comp, "error", NULL);
    return cv_json_member_string_or(comp, "state", NULL);
}

static int
cmd_wait(SoupSession *s, const CvmOptions *o, const char *id)
{
    g_autofree char *path = item_path(id, "");
    gint64 deadline = g_get_monotonic_time() + (gint64)o->timeout * G_USEC_PER_SEC;
    g_autoptr(GError) error = NULL;

    if (!o->state)
        return cv_cli_usage("cvm", "wait needs --state STATE (a CVM state such as running, or a computation "
                            "state such as ReceivingAlgorithm, Complete)");
    for (;;) {
        g_autoptr(JsonNode) node = request_json(s, o, SOUP_METHOD_GET, path, NULL, &error);
        const char *cvm_state, *comp, *why;

        if (!node)
            return cv_cli_fail(error);
        cvm_state = cv_json_member_string_or(json_node_get_object(node), "state", "");
        comp = computation_state(node, &why);
        if (strcmp(cvm_state, o->state) == 0 || g_strcmp0(comp, o->state) == 0) {
            printf("%s\n", o->state);
            return 0;
        }
        /* a computation that is over, or a CVM that does not run, will not get there: say why at once */
        if (comp && (strcmp(comp, "Failed") == 0 || strcmp(comp, "Stopped") == 0 || strcmp(comp, "Complete") == 0)) {
            g_set_error(&error, CV_ERROR, CV_ERROR_CONFLICT, "the computation is %s%s%s, not %s", comp,
                        why ? ": " : "", why ? why : "", o->state);
            return cv_cli_fail(error);
        }
        if (strcmp(cvm_state, "stopped") == 0 || strcmp(cvm_state, "crashed") == 0) {
            g_set_error(&error, CV_ERROR, CV_ERROR_CONFLICT, "the CVM is %s, not %s", cvm_state, o->state);
            return cv_cli_fail(error);
        }
        if (g_get_monotonic_time() >= deadline) {
            g_set_error(&error, CV_ERROR, CV_ERROR_UNAVAILABLE, "%s is still %s (computation %s) after %d s", id,
                        cvm_state, comp ? comp : "unknown", o->timeout);
            return cv_cli_fail(error);
        }
        g_usleep(G_USEC_PER_SEC / 2);
    }
}

static int
cmd_policy(SoupSession *s, const CvmOptions *o, const char *id)
{
    /* a policy file as `covirt attest --policy` reads it, with or without --json */
    return show_item(s, o, id, "/attestation-policy", TRUE);
}

/* the subcommands; `arg` says whether one follows (SPEC.json or ID) */
typedef struct {
    const char *name;
    gboolean arg;
    int (*run)(SoupSession *s, const CvmOptions *o, const char *arg);
} ClientCommand;

static const ClientCommand cvm_commands[] = {
    { "create", TRUE, cmd_create },
    { "list", FALSE, cmd_list },
    { "show", TRUE, cmd_show },
    { "rm", TRUE, cmd_rm },
    { "events", TRUE, cmd_events },
    { "wait", TRUE, cmd_wait },
    { "policy", TRUE, cmd_policy },
    { "stop-computation", TRUE, cmd_stop_computation },
    { "reset-computation", TRUE, cmd_reset_computation },
    { NULL },
};

static const ClientCommand host_commands[] = {
    { "list", FALSE, cmd_host_list },
    { NULL },
};

/* covirt COMMAND SUB [ARG] with the manager's connection options */
static int
run_client(const char *command, const ClientCommand *commands, const char *usage, const char *summary,
           const char *which, int argc, char **argv)
{
    g_auto(CvmOptions) o = { 0 };
    GOptionEntry entries[] = {
        { "manager", 'm', 0, G_OPTION_ARG_STRING, &o.manager,
          "manager URL (default: $COVIRT_MANAGER_URL, $MANAGER_URL or http://127.0.0.1:7003)", "URL" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &o.json, "print JSON instead of text", NULL },
        { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &o.cacert, "CA certificates to verify an https manager", "FILE" },
        { "cert", 0, 0, G_OPTION_ARG_FILENAME, &o.cert, "client certificate (PEM) for mTLS", "FILE" },
        { "key", 0, 0, G_OPTION_ARG_FILENAME, &o.key, "client private key (PEM) for mTLS", "FILE" },
        { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &o.token_file,
          "bearer token for the manager (default: $COVIRT_MANAGER_TOKEN_FILE)", "FILE" },
        { "no-follow", 0, 0, G_OPTION_ARG_NONE, &o.no_follow, "events: print the history and exit", NULL },
        { "state", 0, 0, G_OPTION_ARG_STRING, &o.state, "wait: the CVM's state (running) or the computation's "
          "(ReceivingAlgorithm, ConsumingResults, Complete…)", "STATE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &o.timeout, "wait: give up after SECONDS (default 300)", "SECONDS" },
        { "manifest", 0, 0, G_OPTION_ARG_FILENAME, &o.manifest,
          "reset-computation: the new computation manifest (default: the CVM's)", "FILE" },
        { "reason", 0, 0, G_OPTION_ARG_STRING, &o.reason, "stop-computation, reset-computation: why (in the events)",
          "TEXT" },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(usage);
    g_autoptr(GError) error = NULL;
    g_autoptr(SoupSession) session = NULL;

    o.timeout = 300;
    g_option_context_set_summary(ctx, summary);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!cv_cli_parse(ctx, command, &argc, &argv))
        return CV_CLI_EXIT_USAGE;
    if (argc < 2)
        return cv_cli_usage(command, "which one: %s", which);
    if (!o.manager)
        o.manager = g_strdup(default_manager());
    while (g_str_has_suffix(o.manager, "/"))
        o.manager[strlen(o.manager) - 1] = '\0';
    for (const ClientCommand *c = commands; c->name; c++) {
        if (strcmp(argv[1], c->name) != 0)
            continue;
        if (argc != (c->arg ? 3 : 2))
            return cv_cli_usage(command, "%s takes %s", argv[1], c->arg ? "one argument" : "no argument");
        if (!(session = session_new(&o, &error)) || !load_token(&o, &error))
            return cv_cli_fail(error);
        return c->run(session, &o, argv[2]);
    }
    return cv_cli_usage(command, "unknown subcommand '%s'", argv[1]);
}

int
cv_cli_cvm(int argc, char **argv)
{
    return run_client("cvm", cvm_commands,
                      "create SPEC.json|- | list | show ID | rm ID | events ID | wait ID --state STATE | policy ID | "
                      "stop-computation ID | reset-computation ID [--manifest FILE]",
                      "Create, list, inspect, remove CVMs, follow their events, wait for a state, print their "
                      "attestation policy, stop or reset their computation, through covirt-manager. ID is a CVM's "
                      "id or name.",
                      "create, list, show, rm, events, wait, policy, stop-computation or reset-computation", argc, argv);
}

/* the same connection options as cvm */
int
cv_cli_host(int argc, char **argv)
{
    return run_client("host", host_commands, "list",
                      "List the libvirt hosts behind covirt-manager: state, CVMs, free memory, platforms.", "list",
                      argc, argv);
}
