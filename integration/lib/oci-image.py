#!/usr/bin/env python3
"""Writes an OCI image layout tar of one uncompressed layer:
oci-image.py ROOTFS NAME OUT.tar [ENTRYPOINT...] (the command is `sh` without an entrypoint).
No registry is reachable here, so containerd's image comes from this (ctr images import)."""
import hashlib, io, json, os, sys, tarfile

rootfs, name, out = sys.argv[1:4]
entrypoint = sys.argv[4:]
blobs = {}

def add(data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}

layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(rootfs, arcname=".")
layer_desc = add(layer.getvalue())
config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], **({"Entrypoint": entrypoint} if entrypoint else {"Cmd": ["sh"]})},
          "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}
config_desc = add(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}]}
manifest_desc = add(json.dumps(manifest).encode())
index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **manifest_desc,
         "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}]}

index_bytes = json.dumps(index).encode()


def member(t, path, data):
    info = tarfile.TarInfo(path)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))

with tarfile.open(out, "w") as t:
    member(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    member(t, "index.json", index_bytes)
    for digest, data in blobs.items():
        member(t, "blobs/sha256/" + digest.split(":", 1)[1], data)
