# covirt e2e algorithm in the shape of Cocos's addition sample: standard library only, no dataset, its
# input in the manifest's algo_args; writes the sum of its arguments to results/result.txt.
import os
import sys

total = sum(float(a) for a in sys.argv[1:])
print("addition: %s = %g" % (" + ".join(sys.argv[1:]), total))
os.makedirs("results", exist_ok=True)
with open("results/result.txt", "w") as out:
    out.write("%g\n" % total)
