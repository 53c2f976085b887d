# covirt sample algorithm for the datascience HAL: a logistic regression with pandas and
# scikit-learn over every CSV in datasets/ (columns a,b,label), as Cocos's samples do.
import glob
import json
import os

import pandas as pd
from sklearn.linear_model import LogisticRegression

frames = [pd.read_csv(p) for p in sorted(glob.glob("datasets/*.csv"))]
df = pd.concat(frames, ignore_index=True)
model = LogisticRegression().fit(df[["a", "b"]], df["label"])
acc = float(model.score(df[["a", "b"]], df["label"]))
print("logreg: %d rows, training accuracy %.4f" % (len(df), acc))
os.makedirs("results", exist_ok=True)
with open("results/model.json", "w") as out:
    json.dump({"rows": len(df), "accuracy": acc, "coef": model.coef_[0].tolist(),
               "intercept": float(model.intercept_[0])}, out, indent=1)
