#!/usr/bin/env python3
"""A small read-only OCI registry on 127.0.0.1, for the Kubernetes checks: no registry is
reachable from this machine, so the images critest and the cluster pull are built here and served
as a mirror of registry.k8s.io and gcr.io (containerd's hosts.toml points at it).

  registry.py build DIR BUSYBOX_ROOTFS PAUSE_BINARY   writes the images into DIR
  registry.py serve DIR PORTFILE                      serves DIR on 127.0.0.1, a free port,
                                                      written to PORTFILE once listening

An image is one layer of the busybox rootfs (shared by all), and where an image needs files of
its own (a user, a web page, a marker telling it apart), a second small layer. The repositories
are those the critest release names (cri-tools' pkg/validate/consts.go and images/build), by
path without the registry host: the mirror serves every upstream the same way.
"""
import hashlib, http.server, io, json, os, sys, tarfile

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# the users and groups of the upstream busybox image
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65533:
nobody:x:65534:
"""


def tar_of(files=None, rootfs=None):
    """An uncompressed layer: a directory, or {path: (text, mode)}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        if rootfs:
            t.add(rootfs, arcname=".")
        for path, (text, mode) in sorted((files or {}).items()):
            data = text.encode() if isinstance(text, str) else text
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


class Store:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "blobs"), exist_ok=True)

    def blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.root, "blobs", digest), "wb") as f:
            f.write(data)
        return {"digest": digest, "size": len(data)}

    def image(self, refs, layers, config):
        """Writes one image (a list of layer tars) and tags it as every REPO:TAG in refs."""
        descs = [dict(self.blob(l), mediaType="application/vnd.oci.image.layer.v1.tar") for l in layers]
        diff_ids = [d["digest"] for d in descs]
        cfg = {"architecture": "amd64", "os": "linux", "config": config,
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cfg_desc = dict(self.blob(json.dumps(cfg, sort_keys=True).encode()),
                        mediaType="application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": cfg_desc, "layers": descs}
        m = self.blob(json.dumps(manifest, sort_keys=True).encode())
        for ref in refs:
            repo, tag = ref.rsplit(":", 1)
            d = os.path.join(self.root, "repos", repo)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, tag), "w") as f:
                f.write(m["digest"])


def build(root, busybox, pause):
    s = Store(root)
    base = tar_of(rootfs=busybox)
    etc = {"etc/passwd": (PASSWD, 0o644), "etc/group": (GROUP, 0o644)}
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    sh = {"Env": env, "Cmd": ["sh"]}
    e2e, cri = "e2e-test-images", "k8s-staging-cri-tools"
    s.image([f"{e2e}/busybox:1.29-2", f"{e2e}/busybox:1.36", "vrun/busybox:latest"], [base, tar_of(etc)], sh)
    web = dict(etc, **{"www/index.html": ("<h1>vrun test page</h1>\n", 0o644)})
    # nginx and httpd stand-ins, web servers on busybox's httpd (the rootfs' /usr/sbin/nginx)
    s.image([f"{e2e}/nginx:1.14-2"], [base, tar_of(web)],
            {"Env": env, "Entrypoint": ["nginx", "master process"], "ExposedPorts": {"80/tcp": {}}})
    s.image([f"{cri}/hostnet-nginx-amd64:latest"], [base, tar_of(web)],
            {"Env": env + ["PORT=12003"], "Entrypoint": ["nginx", "master process"]})
    s.image([f"{e2e}/httpd:2.4.39-4"], [base, tar_of(web)],
            {"Env": env, "Entrypoint": ["sh", "-c", "echo httpd serving /www; exec httpd -f -p 80 -h /www"]})
    # the nonewprivs image: nnp, setuid root
    with open(os.path.join(busybox, "usr/local/bin/nnp"), "rb") as f:
        nnp = {"usr/local/bin/nnp": (f.read(), 0o4755)}
    s.image([f"{e2e}/nonewprivs:1.3"], [base, tar_of(dict(etc, **nnp))],
            {"Env": env, "Entrypoint": ["/usr/local/bin/nnp"]})
    for name, user in [("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
                       ("test-image-user-uid-group", "1003:1004"),
                       ("test-image-user-username-group", "www-data:1004")]:
        s.image([f"{cri}/{name}:latest"], [base, tar_of(etc)], dict(sh, User=user))
    group = dict(etc, **{
        "etc/passwd": (PASSWD + "default-user:x:1000:1000::/home/default-user:/bin/sh\n", 0o644),
        "etc/group": (GROUP + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n", 0o644)})
    s.image([f"{cri}/test-image-predefined-group:latest"], [base, tar_of(group)], dict(sh, User="1000"))
    # images told apart by a file of their name (cri-tools' images/image-test), and one image
    # under several tags
    for name in ["test-image-latest:latest", "test-image-tag:test", "test-image-tag:all",
                 "test-image-1:latest", "test-image-2:latest", "test-image-3:latest"]:
        marker = name.split(":")[0] + "-" + name.split(":")[1]
        s.image([f"{cri}/{name}"], [base, tar_of(dict(etc, **{marker: (marker + "\n", 0o644)}))], sh)
    # (a marker of its own: an image of the same config as another is that image, with its tags)
    s.image([f"{cri}/test-image-tags:{t}" for t in "123"],
            [base, tar_of(dict(etc, **{"test-image-tags": ("test-image-tags\n", 0o644)}))], sh)
    # the pod sandbox: Debian's catatonit, as containerd 2.2 names its default pause image
    with open(pause, "rb") as f:
        catatonit = f.read()
    s.image(["pause:3.10.1", "pause:3.10", "pause:3.9"], [tar_of({"catatonit": (catatonit, 0o755)})],
            {"Entrypoint": ["/catatonit", "-P"], "User": "65535:65535"})


class Handler(http.server.BaseHTTPRequestHandler):
    root = "."

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def blob(self, digest, ctype):
        path = os.path.join(self.root, "blobs", os.path.basename(digest))
        if not digest.startswith("sha256:") or not os.path.isfile(path):
            return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
        with open(path, "rb") as f:
            data = f.read()
        self.send(200, data, [("Content-Type", ctype), ("Docker-Content-Digest", digest)])

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            return self.send(200, b"{}", [("Content-Type", "application/json")])
        if not path.startswith("/v2/") or ".." in path:
            return self.send(404)
        rest = path[len("/v2/"):]
        if "/manifests/" in rest:
            repo, ref = rest.rsplit("/manifests/", 1)
            if not ref.startswith("sha256:"):
                try:
                    with open(os.path.join(self.root, "repos", repo, ref)) as f:
                        ref = f.read().strip()
                except OSError:
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return self.blob(ref, MANIFEST)
        if "/blobs/" in rest:
            return self.blob(rest.rsplit("/blobs/", 1)[1], "application/octet-stream")
        self.send(404)

    do_HEAD = do_GET


def serve(root, portfile):
    Handler.root = root
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "build":
        build(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(*sys.argv[2:])
    else:
        sys.exit(__doc__)
