/* The core's state lives here only (CvAgent is opaque); the front reads it through agent.h. */
#include "agent.h"
#include "archive-child.h"
#include "control.h"
#include "dataset-unpack.h"
#include "requirements.h"
#include "runner.h"
#include "cv-error.h"
#include "cv-file.h"
#include "cv-util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

struct _CvAgent {
    char *work_dir;
    char *platform;
    char *hal_version;
    guint8 tls_sha256[32];
    CvAgentControl *control;
    CvAgentAttestation *attestation;

    CvAgentState state;
    CvManifest *manifest;
    guint generation;               /* bumped on each reset, so a late upload cannot land in a new computation */
    gboolean algo_received;
    GHashTable *datasets_received;  /* filename set */
    gboolean *consumer_served;
    CvAgentRunner *runner;
    char *last_error;
    GCancellable *unpacking;        /* cancelled (and replaced) on each reset: kills the decompressions */
    CvManifestDatasetLimits limits;
    GQueue events;                  /* JsonNode, the latest CV_AGENT_EVENTS_MAX */
};

char *
cv_agent_path(CvAgent *agent, const char *first, ...)
{
    va_list ap;
    GPtrArray *parts = g_ptr_array_new();
    const char *p;
    char *out;

    g_ptr_array_add(parts, agent->work_dir);
    va_start(ap, first);
    for (p = first; p; p = va_arg(ap, const char *))
        g_ptr_array_add(parts, (gpointer)p);
    va_end(ap);
    g_ptr_array_add(parts, NULL);
    out = g_build_filenamev((char **)parts->pdata);
    g_ptr_array_free(parts, TRUE);
    return out;
}

CvAgentState
cv_agent_get_state(CvAgent *agent)
{
    return agent->state;
}

const CvManifest *
cv_agent_get_manifest(CvAgent *agent)
{
    return agent->manifest;
}

CvAgentAttestation *
cv_agent_get_attestation(CvAgent *agent)
{
    return agent->attestation;
}

static gint64
now_ms(void)
{
    return g_get_real_time() / 1000;
}

static void
remember(CvAgent *agent, const char *kind, const char *from, const char *to, const char *message)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *ts = cv_time_format(g_get_real_time() / G_USEC_PER_SEC);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "time");
    json_builder_add_string_value(b, ts);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, kind);
    if (from) {
        json_builder_set_member_name(b, "from");
        json_builder_add_string_value(b, from);
    }
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, to);
    if (message) {
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, message);
    }
    json_builder_end_object(b);
    g_queue_push_tail(&agent->events, json_builder_get_root(b));
    while (g_queue_get_length(&agent->events) > CV_AGENT_EVENTS_MAX)
        json_node_unref(g_queue_pop_head(&agent->events));
}

static gboolean
result_available(CvAgent *agent)
{
    return agent->state == CV_AGENT_STATE_CONSUMING_RESULTS || agent->state == CV_AGENT_STATE_COMPLETE;
}

/* what the manager shows of the computation: its state, why it failed or stopped, whether a result waits */
static void
send_state(CvAgent *agent)
{
    cv_agent_control_send(agent->control, cv_agent_frame_state(cv_agent_state_to_string(agent->state),
                                                               agent->last_error, result_available(agent)));
}

static void
set_state(CvAgent *agent, CvAgentState to, const char *why)
{
    CvAgentState from = agent->state;
    g_autofree char *msg = NULL;

    if (from == to)
        return;
    if (!cv_agent_state_can_go(from, to))
        g_warning("unexpected transition %s → %s", cv_agent_state_to_string(from), cv_agent_state_to_string(to));
    agent->state = to;
    /* the event's message carries "from" so the manager can show both ends */
    msg = g_strdup_printf("%s -> %s%s%s", cv_agent_state_to_string(from), cv_agent_state_to_string(to), why ? ": " : "",
                          why ? why : "");
    g_info("state %s", msg);
    remember(agent, "state", cv_agent_state_to_string(from), cv_agent_state_to_string(to), why);
    cv_agent_control_send(agent->control, cv_agent_frame_event(now_ms(), "state", cv_agent_state_to_string(to), msg));
    send_state(agent);
}

