#include "requirements.h"
#include "manifest.h"
#include "cv-error.h"
#include "cv-json.h"
#include "cv-util.h"

#include <string.h>
#include <json-glib/json-glib.h>

#define LINE_SHOWN 80  /* bytes of a refused line in the message */

/* One logical line (continuations joined, comment gone): a requirement, or a pip option. */
static gboolean
check_line(const char *line, guint number, GError **error)
{
    g_auto(GStrv) words = NULL;
    const char *why = NULL;

    if (!*line)
        return TRUE;
    words = g_strsplit_set(line, " \t", -1);
    if (line[0] == '-')
        why = "pip options (another index, another file, an editable install) are not accepted";
    else if (!g_ascii_isalnum(line[0]))
        why = "a requirement starts with a project name (no paths)";
    else if (strstr(line, "://") || strchr(line, '@'))
        why = "URLs and direct references are not accepted: upload the wheel";
    for (char **w = words; !why && *w; w++) {
        if ((*w)[0] == '-' && !g_str_has_prefix(*w, "--hash="))
            why = "the only option a requirement may carry is --hash=";
    }
    if (why) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "requirements line %u '%.*s': %s", number, LINE_SHOWN,
                    line, why);
        return FALSE;
    }
    return TRUE;
}

gboolean
cv_agent_requirements_check_text(const char *text, gsize len, GError **error)
{
    g_autoptr(GString) logical = g_string_new(NULL);
    const char *end;
    guint number = 0, first = 1;

    if (!g_utf8_validate(text, len, &end) || memchr(text, '\0', len)) {
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the requirements are not UTF-8 text");
        return FALSE;
    }
    for (const char *p = text; p < text + len;) {
        const char *nl = memchr(p, '\n', text + len - p);
        gsize n = nl ? (gsize)(nl - p) : (gsize)(text + len - p);
        g_autofree char *raw = g_strndup(p, n);
        char *hash;

        number++;
        p += n + (nl ? 1 : 0);
        /* pip drops a comment that starts the line or follows a blank */
        for (hash = strchr(raw, '#'); hash; hash = strchr(hash + 1, '#')) {
            if (hash == raw || g_ascii_isspace(hash[-1])) {
                *hash = '\0';
                break;
            }
        }
        g_strstrip(raw);
        if (!logical->len)
            first = number;
        if (g_str_has_suffix(raw, "\\")) {  /* a continuation: the next line belongs to this one */
            raw[strlen(raw) - 1] = '\0';
            g_string_append_printf(logical, "%s ", raw);
            continue;
        }
        g_string_append(logical, raw);
        g_strstrip(logical->str);
        if (!check_line(logical->str, first, error))
            return FALSE;
        g_string_truncate(logical, 0);
    }
    g_strstrip(logical->str);
    return check_line(logical->str, first, error);
}

GStrv
cv_agent_requirements_resolve_argv(const char *work_dir, const char *requirements, const char *report)
{
    g_autofree char *wheels = g_build_filename(work_dir, "algo", "wheels", NULL);
    /* --isolated: no pip configuration or PIP_* variables; a dry run with a report never touches the
     * environment (nor asks whether it is externally managed) */
    const char *argv[] = { "python3", "-m", "pip", "install", "--isolated", "--dry-run", "--no-index",
                           "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore", "--quiet",
                           "--find-links", wheels, "--report", report, "-r", requirements, NULL };

    return g_strdupv((char **)argv);
}

GStrv
cv_agent_requirements_install_argv(const char *work_dir)
{
    g_autofree char *site = g_build_filename(work_dir, "algo", "site-packages", NULL);
    g_autofree char *list = g_build_filename(work_dir, "algo", "pip-install.txt", NULL);
    const char *argv[] = { "python3", "-m", "pip", "install", "--isolated", "--no-index", "--no-deps",
                           "--no-cache-dir", "--disable-pip-version-check", "--root-user-action=ignore", "--quiet",
                           "--target", site, "-r", list, NULL };

    return g_strdupv((char **)argv);
}

