/* A `wasm` algorithm for the tests, compiled by them with clang-14 --target=wasm32-wasi and Debian's
 * wasi-libc: for every CSV file in datasets/ (a header line, then numeric columns) it writes the row
 * count and each column's sum to results/stats.txt, prefixed by its arguments; and it probes its
 * sandbox: results/sandbox.txt says, for each thing it must not be able to do, "refused" or "ALLOWED". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* one line "NAME ROWS SUM1 SUM2 …" for datasets/NAME */
static int
sum_file(FILE *out, const char *name)
{
    char path[512], line[4096];
    double sums[16] = { 0 };
    int cols = 0, rows = 0;
    FILE *f;

    snprintf(path, sizeof(path), "datasets/%s", name);
    if (!(f = fopen(path, "r"))) {
        fprintf(stderr, "wasi-stats: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!fgets(line, sizeof(line), f)) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = line, *end;
        int c = 0;
        if (line[0] == '\n')
            continue;
        for (; c < 16; c++) {
            sums[c] += strtod(p, &end);
            if (*end != ',')
                break;
            p = end + 1;
        }
        cols = c + 1;
        rows++;
    }
    fclose(f);
    fprintf(out, "%s %d", name, rows);
    for (int c = 0; c < cols; c++)
        fprintf(out, " %.6f", sums[c]);
    fprintf(out, "\n");
    return rows;
}

static void
probe(FILE *out, const char *what, int fd_or_rc)
{
    fprintf(out, "%s %s\n", what, fd_or_rc < 0 ? "refused" : "ALLOWED");
    if (fd_or_rc >= 0 && strstr(what, "open"))
        close(fd_or_rc);
}

static void
probe_sandbox(const char *first_dataset)
{
    FILE *out = fopen("results/sandbox.txt", "w");
    char path[512];

    if (!out)
        return;
    snprintf(path, sizeof(path), "datasets/%s", first_dataset ? first_dataset : "x.csv");
    probe(out, "open-dataset-for-writing", open(path, O_WRONLY | O_APPEND));
    probe(out, "open-new-file-in-datasets", open("datasets/new.txt", O_WRONLY | O_CREAT, 0644));
    probe(out, "unlink-dataset", unlink(path));
    probe(out, "mkdir-in-datasets", mkdir("datasets/sub", 0755));
    probe(out, "open-/etc/passwd", open("/etc/passwd", O_RDONLY));
    probe(out, "open-results/../algo/algorithm", open("results/../algo/algorithm", O_RDONLY));
    probe(out, "open-datasets/../algo/algorithm", open("datasets/../algo/algorithm", O_RDONLY));
    probe(out, "open-/", open("/", O_RDONLY | O_DIRECTORY));
    fprintf(out, "environment %d\n", environ && environ[0] ? 1 : 0);
    fclose(out);
}

int
main(int argc, char **argv)
{
    DIR *d = opendir("datasets");
    struct dirent *e;
    char *names[64];
    int n = 0, total = 0;
    FILE *out;

    if (!d) {
        fprintf(stderr, "wasi-stats: cannot open datasets/: %s\n", strerror(errno));
        return 1;
    }
    while ((e = readdir(d)) && n < 64) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".csv") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), by_name);
    if (!(out = fopen("results/stats.txt", "w"))) {
        fprintf(stderr, "wasi-stats: cannot create results/stats.txt: %s\n", strerror(errno));
        return 1;
    }
    fprintf(out, "args");
    for (int i = 1; i < argc; i++)
        fprintf(out, " %s", argv[i]);
    fprintf(out, "\n");
    for (int i = 0; i < n; i++) {
        int rows = sum_file(out, names[i]);
        if (rows < 0)
            return 1;
        total += rows;
    }
    fclose(out);
    probe_sandbox(n ? names[0] : NULL);
    printf("wasi-stats: %d files, %d rows\n", n, total);
    return 0;
}
