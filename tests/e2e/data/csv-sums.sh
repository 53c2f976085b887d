# covirt sample docker algorithm: busybox sh + awk in an OCI image that tests/e2e/computation.py
# builds with umoci.  For every CSV in /datasets, its rows and the sums of its first two columns
# go to /results/sums.txt; /results/container.txt says what the container saw of itself, so the
# test can tell it ran in crun's namespaces with the datasets read-only.
set -e
cd /datasets
awk -F, 'FNR > 1 { n[FILENAME]++; s1[FILENAME] += $1; s2[FILENAME] += $2 }
    END { for (f in n) printf "%s %d %.6f %.6f\n", f, n[f], s1[f], s2[f] }' *.csv | sort >/results/sums.txt
{
    echo "hostname $(hostname)"
    echo "pid $$"
    if touch /datasets/probe 2>/dev/null; then echo "datasets writable"; else echo "datasets read-only"; fi
} >/results/container.txt
echo "csv-sums: $(awk '{ r += $2 } END { print r }' /results/sums.txt) rows from" *.csv