void
cv_agent_event(CvAgent *agent, const char *kind, const char *message)
{
    g_info("%s: %s", kind, message);
    remember(agent, kind, NULL, cv_agent_state_to_string(agent->state), message);
    cv_agent_control_send(agent->control,
                          cv_agent_frame_event(now_ms(), kind, cv_agent_state_to_string(agent->state), message));
}

static void
log_line(CvAgent *agent, const char *source, const char *level, const char *line)
{
    g_debug("%s: %s", source, line);
    cv_agent_control_send(agent->control, cv_agent_frame_log(now_ms(), source, level, line));
}

static void
fail_computation(CvAgent *agent, const char *message)
{
    g_free(agent->last_error);
    agent->last_error = g_strdup(message);
    set_state(agent, CV_AGENT_STATE_FAILED, message);
}

static gboolean
make_dirs(CvAgent *agent, GError **error)
{
    static const char *const dirs[] = { "algo", "algo/wheels", "datasets", "results", "tmp" };

    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *p = cv_agent_path(agent, dirs[i], NULL);
        if (g_mkdir_with_parents(p, 0700) < 0) {
            g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", p, g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

static void
wipe(CvAgent *agent)
{
    static const char *const names[] = { "algo", "datasets", "results", "tmp", "result.zip" };

    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = cv_agent_path(agent, names[i], NULL);
        cv_file_remove_tree(p);
    }
}

/* Kills the run and any decompression, deletes every file; an upload in flight is refused when it
 * lands (generation). The manifest stays. */
static void
discard(CvAgent *agent)
{
    /* first: a decompression's child must be gone before its directory is */
    g_cancellable_cancel(agent->unpacking);
    g_object_unref(agent->unpacking);
    agent->unpacking = g_cancellable_new();
    if (agent->runner) {
        cv_agent_runner_cancel(agent->runner);
        agent->runner = NULL;
    }
    wipe(agent);
    g_hash_table_remove_all(agent->datasets_received);
    agent->algo_received = FALSE;
    agent->generation++;
}

gboolean
cv_agent_load_manifest(CvAgent *agent, const char *json, gsize len, GError **error)
{
    g_autoptr(CvManifest) m = NULL;

    if (agent->manifest && agent->state != CV_AGENT_STATE_IDLE &&
        agent->state != CV_AGENT_STATE_RECEIVING_MANIFEST) {
        g_autoptr(GBytes) sha = cv_json_canonical_digest("SHA256", json, len, NULL);
        /* the manager sends the manifest again after each hello; that is not a new computation */
        if (sha && memcmp(g_bytes_get_data(sha, NULL), agent->manifest->sha256, 32) == 0)
            return TRUE;
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT,
                    "a computation is in progress (state %s); reset it before sending another manifest",
                    cv_agent_state_to_string(agent->state));
        return FALSE;
    }
    m = cv_manifest_parse(json, len, error);
    if (!m)
        return FALSE;
    if (agent->state == CV_AGENT_STATE_IDLE)
        set_state(agent, CV_AGENT_STATE_RECEIVING_MANIFEST, NULL);
    wipe(agent);
    if (!make_dirs(agent, error))
        return FALSE;
    agent->manifest = g_steal_pointer(&m);
    agent->consumer_served = g_new0(gboolean, agent->manifest->consumer_keys->len);
    {
        g_autofree char *sha256 = cv_hex_encode(agent->manifest->sha256, 32);
        g_autofree char *msg = g_strdup_printf("manifest '%s' (%s) accepted: %s algorithm, %u dataset(s), "
                                               "%u result consumer(s), manifest hash %s",
                                               agent->manifest->id, agent->manifest->name,
                                               cv_manifest_algo_type_to_string(agent->manifest->algo_type),
                                               agent->manifest->datasets->len,
                                               agent->manifest->consumer_keys->len, sha256);
        cv_agent_event(agent, "manifest", msg);
    }
    cv_agent_attestation_measure(agent->attestation, agent->manifest->sha256);
    set_state(agent, CV_AGENT_STATE_RECEIVING_ALGORITHM, NULL);
    return TRUE;
}

