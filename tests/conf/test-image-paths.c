/* The host files a CVM spec may name (kernel, initrd, ovmf, igvm): only regular files in the image
 * directories, checked on what is opened, and a refusal that does not tell whether a file outside
 * exists. Parsing refuses what it can see in the path; cv_cvm_spec_check_files() the rest. */
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include "cvm-spec.h"
#include "cv-file.h"

static char *dir;        /* the image directory */
static char *outside;    /* a directory beside it, outside */

static char *
in(const char *base, const char *name)
{
    return g_build_filename(base, name, NULL);
}

/* The message of the refusal of initrd=path, or NULL when the spec parses and its files pass. */
static char *
refusal(const char *const *env, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(CvDefaults) d = cv_defaults_new(env, "/dev/null", &error);
    g_autoptr(CvCvmSpec) spec = NULL;
    g_autofree char *json = g_strdup_printf("{\"name\":\"x\",\"initrd\":\"%s\"}", path);

    g_assert_no_error(error);
    spec = cv_cvm_spec_from_data(json, -1, d, &error);
    if (spec)
        cv_cvm_spec_check_files(spec, d, &error);
    if (!error)
        return NULL;
    g_assert_true(error->domain == CV_ERROR && error->code == CV_ERROR_INVALID);
    if (!g_str_has_prefix(error->message, "initrd: "))
        g_test_message("%s", error->message);
    g_assert_true(g_str_has_prefix(error->message, "initrd: "));
    return g_strdup(error->message);
}

static char **
env_for(const char *image_dirs)
{
    g_auto(GStrv) env = NULL;
    g_autofree char *kernel = in(dir, "vmlinuz");

    env = g_environ_setenv(env, "MANAGER_DOMAIN_TYPE", "qemu", TRUE);
    env = g_environ_setenv(env, "MANAGER_QEMU_DISK_IMG_KERNEL_FILE", kernel, TRUE);
    env = g_environ_setenv(env, "MANAGER_QEMU_DISK_IMG_ROOTFS_FILE", "/nonexistent/covirt/initrd", TRUE);
    env = g_environ_setenv(env, "MANAGER_QEMU_OVMF_CODE_FILE", kernel, TRUE);
    env = g_environ_setenv(env, "MANAGER_IMAGE_MAX_SIZE", "1M", TRUE);
    env = g_environ_setenv(env, "MANAGER_IMAGE_DIRS", image_dirs, TRUE);
    return g_steal_pointer(&env);
}