GStrv
cv_agent_requirements_wheels_from_report(const char *text, gsize len, const char *wheels_dir, GError **error)
{
    g_autoptr(JsonNode) root = cv_json_parse_object(text, len, "pip's report", error);
    g_autofree char *prefix = g_strconcat("file://", wheels_dir, "/", NULL);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    JsonArray *install = NULL;

    if (!root || !cv_json_member_array(json_node_get_object(root), "install", TRUE, &install, error))
        return NULL;
    for (guint i = 0; i < json_array_get_length(install); i++) {
        JsonNode *item = json_array_get_element(install, i);
        JsonObject *info = NULL;
        const char *url = NULL;
        g_autofree char *path = NULL;

        if (!JSON_NODE_HOLDS_OBJECT(item) ||
            !cv_json_member_object(json_node_get_object(item), "download_info", TRUE, &info, error) ||
            !cv_json_member_string(info, "url", TRUE, &url, error)) {
            g_prefix_error(error, "pip's report, install[%u]: ", i);
            return NULL;
        }
        /* only a wheel the owner uploaded, by its plain name (api.c admits no other) */
        path = g_uri_unescape_string(url + (g_str_has_prefix(url, prefix) ? strlen(prefix) : 0), NULL);
        if (!g_str_has_prefix(url, prefix) || !path || !cv_manifest_filename_is_safe(path) ||
            !g_str_has_suffix(path, ".whl")) {
            g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "pip would install %.200s, which is not an uploaded wheel",
                        url);
            return NULL;
        }
        {
            g_autofree char *file = g_build_filename(wheels_dir, path, NULL);
            g_strv_builder_add(b, file);
        }
    }
    return g_strv_builder_end(b);
}

gboolean
cv_agent_requirements_plan(const char *work_dir, GError **error)
{
    g_autofree char *report = g_build_filename(work_dir, "algo", "pip-plan.json", NULL);
    g_autofree char *wheels_dir = g_build_filename(work_dir, "algo", "wheels", NULL);
    g_autofree char *list = g_build_filename(work_dir, "algo", "pip-install.txt", NULL);
    g_autoptr(GBytes) data = cv_read_file(report, 16 * 1024 * 1024, error);
    g_auto(GStrv) wheels = NULL;
    g_autofree char *joined = NULL, *text = NULL;

    if (!data || !(wheels = cv_agent_requirements_wheels_from_report(g_bytes_get_data(data, NULL),
                                                                       g_bytes_get_size(data), wheels_dir, error)))
        return FALSE;
    joined = g_strjoinv("\n", wheels);
    text = wheels[0] ? g_strconcat(joined, "\n", NULL) : g_strdup("");
    return cv_write_file(list, text, strlen(text), 0600, error);
}

/* pip's reason, from its stderr: the requirement nothing satisfies, else its last ERROR line */
static void
set_refusal(const char *err, GError **error)
{
    static const char nothing[] = "No matching distribution found for ";
    const char *p = err ? strstr(err, nothing) : NULL;
    g_auto(GStrv) lines = NULL;
    const char *last = NULL;

    if (p) {
        g_autofree char *what = g_strndup(p + strlen(nothing), strcspn(p + strlen(nothing), "\r\n"));
        g_set_error(error, CV_ERROR, CV_ERROR_INVALID,
                    "requirement '%.200s' is satisfied neither by this image's Python packages nor by an uploaded "
                    "wheel (upload its wheel, and the wheels it needs, before the requirements)", what);
        return;
    }
    lines = g_strsplit(err ? err : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        if (g_str_has_prefix(*l, "ERROR: ") || (**l && !last))
            last = *l;
    }
    g_set_error(error, CV_ERROR, CV_ERROR_INVALID, "the requirements do not resolve: %.300s",
                last ? last : "pip failed without a message");
}

static void
on_resolved(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GTask) task = data;
    GSubprocess *p = G_SUBPROCESS(src);
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;

    if (!g_subprocess_communicate_utf8_finish(p, res, NULL, &err, &error)) {
        g_task_return_new_error(task, CV_ERROR, CV_ERROR_INTERNAL, "cannot read pip: %s", error->message);
        return;
    }
    if (g_subprocess_get_successful(p)) {
        g_task_return_boolean(task, TRUE);
        return;
    }
    set_refusal(err, &error);
    g_task_return_error(task, g_steal_pointer(&error));
}

void
cv_agent_requirements_check_async(const char *work_dir, const char *const *env, const char *requirements,
                                  GCancellable *cancel, GAsyncReadyCallback callback, gpointer data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancel, callback, data);
    g_autofree char *report = g_build_filename(work_dir, "tmp", "pip-check.json", NULL);
    g_auto(GStrv) argv = cv_agent_requirements_resolve_argv(work_dir, requirements, report);
    g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(
        G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_SEARCH_PATH_FROM_ENVP);
    g_autoptr(GSubprocess) p = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) text = cv_read_file(requirements, 1024 * 1024, &error);

    if (!text || !cv_agent_requirements_check_text(g_bytes_get_data(text, NULL), g_bytes_get_size(text), &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_subprocess_launcher_set_environ(l, (char **)env);
    g_subprocess_launcher_set_cwd(l, work_dir);
    if (!(p = g_subprocess_launcher_spawnv(l, (const char *const *)argv, &error))) {
        g_task_return_new_error(task, CV_ERROR, CV_ERROR_UNAVAILABLE,
                                "python requirements cannot be checked in this image: %s", error->message);
        return;
    }
    g_subprocess_communicate_utf8_async(p, NULL, cancel, on_resolved, g_steal_pointer(&task));
}

gboolean
cv_agent_requirements_check_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