gboolean
cv_agent_stop(CvAgent *agent, const char *reason, GError **error)
{
    g_autofree char *why = g_strdup_printf("stopped: %s", reason && *reason ? reason : "stop requested");

    if (!cv_agent_state_can_go(agent->state, CV_AGENT_STATE_STOPPED)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "no computation to stop (state %s)",
                    cv_agent_state_to_string(agent->state));
        return FALSE;
    }
    cv_agent_event(agent, "stop", why);
    discard(agent);
    g_free(agent->last_error);
    agent->last_error = g_strdup(why);
    set_state(agent, CV_AGENT_STATE_STOPPED, reason && *reason ? reason : NULL);
    return TRUE;
}

gboolean
cv_agent_reset(CvAgent *agent, const char *reason, const char *json, gsize len, GError **error)
{
    if (agent->state == CV_AGENT_STATE_RUNNING || agent->state == CV_AGENT_STATE_CONSUMING_RESULTS) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "the computation is %s: stop it before a reset",
                    agent->state == CV_AGENT_STATE_RUNNING ? "running" : "waiting for its result consumers");
        return FALSE;
    }
    cv_agent_event(agent, "reset", reason && *reason ? reason : "reset requested");
    discard(agent);
    g_clear_pointer(&agent->manifest, cv_manifest_free);
    g_clear_pointer(&agent->consumer_served, g_free);
    g_clear_pointer(&agent->last_error, g_free);
    set_state(agent, CV_AGENT_STATE_IDLE, reason && *reason ? reason : NULL);
    set_state(agent, CV_AGENT_STATE_RECEIVING_MANIFEST, "waiting for the manifest");
    /* the files are gone whatever happens to the new manifest */
    return !json || len == 0 || cv_agent_load_manifest(agent, json, len, error);
}

static void
on_run_line(const char *source, const char *line, gpointer data)
{
    CvAgent *agent = data;

    log_line(agent, source, strcmp(source, "algorithm-stderr") == 0 ? "warn" : "info", line);
}

static void
on_run_done(gboolean ok, int exit_code, const char *message, gpointer data)
{
    CvAgent *agent = data;
    g_autoptr(GError) error = NULL;
    g_autofree char *results = cv_agent_path(agent, "results", NULL);
    g_autofree char *zip = cv_agent_path(agent, "result.zip", NULL);

    cv_agent_runner_cancel(agent->runner);  /* drops our reference; the run is over */
    agent->runner = NULL;
    if (ok && !cv_agent_archive_child_zip_dir(results, zip, &error)) {
        ok = FALSE;
        message = error->message;
    }
    cv_agent_control_send(agent->control, cv_agent_frame_run_result(ok, exit_code, message));
    if (!ok) {
        g_unlink(zip);
        fail_computation(agent, message);
        return;
    }
    cv_agent_event(agent, "run", message);
    set_state(agent, CV_AGENT_STATE_CONSUMING_RESULTS, NULL);
}

static void
start_run(CvAgent *agent)
{
    g_autoptr(GError) error = NULL;

    set_state(agent, CV_AGENT_STATE_RUNNING, NULL);
    agent->runner = cv_agent_runner_start(agent->manifest, agent->work_dir, on_run_line, on_run_done, agent, &error);
    if (!agent->runner) {
        cv_agent_control_send(agent->control, cv_agent_frame_run_result(FALSE, -1, error->message));
        fail_computation(agent, error->message);
    }
}

static void
algorithm_received(CvAgent *agent)
{
    agent->algo_received = TRUE;
    cv_agent_event(agent, "upload", "algorithm received");
    if (agent->manifest->datasets->len == 0) {
        start_run(agent);
        return;
    }
    set_state(agent, CV_AGENT_STATE_RECEIVING_DATA, NULL);
}

