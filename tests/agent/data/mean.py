# Mean of column "x" over every CSV in datasets/ (python3 standard library only).
import csv
import glob
import os
import sys

values = []
for path in sorted(glob.glob("datasets/*.csv")):
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values.append(float(row["x"]))
print("read %d values from %s" % (len(values), " ".join(sys.argv[1:]) or "datasets/"))
print("a line on stderr", file=sys.stderr)
os.makedirs("results", exist_ok=True)
with open("results/mean.txt", "w") as out:
    out.write("%.6f\n" % (sum(values) / len(values)))
