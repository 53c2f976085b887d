#define _GNU_SOURCE  /* unshare(), CLONE_NEWNET */
#include "runner.h"
#include "archive-child.h"
#include "requirements.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <string.h>
#include <sys/mount.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>

typedef gboolean (*StepFunc)(const char *work_dir, GError **error);

typedef struct {
    GStrv argv;     /* a child process, or */
    StepFunc func;  /* an in-process action */
    const char *what;
    GSpawnChildSetupFunc setup;  /* the child's setup instead of own_group(), with setup_arg */
    char *setup_arg;
} Step;

/* the WASI launcher, installed beside covirt-agent (hal/stage-tree.py puts it in the image) */
#define WASI_LAUNCHER "covirt-agent-wasi.mjs"

struct _CvAgentRunner {
    gint ref;
    char *work_dir;
    GStrv env;
    GPtrArray *steps;
    guint next;
    GSubprocess *proc;
    GCancellable *cancel;
    guint pending;  /* stdout, stderr, wait */
    gboolean cancelled;
    CvAgentRunnerLineFunc on_line;
    CvAgentRunnerDoneFunc on_done;
    gpointer user_data;
    char *last_stderr;  /* the step's last stderr line, for the failure message */
    pid_t pgid;         /* the running step's process group */
};

typedef struct {
    CvAgentRunner *runner;
    GInputStream *in;
    const char *source;
    GString *line;
} LineReader;

static void run_next(CvAgentRunner *r);

/* Each step leads its own process group, so that nothing it started outlives it. */
static void
own_group(gpointer data)
{
    setpgid(0, 0);
}

/* The wasm step's child, between fork and exec: its own process group, an empty network namespace
 * (no network), and a mount namespace where datasets/ is bound read-only over itself, since WASI
 * preopens have no read-only mode. Only system calls here: this child of a threaded parent may not
 * allocate. */
static void
wasm_confine(gpointer data)
{
    const char *datasets = data;
    static const char why[] = "covirt-agent: cannot give the wasm algorithm its own mount and network namespaces\n";

    setpgid(0, 0);
    if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount(datasets, datasets, NULL, MS_BIND | MS_REC, NULL) < 0 ||
        mount(NULL, datasets, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        ssize_t n = write(2, why, sizeof(why) - 1);  /* the step's stderr: the failure message */

        _exit(n < 0 ? 127 : 126);
    }
}

static void
kill_group(CvAgentRunner *r)
{
    /* never our own group, whatever went wrong in the child's setpgid */
    if (r->pgid > 1 && r->pgid != getpgrp())
        kill(-r->pgid, SIGKILL);
    r->pgid = 0;
}

static void
step_free(gpointer p)
{
    Step *s = p;

    g_strfreev(s->argv);
    g_free(s->setup_arg);
    g_free(s);
}

static void
runner_unref(CvAgentRunner *r)
{
    if (!g_atomic_int_dec_and_test(&r->ref))
        return;
    g_free(r->work_dir);
    g_free(r->last_stderr);
    g_strfreev(r->env);
    g_ptr_array_unref(r->steps);
    g_clear_object(&r->proc);
    g_clear_object(&r->cancel);
    g_free(r);
}

static void
finish(CvAgentRunner *r, gboolean ok, int code, const char *message)
{
    if (!r->cancelled && r->on_done)
        r->on_done(ok, code, message, r->user_data);
    r->cancelled = TRUE;
}

static void
emit_line(LineReader *lr)
{
    if (strcmp(lr->source, "algorithm-stderr") == 0 && lr->line->len) {
        g_free(lr->runner->last_stderr);
        lr->runner->last_stderr = g_strndup(lr->line->str, 512);
    }
    if (!lr->runner->cancelled && lr->runner->on_line)
        lr->runner->on_line(lr->source, lr->line->str, lr->runner->user_data);
    g_string_truncate(lr->line, 0);
}

static void step_io_done(CvAgentRunner *r);

static void
on_read(GObject *src, GAsyncResult *res, gpointer data)
{
    LineReader *lr = data;
    g_autoptr(GBytes) bytes = g_input_stream_read_bytes_finish(G_INPUT_STREAM(src), res, NULL);
    gsize n = 0;
    const char *p;

    if (!bytes || g_bytes_get_size(bytes) == 0) {
        if (lr->line->len)
            emit_line(lr);
        step_io_done(lr->runner);
        g_object_unref(lr->in);
        g_string_free(lr->line, TRUE);
        g_free(lr);
        return;
    }
    p = g_bytes_get_data(bytes, &n);
    for (gsize i = 0; i < n; i++) {
        if (p[i] == '\n') {
            emit_line(lr);
            continue;
        }
        g_string_append_c(lr->line, p[i] ? p[i] : ' ');
        /* a very long line is cut, so an algorithm cannot make the agent buffer without bound */
        if (lr->line->len >= CV_AGENT_LINE_MAX)
            emit_line(lr);
    }
    g_input_stream_read_bytes_async(lr->in, 4096, G_PRIORITY_DEFAULT, lr->runner->cancel, on_read, lr);
}