static void
dataset_done(CvAgent *agent, const char *filename, gboolean decompressed)
{
    g_autofree char *msg = NULL;

    g_hash_table_add(agent->datasets_received, g_strdup(filename));
    msg = g_strdup_printf("dataset %s received (%u of %u)%s", filename,
                          g_hash_table_size(agent->datasets_received), agent->manifest->datasets->len,
                          decompressed ? ", decompressed" : "");
    cv_agent_event(agent, "upload", msg);
    if (g_hash_table_size(agent->datasets_received) == agent->manifest->datasets->len)
        start_run(agent);
}

/* The names a dataset's archive may not take: every other dataset's, and what a single compressed
 * one among them becomes. */
static GStrv
reserved_names(CvAgent *agent, const char *filename)
{
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();

    for (guint i = 0; i < agent->manifest->datasets->len; i++) {
        CvManifestDataset *d = g_ptr_array_index(agent->manifest->datasets, i);
        g_autofree char *single = NULL;
        if (strcmp(d->filename, filename) == 0)
            continue;
        g_strv_builder_add(b, d->filename);
        if (d->decompress && cv_agent_dataset_format(d->filename, &single) == CV_ARCHIVE_FORMAT_SINGLE)
            g_strv_builder_add(b, single);
    }
    return g_strv_builder_end(b);
}

typedef struct {
    CvAgent *agent;
    GCancellable *unpacking;  /* the agent's at the start: cancelled, the agent may be gone */
    char *filename;
} Unpacking;

static void
unpacking_free(Unpacking *u)
{
    g_object_unref(u->unpacking);
    g_free(u->filename);
    g_free(u);
}

/* TRUE (and the task answered) when a reset came while the upload's child worked */
static gboolean
reset_meanwhile(GTask *task, Unpacking *u)
{
    if (!g_cancellable_is_cancelled(u->unpacking))
        return FALSE;
    g_task_return_new_error(task, CV_ERROR, CV_ERROR_CONFLICT, "the computation was reset during the upload");
    return TRUE;
}

static void
on_unpacked(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GTask) task = data;
    Unpacking *u = g_task_get_task_data(task);
    GError *error = NULL;

    if (reset_meanwhile(task, u))
        return;
    if (!cv_agent_dataset_unpack_finish(result, &error)) {
        g_task_return_error(task, error);
        return;
    }
    dataset_done(u->agent, u->filename, TRUE);
    g_task_return_boolean(task, TRUE);
}

/* In covirt-agent-archive while the main loop goes on; the upload's slot stays taken meanwhile. */
static void
dataset_unpack(CvAgent *agent, const CvAgentFileSlot *slot, GTask *task)
{
    g_autofree char *tmp = cv_agent_path(agent, "tmp", NULL);
    g_autofree char *datasets = cv_agent_path(agent, "datasets", NULL);
    g_auto(GStrv) reserved = reserved_names(agent, slot->name);
    CvManifestDatasetUnpack req = { slot->target, slot->name, tmp, datasets, (const char *const *)reserved,
                                 agent->limits };
    Unpacking *u = g_new0(Unpacking, 1);

    u->agent = agent;
    u->unpacking = g_object_ref(agent->unpacking);
    u->filename = g_strdup(slot->name);
    g_task_set_task_data(task, u, (GDestroyNotify)unpacking_free);
    cv_agent_dataset_unpack(&req, agent->unpacking, on_unpacked, g_object_ref(task));
}

/* A refused requirements file is deleted, as if never sent: a corrected one may follow. */
static void
on_requirements_checked(GObject *source, GAsyncResult *result, gpointer data)
{
    g_autoptr(GTask) task = data;
    Unpacking *u = g_task_get_task_data(task);
    GError *error = NULL;

    if (reset_meanwhile(task, u))
        return;
    if (!cv_agent_requirements_check_finish(result, &error)) {
        g_unlink(u->filename);
        g_task_return_error(task, error);
        return;
    }
    cv_agent_event(u->agent, "upload", "requirements received; the image and the uploaded wheels satisfy them");
    g_task_return_boolean(task, TRUE);
}

