#!/usr/bin/env python3
"""Writes a one-image OCI layout (tag "v1") for the OCI tests:
  make-oci.py DIR plain|traversal|whiteout
plain: one gzip layer with algo/main.py, requirements.txt, data/iris.csv; traversal: a layer whose
entry is ../escape.txt; whiteout: a second layer deleting a file with .wh."""
import gzip, hashlib, io, json, os, sys, tarfile


def blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def layer(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, content, mode in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 0
            t.addfile(info, io.BytesIO(content))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), "sha256:" + hashlib.sha256(tar).hexdigest()


def main():
    d, kind = sys.argv[1], sys.argv[2]
    layers = [[("algo/main.py", b"print('mean')\n", 0o644), ("algo/requirements.txt", b"numpy\n", 0o644),
               ("data/iris.csv", b"a,b\n1,2\n", 0o644)]]
    if kind == "traversal":
        layers = [[("../escape.txt", b"out\n", 0o644)]]
    elif kind == "whiteout":
        layers.append([("data/.wh.iris.csv", b"", 0o644)])
    descs, diff_ids = [], []
    for files in layers:
        gz, diff = layer(files)
        digest, size = blob(d, gz)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size})
        diff_ids.append(diff)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cdigest, csize = blob(d, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdigest, "size": csize},
                           "layers": descs}).encode()
    mdigest, msize = blob(d, manifest)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": msize,
             "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


main()
