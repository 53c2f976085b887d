# A python algorithm whose requirement comes from a wheel uploaded with it (pip runs offline).
import os
import covirttestpkg

os.makedirs("results", exist_ok=True)
with open("results/answer.txt", "w") as out:
    out.write("%d\n" % covirttestpkg.ANSWER)
