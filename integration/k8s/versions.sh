# Every version the Kubernetes checks build, in one place (integration/k8s/tools.sh builds them
# from Go modules; a cache directory keyed by these versions keeps the binaries).
K8S_VERSION=v1.34.4           # kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
K8S_STAGING_VERSION=v0.34.4   # k8s.io/api, client-go, ...: the published staging modules of K8S_VERSION
ETCD_VERSION=v3.6.16
CONTAINERD_VERSION=v2.2.9     # containerd 2, ctr and containerd-shim-runc-v2
RUNC_VERSION=v1.4.4           # the peer: runc's newest release, with libseccomp (cgo)
CRI_TOOLS_VERSION=v1.34.0     # crictl and critest at Kubernetes' minor version
CRI_TOOLS_16_VERSION=v1.30.0  # critest for Debian's containerd 1.6: v1.26 fits 1.6 best, but of the releases
                              # before 1.34 the module proxy here serves only v1.30.0
MOBY_VERSION=v2.0.0-beta.24   # dockerd of today's Docker Engine (29: API 1.56), module github.com/moby/moby/v2:
                              # Debian's Docker 20.10 cannot run a shim other than runc's (runtimeType came in 23)