/* pip's dry run, while the main loop goes on: the upload's answer waits for its verdict */
static void
requirements_check(CvAgent *agent, const CvAgentFileSlot *slot, GTask *task)
{
    g_auto(GStrv) env = cv_agent_runner_environ(agent->work_dir);
    Unpacking *u = g_new0(Unpacking, 1);

    u->agent = agent;
    u->unpacking = g_object_ref(agent->unpacking);
    u->filename = g_strdup(slot->target);
    g_task_set_task_data(task, u, (GDestroyNotify)unpacking_free);
    cv_agent_requirements_check_async(agent->work_dir, (const char *const *)env, slot->target, agent->unpacking,
                                      on_requirements_checked, g_object_ref(task));
}

/* ---- files the manifest names ---- */

void
cv_agent_file_slot_clear(CvAgentFileSlot *slot)
{
    g_clear_pointer(&slot->name, g_free);
    g_clear_pointer(&slot->target, g_free);
    g_clear_pointer(&slot->expected_sha3, g_free);
    slot->key = NULL;
}

gboolean
cv_agent_file_slot(CvAgent *agent, CvAgentFileKind kind, const char *name, CvAgentFileSlot *slot, GError **error)
{
    const CvManifest *m = agent->manifest;
    const CvManifestDataset *d = NULL;

    if (!m) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "no manifest yet (state %s)",
                    cv_agent_state_to_string(agent->state));
        return FALSE;
    }
    if (kind == CV_AGENT_FILE_DATASET && !(d = cv_manifest_find_dataset(m, name))) {
        g_set_error(error, CV_ERROR, CV_ERROR_NOT_FOUND, "dataset '%s' is not in the manifest", name);
        return FALSE;
    }
    slot->kind = kind;
    slot->name = g_strdup(name);
    slot->key = d ? d->user_key : m->algo_key;
    slot->generation = agent->generation;
    switch (kind) {
    case CV_AGENT_FILE_ALGORITHM:
        slot->expected_sha3 = g_strdup(m->algo_hash);
        slot->target = cv_agent_path(agent, "algo", "algorithm", NULL);
        break;
    case CV_AGENT_FILE_REQUIREMENTS:
        slot->target = cv_agent_path(agent, "algo", "requirements.txt", NULL);
        break;
    case CV_AGENT_FILE_WHEEL:
        slot->target = cv_agent_path(agent, "algo", "wheels", name, NULL);
        break;
    case CV_AGENT_FILE_DATASET:
        slot->expected_sha3 = g_strdup(d->hash);
        /* an archive waits in tmp/ (never in datasets/, where its entries go) until it is extracted */
        if (d->decompress) {
            g_autofree char *waiting = g_strconcat("archive-", name, NULL);
            slot->target = cv_agent_path(agent, "tmp", waiting, NULL);
        } else {
            slot->target = cv_agent_path(agent, "datasets", name, NULL);
        }
        break;
    }
    return TRUE;
}

