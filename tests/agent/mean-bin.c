/* A "bin" algorithm for the agent tests: the mean of the first column of every
 * file named on the command line (skipping each header line), into results/mean.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int
main(int argc, char **argv)
{
    double sum = 0;
    long n = 0;
    char line[4096];

    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            perror(argv[i]);
            return 3;
        }
        if (!fgets(line, sizeof(line), f)) {
            fclose(f);
            continue;
        }
        while (fgets(line, sizeof(line), f)) {
            sum += strtod(line, NULL);
            n++;
        }
        fclose(f);
    }
    if (n == 0)
        return 4;
    mkdir("results", 0755);
    FILE *out = fopen("results/mean.txt", "w");
    if (!out)
        return 5;
    fprintf(out, "%.6f\n", sum / n);
    fclose(out);
    printf("mean of %ld values\n", n);
    return 0;
}