static void
read_lines(CvAgentRunner *r, GInputStream *in, const char *source)
{
    LineReader *lr = g_new0(LineReader, 1);

    lr->runner = r;
    lr->in = g_object_ref(in);
    lr->source = source;
    lr->line = g_string_new(NULL);
    r->pending++;
    g_input_stream_read_bytes_async(in, 4096, G_PRIORITY_DEFAULT, r->cancel, on_read, lr);
}

static void
on_wait(GObject *src, GAsyncResult *res, gpointer data)
{
    CvAgentRunner *r = data;

    g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
    step_io_done(r);
}

/* A step ends once its process has exited and both pipes are drained. */
static void
step_io_done(CvAgentRunner *r)
{
    Step *s;
    int code;

    if (--r->pending > 0)
        return;
    kill_group(r);
    if (r->cancelled) {
        runner_unref(r);
        return;
    }
    s = g_ptr_array_index(r->steps, r->next - 1);
    if (g_subprocess_get_if_exited(r->proc)) {
        code = g_subprocess_get_exit_status(r->proc);
        if (code != 0) {
            g_autofree char *msg = g_strdup_printf("%s exited with status %d%s%s", s->what, code,
                                                   r->last_stderr ? ": " : "", r->last_stderr ? r->last_stderr : "");
            finish(r, FALSE, code, msg);
            runner_unref(r);
            return;
        }
    } else {
        g_autofree char *msg = g_strdup_printf("%s was killed by signal %d", s->what,
                                               g_subprocess_get_term_sig(r->proc));
        finish(r, FALSE, -1, msg);
        runner_unref(r);
        return;
    }
    g_clear_object(&r->proc);
    run_next(r);
    runner_unref(r);
}

static void
run_next(CvAgentRunner *r)
{
    g_autoptr(GSubprocessLauncher) l = NULL;
    g_autoptr(GError) error = NULL;
    Step *s;

    while (r->next < r->steps->len) {
        s = g_ptr_array_index(r->steps, r->next++);
        if (s->func) {
            if (!s->func(r->work_dir, &error)) {
                g_autofree char *msg = g_strdup_printf("%s: %s", s->what, error->message);
                finish(r, FALSE, -1, msg);
                return;
            }
            continue;
        }
        /* python3, node… are looked up on the steps' own PATH, not the agent's */
        l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                      G_SUBPROCESS_FLAGS_STDIN_INHERIT | G_SUBPROCESS_FLAGS_SEARCH_PATH_FROM_ENVP);
        g_subprocess_launcher_set_environ(l, r->env);
        g_subprocess_launcher_set_cwd(l, r->work_dir);
        if (s->setup)
            g_subprocess_launcher_set_child_setup(l, s->setup, s->setup_arg, NULL);
        else
            g_subprocess_launcher_set_child_setup(l, own_group, NULL, NULL);
        g_clear_pointer(&r->last_stderr, g_free);
        r->proc = g_subprocess_launcher_spawnv(l, (const char *const *)s->argv, &error);
        if (!r->proc) {
            g_autofree char *msg = g_strdup_printf("cannot start %s: %s", s->what, error->message);
            finish(r, FALSE, -1, msg);
            return;
        }
        r->pgid = g_subprocess_get_identifier(r->proc) ? g_ascii_strtoll(g_subprocess_get_identifier(r->proc), NULL, 10) : 0;
        g_atomic_int_inc(&r->ref);  /* held until the step's I/O ends */
        r->pending = 0;
        read_lines(r, g_subprocess_get_stdout_pipe(r->proc), "algorithm-stdout");
        read_lines(r, g_subprocess_get_stderr_pipe(r->proc), "algorithm-stderr");
        r->pending++;
        g_subprocess_wait_async(r->proc, NULL, on_wait, r);
        return;
    }
    finish(r, TRUE, 0, "algorithm finished");
}

static gboolean
start_idle(gpointer data)
{
    CvAgentRunner *r = data;

    if (!r->cancelled)
        run_next(r);
    runner_unref(r);
    return G_SOURCE_REMOVE;
}

static void
add_cmd(GPtrArray *steps, const char *what, GStrv argv)
{
    Step *s = g_new0(Step, 1);

    s->argv = argv;
    s->what = what;
    g_ptr_array_add(steps, s);
}