gboolean
cv_agent_file_wanted(CvAgent *agent, const CvAgentFileSlot *slot, GError **error)
{
    gboolean dataset = slot->kind == CV_AGENT_FILE_DATASET;

    if (agent->state != (dataset ? CV_AGENT_STATE_RECEIVING_DATA : CV_AGENT_STATE_RECEIVING_ALGORITHM)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "not receiving %s (state %s)",
                    dataset ? "datasets" : "the algorithm", cv_agent_state_to_string(agent->state));
        return FALSE;
    }
    if (dataset && g_hash_table_contains(agent->datasets_received, slot->name)) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "dataset '%s' was already received", slot->name);
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_agent_file_place(CvAgent *agent, const CvAgentFileSlot *slot, const char *tmp_path, GError **error)
{
    /* a stop or a new manifest while the body was arriving makes this upload stale */
    if (slot->generation != agent->generation) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "the computation was reset during the upload");
        return FALSE;
    }
    if (slot->kind == CV_AGENT_FILE_ALGORITHM && g_chmod(tmp_path, 0700) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot make the algorithm executable: %s", g_strerror(errno));
        return FALSE;
    }
    /* a dataset never replaces a name in datasets/ */
    if ((slot->kind == CV_AGENT_FILE_DATASET ? cv_file_rename_noreplace(tmp_path, slot->target)
                                             : rename(tmp_path, slot->target)) < 0) {
        g_set_error(error, CV_ERROR, errno == EEXIST ? CV_ERROR_CONFLICT : CV_ERROR_IO,
                    "cannot store the upload: %s", g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

void
cv_agent_file_received(CvAgent *agent, const CvAgentFileSlot *slot, GAsyncReadyCallback callback, gpointer data)
{
    g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, data);
    const CvManifestDataset *d = NULL;
    g_autofree char *msg = NULL;

    switch (slot->kind) {
    case CV_AGENT_FILE_ALGORITHM:
        algorithm_received(agent);
        break;
    case CV_AGENT_FILE_REQUIREMENTS:
        requirements_check(agent, slot, task);
        return;
    case CV_AGENT_FILE_WHEEL:
        msg = g_strdup_printf("wheel %s received", slot->name);
        cv_agent_event(agent, "upload", msg);
        break;
    case CV_AGENT_FILE_DATASET:
        d = cv_manifest_find_dataset(agent->manifest, slot->name);
        if (d && d->decompress) {
            dataset_unpack(agent, slot, task);
            return;
        }
        dataset_done(agent, slot->name, FALSE);
        break;
    }
    g_task_return_boolean(task, TRUE);
}

gboolean
cv_agent_file_received_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- the result ---- */

char *
cv_agent_result_file(CvAgent *agent, GError **error)
{
    if (agent->state != CV_AGENT_STATE_CONSUMING_RESULTS && agent->state != CV_AGENT_STATE_COMPLETE) {
        g_set_error(error, CV_ERROR, CV_ERROR_CONFLICT, "no result yet (state %s)",
                    cv_agent_state_to_string(agent->state));
        return NULL;
    }
    return cv_agent_path(agent, "result.zip", NULL);
}

void
cv_agent_result_served(CvAgent *agent, guint consumer)
{
    g_autofree char *msg = g_strdup_printf("result sent to consumer %u", consumer);
    gboolean all = TRUE;

    agent->consumer_served[consumer] = TRUE;
    cv_agent_event(agent, "result", msg);
    for (guint i = 0; i < agent->manifest->consumer_keys->len; i++)
        all &= agent->consumer_served[i];
    if (all)
        set_state(agent, CV_AGENT_STATE_COMPLETE, "every result consumer has the result");
}

JsonNode *
cv_agent_state_json(CvAgent *agent)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *tls = cv_hex_encode(agent->tls_sha256, 32);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "state");
    json_builder_add_string_value(b, cv_agent_state_to_string(agent->state));
    json_builder_set_member_name(b, "agent_version");
    json_builder_add_string_value(b, COVIRT_VERSION);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, agent->platform);
    json_builder_set_member_name(b, "tls_pubkey_sha256");
    json_builder_add_string_value(b, tls);
    if (agent->manifest) {
        g_autofree char *sha256 = cv_hex_encode(agent->manifest->sha256, 32);
        json_builder_set_member_name(b, "manifest");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, agent->manifest->id);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, agent->manifest->name);
        json_builder_set_member_name(b, "sha256");
        json_builder_add_string_value(b, sha256);
        json_builder_end_object(b);
        json_builder_set_member_name(b, "algorithm_received");
        json_builder_add_boolean_value(b, agent->algo_received);
        json_builder_set_member_name(b, "datasets_pending");
        json_builder_begin_array(b);
        for (guint i = 0; i < agent->manifest->datasets->len; i++) {
            CvManifestDataset *d = g_ptr_array_index(agent->manifest->datasets, i);
            if (!g_hash_table_contains(agent->datasets_received, d->filename))
                json_builder_add_string_value(b, d->filename);
        }
        json_builder_end_array(b);
    }
    if (agent->last_error) {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, agent->last_error);
    }
    json_builder_set_member_name(b, "result_available");
    json_builder_add_boolean_value(b, result_available(agent));
    json_builder_set_member_name(b, "events");
    json_builder_begin_array(b);
    for (GList *l = agent->events.head; l; l = l->next)
        json_builder_add_value(b, json_node_copy(l->data));
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

/* ---- control channel ---- */

