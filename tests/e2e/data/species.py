# covirt e2e algorithm for the datascience HAL, shaped as Cocos's lin_reg sample is used: uploaded with
# `-r requirements.txt` (pandas, scikit-learn, joblib, which the image has), over iris-like CSV datasets
# (four measurements and a species). Fits a logistic regression on a training split, scores it on the
# rest, and writes the model (joblib) and its scores to results/.
import glob
import json
import os

import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

df = pd.concat([pd.read_csv(p) for p in sorted(glob.glob("datasets/*.csv"))], ignore_index=True)
train, test = train_test_split(df, test_size=0.2, random_state=0, stratify=df["species"])
model = LogisticRegression(max_iter=1000).fit(train[FEATURES], train["species"])
scores = {"rows": len(df), "classes": sorted(df["species"].unique().tolist()),
          "train_accuracy": float(model.score(train[FEATURES], train["species"])),
          "test_accuracy": float(model.score(test[FEATURES], test["species"]))}
print("species: %d rows, accuracy %.3f training / %.3f testing" % (
    scores["rows"], scores["train_accuracy"], scores["test_accuracy"]))
os.makedirs("results", exist_ok=True)
joblib.dump(model, "results/model.joblib")
with open("results/model.json", "w") as out:
    json.dump(scores, out, indent=1)