/* a child whose setup is setup(setup_arg) (it must put the child in its own group too) */
static void
add_confined_cmd(GPtrArray *steps, const char *what, GStrv argv, GSpawnChildSetupFunc setup, char *setup_arg)
{
    Step *s = g_new0(Step, 1);

    s->argv = argv;
    s->what = what;
    s->setup = setup;
    s->setup_arg = setup_arg;
    g_ptr_array_add(steps, s);
}

static void
add_func(GPtrArray *steps, const char *what, StepFunc func)
{
    Step *s = g_new0(Step, 1);

    s->func = func;
    s->what = what;
    g_ptr_array_add(steps, s);
}

static GStrv
argv_with(const char *const *head, GStrv args)
{
    GStrvBuilder *b = g_strv_builder_new();
    GStrv out;

    g_strv_builder_addv(b, (const char **)head);
    if (args)
        g_strv_builder_addv(b, (const char **)args);
    out = g_strv_builder_end(b);
    g_strv_builder_unref(b);
    return out;
}

static gboolean
docker_extract(const char *work_dir, GError **error)
{
    g_autofree char *tar = g_build_filename(work_dir, "algo", "algorithm", NULL);
    g_autofree char *oci = g_build_filename(work_dir, "algo", "oci", NULL);

    if (g_mkdir_with_parents(oci, 0700) < 0) {
        g_set_error(error, CV_ERROR, CV_ERROR_IO, "cannot create %s: %s", oci, g_strerror(errno));
        return FALSE;
    }
    return cv_agent_archive_child_extract(tar, oci, "image", error);
}

char *
cv_agent_oci_config_patch(const char *text, gsize len, const char *work_dir, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse_object(text, len, "config.json", error);
    JsonObject *obj, *process = NULL;
    JsonArray *mounts = NULL;
    static const char *const dirs[] = { "datasets", "results" };

    if (!root)
        return NULL;
    obj = json_node_get_object(root);
    if (!cv_json_member_array(obj, "mounts", FALSE, &mounts, error) ||
        !cv_json_member_object(obj, "process", FALSE, &process, error)) {
        g_prefix_error(error, "config.json: ");
        return NULL;
    }
    if (!mounts) {
        json_object_set_array_member(obj, "mounts", json_array_new());
        mounts = json_object_get_array_member(obj, "mounts");
    }
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        JsonObject *m = json_object_new();
        JsonArray *opts = json_array_new();
        g_autofree char *src = g_build_filename(work_dir, dirs[i], NULL);
        g_autofree char *dst = g_strdup_printf("/%s", dirs[i]);
        json_object_set_string_member(m, "destination", dst);
        json_object_set_string_member(m, "type", "bind");
        json_object_set_string_member(m, "source", src);
        json_array_add_string_element(opts, "rbind");
        json_array_add_string_element(opts, i == 0 ? "ro" : "rw");
        json_object_set_array_member(m, "options", opts);
        json_array_add_object_element(mounts, m);
    }
    if (process) {
        json_object_set_boolean_member(process, "terminal", FALSE);
        json_object_set_string_member(process, "cwd", "/");
    }
    return cv_json_to_string(root, TRUE);
}

static gboolean
docker_patch_config(const char *work_dir, GError **error)
{
    g_autofree char *path = g_build_filename(work_dir, "algo", "bundle", "config.json", NULL);
    g_autoptr(GBytes) data = cv_read_file(path, 4 * 1024 * 1024, error);
    g_autofree char *text = NULL;

    if (!data || !(text = cv_agent_oci_config_patch(g_bytes_get_data(data, NULL), g_bytes_get_size(data), work_dir,
                                                    error)))
        return FALSE;
    return cv_write_file(path, text, strlen(text), 0600, error);
}

GStrv
cv_agent_runner_environ(const char *work_dir)
{
    GStrv env = NULL;

    env = g_environ_setenv(env, "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", TRUE);
    env = g_environ_setenv(env, "HOME", work_dir, TRUE);
    env = g_environ_setenv(env, "LANG", "C.UTF-8", TRUE);
    env = g_environ_setenv(env, "TMPDIR", work_dir, TRUE);
    return env;
}

