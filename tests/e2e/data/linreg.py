# covirt sample algorithm (python3 standard library only): reads every CSV in datasets/
# (columns x,y), fits y = slope*x + intercept by least squares and writes results/fit.json.
import csv
import glob
import json
import os

xs, ys, files = [], [], []
for path in sorted(glob.glob("datasets/*.csv")):
    files.append(os.path.basename(path))
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            xs.append(float(row["x"]))
            ys.append(float(row["y"]))
n = len(xs)
mx, my = sum(xs) / n, sum(ys) / n
sxx = sum((x - mx) ** 2 for x in xs)
sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
slope = sxy / sxx
fit = {"rows": n, "files": files, "slope": slope, "intercept": my - slope * mx, "mean_y": my}
print("linreg: %d rows from %s, slope %.6f" % (n, " ".join(files), slope))
os.makedirs("results", exist_ok=True)
with open("results/fit.json", "w") as out:
    json.dump(fit, out, indent=1)