static CvFrame *
on_hello(gpointer data)
{
    CvAgent *agent = data;

    return cv_agent_frame_hello(COVIRT_VERSION, agent->platform, agent->tls_sha256, agent->hal_version);
}

static void
on_manifest(const char *json, gsize len, gpointer data)
{
    CvAgent *agent = data;
    g_autoptr(GError) error = NULL;

    if (!cv_agent_load_manifest(agent, json, len, &error)) {
        g_warning("manifest refused: %s", error->message);
        cv_agent_event(agent, "manifest-refused", error->message);
    }
}

static void
on_stop(const char *reason, gpointer data)
{
    CvAgent *agent = data;
    g_autoptr(GError) error = NULL;

    if (!cv_agent_stop(agent, reason, &error)) {
        cv_agent_event(agent, "stop-refused", error->message);
        send_state(agent);   /* the manager waits for an answer either way */
    }
}

static void
on_reset(const char *reason, const char *json, gpointer data)
{
    CvAgent *agent = data;
    g_autoptr(GError) error = NULL;

    if (!cv_agent_reset(agent, reason, json, json ? strlen(json) : 0, &error)) {
        /* the manifest's own refusal keeps its name: the manager shows it as such */
        cv_agent_event(agent, agent->state == CV_AGENT_STATE_RECEIVING_MANIFEST ? "manifest-refused" : "reset-refused",
                       error->message);
        send_state(agent);
    }
}

static void
on_state_request(gpointer data)
{
    send_state(data);
}

static const CvAgentControlHandlers control_handlers = {
    .hello = on_hello,
    .manifest = on_manifest,
    .stop = on_stop,
    .reset = on_reset,
    .state_request = on_state_request,
};

CvAgent *
cv_agent_new(const CvAgentOptions *opts, GError **error)
{
    g_autoptr(CvAgent) agent = g_new0(CvAgent, 1);

    agent->work_dir = g_canonicalize_filename(opts->work_dir, NULL);
    agent->platform = g_strdup(opts->platform ? opts->platform : "none");
    agent->hal_version = g_strdup(opts->hal_version ? opts->hal_version : "");
    memcpy(agent->tls_sha256, opts->tls_sha256, sizeof(agent->tls_sha256));
    agent->datasets_received = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    agent->unpacking = g_cancellable_new();
    agent->limits.ratio = opts->dataset_ratio ? opts->dataset_ratio : CV_AGENT_DATASET_RATIO;
    agent->limits.max_bytes = opts->dataset_max_bytes ? opts->dataset_max_bytes : CV_AGENT_DATASET_MAX_BYTES;
    agent->limits.max_entries = CV_AGENT_DATASET_MAX_ENTRIES;
    agent->attestation = cv_agent_attestation_new(agent->platform, opts->tcti);
    g_queue_init(&agent->events);
    if (g_mkdir_with_parents(agent->work_dir, 0700) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", agent->work_dir, g_strerror(errno));
        return NULL;
    }
    wipe(agent);
    agent->control = cv_agent_control_new(opts->control_port, &control_handlers, agent);
    agent->state = CV_AGENT_STATE_IDLE;
    set_state(agent, CV_AGENT_STATE_RECEIVING_MANIFEST, "waiting for the manifest");
    return g_steal_pointer(&agent);
}

void
cv_agent_free(CvAgent *agent)
{
    if (!agent)
        return;
    if (agent->runner)
        cv_agent_runner_cancel(agent->runner);
    if (agent->unpacking) {
        g_cancellable_cancel(agent->unpacking);
        g_object_unref(agent->unpacking);
    }
    cv_agent_control_free(agent->control);
    cv_agent_attestation_free(agent->attestation);
    cv_manifest_free(agent->manifest);
    g_free(agent->consumer_served);
    g_free(agent->last_error);
    if (agent->datasets_received)
        g_hash_table_unref(agent->datasets_received);
    g_queue_clear_full(&agent->events, (GDestroyNotify)json_node_unref);
    g_free(agent->work_dir);
    g_free(agent->platform);
    g_free(agent->hal_version);
    g_free(agent);
}