CvAgentRunner *
cv_agent_runner_start(const CvManifest *m, const char *work_dir, CvAgentRunnerLineFunc on_line,
                      CvAgentRunnerDoneFunc on_done, gpointer user_data, GError **error)
{
    CvAgentRunner *r;
    g_autoptr(GPtrArray) steps = g_ptr_array_new_with_free_func(step_free);
    g_autofree char *algo = g_build_filename(work_dir, "algo", "algorithm", NULL);
    g_autofree char *reqs = g_build_filename(work_dir, "algo", "requirements.txt", NULL);
    g_autofree char *plan = g_build_filename(work_dir, "algo", "pip-plan.json", NULL);
    g_autofree char *site = g_build_filename(work_dir, "algo", "site-packages", NULL);
    GStrv env = cv_agent_runner_environ(work_dir);

    switch (m->algo_type) {
    case CV_MANIFEST_ALGO_BIN: {
        const char *head[] = { algo, NULL };
        add_cmd(steps, "the algorithm", argv_with(head, m->algo_args));
        break;
    }
    case CV_MANIFEST_ALGO_PYTHON: {
        const char *head[] = { "python3", algo, NULL };
        if (g_file_test(reqs, G_FILE_TEST_EXISTS)) {
            /* offline: the image's packages first, then the wheels uploaded with the algorithm; only
             * what the image lacks goes into site-packages, in front of the image's on sys.path */
            add_cmd(steps, "resolving the requirements", cv_agent_requirements_resolve_argv(work_dir, reqs, plan));
            add_func(steps, "choosing the wheels", cv_agent_requirements_plan);
            add_cmd(steps, "pip install", cv_agent_requirements_install_argv(work_dir));
            env = g_environ_setenv(env, "PYTHONPATH", site, TRUE);
        }
        env = g_environ_setenv(env, "PYTHONUNBUFFERED", "1", TRUE);
        env = g_environ_setenv(env, "PYTHONDONTWRITEBYTECODE", "1", TRUE);
        add_cmd(steps, "the algorithm", argv_with(head, m->algo_args));
        break;
    }
    case CV_MANIFEST_ALGO_WASM: {
        g_autofree char *node = g_find_program_in_path("node");
        g_autofree char *launcher = cv_agent_beside_self(WASI_LAUNCHER, NULL);
        g_autofree char *datasets = g_build_filename(work_dir, "datasets", NULL);
        g_autofree char *results = g_build_filename(work_dir, "results", NULL);
        const char *head[] = { node, "--experimental-wasi-unstable-preview1", "--no-warnings", launcher, datasets,
                               results, algo, NULL };
        if (!node || !launcher || !g_file_test(launcher, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE,
                        "wasm algorithms are not available in this image (it has no Node.js%s; the HAL's wasm "
                        "variant has it)", node ? " WASI launcher " WASI_LAUNCHER : "");
            g_strfreev(env);
            return NULL;
        }
        add_confined_cmd(steps, "the algorithm", argv_with(head, m->algo_args), wasm_confine, g_strdup(datasets));
        break;
    }
    case CV_MANIFEST_ALGO_DOCKER: {
        g_autofree char *umoci = g_find_program_in_path("umoci");
        g_autofree char *crun = g_find_program_in_path("crun");
        g_autofree char *image = g_build_filename(work_dir, "algo", "oci:latest", NULL);
        g_autofree char *bundle = g_build_filename(work_dir, "algo", "bundle", NULL);
        const char *unpack[] = { "umoci", "unpack", "--image", image, bundle, NULL };
        /* the CVM is the resource boundary: no cgroups for the one container it runs */
        const char *run[] = { "crun", "--cgroup-manager=disabled", "run", "--bundle", bundle, "covirt-algorithm", NULL };
        if (!umoci || !crun) {
            g_set_error(error, CV_ERROR, CV_ERROR_UNAVAILABLE,
                        "docker algorithms are not available in this image (umoci and crun are missing)");
            g_strfreev(env);
            return NULL;
        }
        add_func(steps, "extracting the OCI image", docker_extract);
        add_cmd(steps, "umoci unpack", g_strdupv((char **)unpack));
        add_func(steps, "preparing the container", docker_patch_config);
        add_cmd(steps, "the algorithm", g_strdupv((char **)run));
        break;
    }
    case CV_MANIFEST_ALGO_COUNT:
        break;
    }

    r = g_new0(CvAgentRunner, 1);
    r->ref = 1;
    r->work_dir = g_strdup(work_dir);
    r->env = env;
    r->steps = g_steal_pointer(&steps);
    r->cancel = g_cancellable_new();
    r->on_line = on_line;
    r->on_done = on_done;
    r->user_data = user_data;
    /* started from the main loop, so that on_done never runs inside this call */
    g_atomic_int_inc(&r->ref);
    g_idle_add(start_idle, r);
    return r;
}

void
cv_agent_runner_cancel(CvAgentRunner *r)
{
    if (!r)
        return;
    r->cancelled = TRUE;
    if (r->proc)
        g_subprocess_force_exit(r->proc);
    kill_group(r);
    g_cancellable_cancel(r->cancel);
    runner_unref(r);
}