/* What a spec may name, and what it may not, with the reason a user reads. */
static void
test_refusals(void)
{
    g_auto(GStrv) env = env_for(dir);
    static const struct {
        const char *name;      /* in the image directory, or an absolute path */
        const char *reason;    /* NULL: accepted */
    } cases[] = {
        { "initrd.img", NULL },
        { "link-in", NULL },                                       /* a symlink to a file beside it */
        { "./initrd.img", NULL },
        { "/etc/shadow", "is not a file in the image directories" },
        { "/dev/zero", "is not a file in the image directories" },
        { "link-out", "is not a file in the image directories" },  /* a symlink to a file outside */
        { "link-dir-out/secret", "is not a file in the image directories" },
        { "dangling", "is not a file in the image directories" },
        { "missing", "is not a file in the image directories" },
        { "../outside/secret", "must not contain '..'" },
        { "fifo", "is not a regular file" },                       /* and the open does not block */
        { "subdir", "is not a regular file" },
        { "big", "is larger than 1048576 bytes" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *path = cases[i].name[0] == '/' ? g_strdup(cases[i].name) : in(dir, cases[i].name);
        g_autofree char *message = refusal((const char *const *)env, path);

        g_test_message("%s → %s", cases[i].name, message ? message : "accepted");
        if (!cases[i].reason)
            g_assert_null(message);
        else
            g_assert_nonnull(strstr(message ? message : "", cases[i].reason));
    }
}

/* "/etc/shadow" and a path that exists nowhere are refused alike, as are a link out to an existing
 * file and one to nothing: the answer is no existence oracle. */
static void
test_same_refusal(void)
{
    g_auto(GStrv) env = env_for(dir);
    static const char *const pairs[][2] = {
        { "/etc/shadow", "/etc/covirt-no-such-file" },
        { "/root/.bashrc", "/root/covirt-no-such-file" },
        { "link-out", "dangling" },
        { "link-dir-out/secret", "link-dir-out/no-such-file" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(pairs); i++) {
        g_autofree char *a = pairs[i][0][0] == '/' ? g_strdup(pairs[i][0]) : in(dir, pairs[i][0]);
        g_autofree char *b = pairs[i][1][0] == '/' ? g_strdup(pairs[i][1]) : in(dir, pairs[i][1]);
        g_autofree char *ma = refusal((const char *const *)env, a);
        g_autofree char *mb = refusal((const char *const *)env, b);
        g_auto(GStrv) pa = g_strsplit(ma ? ma : "", a, -1);
        g_auto(GStrv) pb = g_strsplit(mb ? mb : "", b, -1);
        g_autofree char *ga = g_strjoinv("PATH", pa);
        g_autofree char *gb = g_strjoinv("PATH", pb);

        g_assert_nonnull(ma);
        g_assert_nonnull(mb);
        /* the message names the path the user sent, and nothing else differs */
        g_assert_cmpstr(ga, ==, gb);
    }
}

/* A directory configured through a symlink, the defaults' files wherever the operator put them, and a
 * directory the operator did not list. */
static void
test_configured_dirs(void)
{
    g_autofree char *via = in(outside, "via-link");
    g_auto(GStrv) env = env_for(via);
    g_autofree char *through = in(via, "initrd.img");
    g_autofree char *direct = in(dir, "initrd.img");
    g_autofree char *message = NULL, *secret = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(CvDefaults) d = NULL;
    guint64 size = 0;
    g_auto(CvFd) fd = -1;

    g_assert_null(refusal((const char *const *)env, through));
    /* the resolved directory is listed too: the same file by its real path */
    g_assert_null(refusal((const char *const *)env, direct));
    /* a firmware directory is in the default list only */
    message = refusal((const char *const *)env, "/usr/share/OVMF/OVMF_VARS.fd");
    g_assert_nonnull(message);
    /* the operator's default file is allowed wherever it is, and is still opened with the checks */
    secret = in(outside, "secret");
    env = g_environ_setenv(env, "MANAGER_QEMU_OVMF_CODE_FILE", secret, TRUE);
    d = cv_defaults_new((const char *const *)env, "/dev/null", &error);
    g_assert_no_error(error);
    fd = cv_defaults_open_image(d, "ovmf", secret, &size, &error);
    g_assert_no_error(error);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(size, ==, strlen("not for a spec"));
    g_assert_cmpint(cv_defaults_open_image(d, "ovmf", "/etc/passwd", &size, NULL), ==, -1);
}

static void
test_default_dirs(void)
{
    g_autoptr(CvDefaults) d = cv_defaults_new((const char *const[]){ "MANAGER_DOMAIN_TYPE=qemu",
                                                                     "MANAGER_QEMU_DISK_IMG_KERNEL_FILE=/opt/hal/vmlinuz",
                                                                     NULL }, "/dev/null", NULL);

    g_assert_nonnull(d);
    g_assert_true(g_strv_contains((const char *const *)d->image_dirs, "/opt/hal"));
    g_assert_true(g_strv_contains((const char *const *)d->image_dirs, "/var/lib/covirt/hal"));
    g_assert_true(g_strv_contains((const char *const *)d->image_dirs, "/usr/share/OVMF"));
    g_assert_true(g_strv_contains((const char *const *)d->image_dirs, "/usr/share/ovmf"));
    g_assert_true(g_strv_contains((const char *const *)d->image_dirs, "/usr/share/qemu"));
    g_assert_cmpuint(d->image_max_bytes, ==, 1ULL << 30);
}

static void
make_tree(void)
{
    g_autofree char *top = g_dir_make_tmp("cvtest-images-XXXXXX", NULL);
    g_autofree char *secret = NULL, *big = NULL;
    int fd;

    g_assert_nonnull(top);
    dir = in(top, "images");
    outside = in(top, "outside");
    g_assert_cmpint(g_mkdir(dir, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(outside, 0755), ==, 0);
    secret = in(outside, "secret");
    g_assert_true(g_file_set_contents(secret, "not for a spec", -1, NULL));
    {
        g_autofree char *initrd = in(dir, "initrd.img");
        g_autofree char *kernel = in(dir, "vmlinuz");
        g_autofree char *link_in = in(dir, "link-in");
        g_autofree char *link_out = in(dir, "link-out");
        g_autofree char *link_dir = in(dir, "link-dir-out");
        g_autofree char *dangling = in(dir, "dangling");
        g_autofree char *fifo = in(dir, "fifo");
        g_autofree char *sub = in(dir, "subdir");
        g_autofree char *via = in(outside, "via-link");

        g_assert_true(g_file_set_contents(initrd, "an initrd", -1, NULL));
        g_assert_true(g_file_set_contents(kernel, "a kernel", -1, NULL));
        g_assert_cmpint(symlink("initrd.img", link_in), ==, 0);
        g_assert_cmpint(symlink(secret, link_out), ==, 0);
        g_assert_cmpint(symlink(outside, link_dir), ==, 0);
        g_assert_cmpint(symlink("/nonexistent/covirt", dangling), ==, 0);
        g_assert_cmpint(mkfifo(fifo, 0644), ==, 0);
        g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);
        g_assert_cmpint(symlink(dir, via), ==, 0);
    }
    big = in(dir, "big");
    fd = g_open(big, O_WRONLY | O_CREAT, 0644);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 2 << 20), ==, 0);
    close(fd);
}

static void
rm_tree(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *child = in(path, name);

        if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
            rm_tree(child);
        else
            g_unlink(child);
    }
    g_rmdir(path);
}

int
main(int argc, char **argv)
{
    int status;
    g_autofree char *top = NULL;

    g_test_init(&argc, &argv, NULL);
    make_tree();
    g_test_add_func("/images/refusals", test_refusals);
    g_test_add_func("/images/same-refusal", test_same_refusal);
    g_test_add_func("/images/configured-dirs", test_configured_dirs);
    g_test_add_func("/images/default-dirs", test_default_dirs);
    status = g_test_run();
    top = g_path_get_dirname(dir);
    rm_tree(top);
    g_free(dir);
    g_free(outside);
    return status;
}
