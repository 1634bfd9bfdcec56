#!/usr/bin/env bash
# Builds the lab's Kubernetes from Go modules: etcd, the Kubernetes binaries (kube-apiserver,
# kube-controller-manager, kube-scheduler, kube-proxy, kubeadm, kubelet, kubectl, in one go build so
# shared packages compile once), kwok (fake nodes that run pods), CoreDNS, flannel, its CNI plugin
# and a pause program; then packs what a kubeadm cluster runs as image archives beside the
# binaries (artifacts/, the layout of kubernetes.artifactsDir). Versions are pinned in versions.env
# and in the wrapper modules beside this file (go-*).
# It builds in two stages: first what the host's control plane runs (etcd, kwok, the Kubernetes
# binaries: `--host` stops there and prints that directory), then the rest of a kubeadm cluster.
# So the lab's API can start while CoreDNS and flannel still build (make test does).
# Output goes to a version-keyed cache; a second run finds it and takes a second.
# Prints the directory holding the binaries as its only line on stdout; progress goes to stderr.
# Cold build on 2 cores: about 10 minutes (docs/kubernetes.md has the measurement).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lab/kube/versions.env
. "$here/versions.env"

export GOTOOLCHAIN=local GOFLAGS=-modcacherw CGO_ENABLED=0

started=$SECONDS
step() { printf '[lab-kube %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
die() {
    printf 'lab-kube: %s\n' "$*" >&2
    exit 1
}
host_only=false
case "${1:-}" in
--host) host_only=true ;;
"") ;;
*) die "usage: build.sh [--host]" ;;
esac

caches=${RAINBOND_HA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rainbond-ha}
mkdir -p "$caches/lab-kube"
# One build of each stage at a time: a second (lab up while make test builds) waits, then finds
# it cached. A build holds one lock at a time, so a --host run waits only for the first stage.
lock() {
    if ! flock -n "$1"; then
        step "waiting for another build of the lab's Kubernetes to finish"
        flock "$1"
    fi
}
exec 9>"$caches/lab-kube/build.lock" 8>"$caches/lab-kube/kubeadm.lock"
lock 9
toolchain=$(cd "$here/../../toolchain" && pwd)
# Go as the pulumi toolchain gets it: the host's, or the pinned one from the module proxy.
# shellcheck source=toolchain/versions.env
. "$toolchain/versions.env"
# shellcheck source=toolchain/ensure_go.sh
. "$toolchain/ensure_go.sh"
ensure_go "$caches/toolchain" || die "no Go $GO_MIN_VERSION or newer, on PATH or from the Go module proxy"

# The wrapper modules must pin what versions.env says, or the cache key would lie.
pinned() { grep -qE "^(require )?[[:space:]]*$2 v$3( |$)" "$here/$1/go.mod" || die "$1/go.mod does not pin $2 v$3 (versions.env)"; }
pinned go-etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
pinned go-etcd go.etcd.io/etcd/etcdutl/v3 "$ETCD_VERSION"
pinned go-kube k8s.io/kubernetes "$KUBERNETES_VERSION"
pinned go-kwok sigs.k8s.io/kwok "$KWOK_VERSION"
pinned go-coredns github.com/coredns/coredns "$COREDNS_VERSION"
pinned go-flannel github.com/flannel-io/flannel "$FLANNEL_VERSION"
pinned go-cni github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION"

# Anything that changes the binaries changes the key: versions, module sources, this script, Go.
src_key=$(
    cd "$here"
    {
        go env GOVERSION
        cat versions.env build.sh artifacts.py images.py
        find go-* -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) | sort | xargs cat
    } | sha256sum | cut -c1-12
)
cache=$caches/lab-kube
key_dir="$cache/k8s-v$KUBERNETES_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION-$src_key"
host="$key_dir/host"
bin="$key_dir/bin"
kubernetes=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubeadm kubelet kubectl)
host_binaries=(etcd etcdutl kwok "${kubernetes[@]}")
kubeadm_binaries=(coredns flanneld install-conf flannel pause)

# has DIR BINARY...: every binary is in DIR, with kwok's stages.
has() {
    local dir=$1 b
    shift
    for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
    [ -f "$dir/kwok-stages.yaml" ]
}
complete() { has "$bin" "${host_binaries[@]}" "${kubeadm_binaries[@]}" && [ -f "$bin/artifacts/complete" ]; }
# cached DIR: print it and stop.
cached() {
    step "cached: $1"
    echo "$1"
    exit 0
}

complete && cached "$bin"
has "$host" "${host_binaries[@]}" && $host_only && cached "$host"

log="$cache/build.log"
# run CMD...: a build command with its output in the log; on failure, the end of the log.
run() {
    printf '+ %s\n' "$*" >>"$log"
    if ! nice -n 10 "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "failed: $* (full log: $log)"
    fi
}

# partial DIR: start DIR anew as DIR.partial, which the stage renames to DIR once it is complete.
partial() {
    partial="$1.partial"
    rm -rf "$partial"
    mkdir -p "$partial"
}

# The first stage: what the host's control plane runs.
built_host=false
if ! has "$host" "${host_binaries[@]}"; then
    built_host=true
    : >"$log"
    partial "$host"
    step "building the host's control plane into $host (cold: about 7 minutes on 2 cores; log: $log)"

    t0=$SECONDS
    (cd "$here/go-etcd" && run go build -trimpath -ldflags "-s -w" -o "$partial/etcd" .)
    # etcdutl restores a snapshot (docs/operations.md); it goes into the etcd image, as upstream's.
    (cd "$here/go-etcd" && run go build -trimpath -ldflags "-s -w" -o "$partial/etcdutl" \
        go.etcd.io/etcd/etcdutl/v3)
    step "etcd and etcdutl v$ETCD_VERSION: built in $((SECONDS - t0))s"

    t0=$SECONDS
    (cd "$here/go-kwok" && run go build -trimpath -ldflags "-s -w" -o "$partial/" sigs.k8s.io/kwok/cmd/kwok)
    # kwok does nothing without stages: take upstream's defaults (what kwokctl gives its clusters):
    # nodes become Ready and keep a lease, pods become Ready, Job pods complete, deleted pods go.
    stages="$(cd "$here/go-kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
        pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
        printf -- '---\n'
        cat "$stages/$f"
    done >"$partial/kwok-stages.yaml"
    step "kwok v$KWOK_VERSION: built in $((SECONDS - t0))s"

    # Without these the servers report v0.0.0-master, which clients that parse the version reject.
    minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
    ver=k8s.io/component-base/version
    ldflags="-s -w -X $ver.gitVersion=v$KUBERNETES_VERSION -X $ver.gitMajor=1 -X $ver.gitMinor=$minor"
    ldflags="$ldflags -X $ver.gitTreeState=clean -X $ver.buildDate=1970-01-01T00:00:00Z"
    t0=$SECONDS
    (cd "$here/go-kube" && run go build -trimpath -ldflags "$ldflags" -o "$partial/" \
        "${kubernetes[@]/#/k8s.io/kubernetes/cmd/}")
    step "${kubernetes[*]} v$KUBERNETES_VERSION: built in $((SECONDS - t0))s"

    rm -rf "$host"
    mv "$partial" "$host"
    step "the host's control plane: done in $((SECONDS - started))s: $host"
fi
if $host_only; then
    echo "$host"
    exit 0
fi

# The second stage: the rest of a kubeadm cluster, beside hard links to the first stage's binaries.
flock -u 9
lock 8
complete && cached "$bin"
$built_host || : >"$log"
partial "$bin"
cp -al "$host/." "$partial/"
step "building the rest of a kubeadm cluster into $bin (cold: about 4 minutes on 2 cores)"

t0=$SECONDS
(cd "$here/go-coredns" && run go build -trimpath -ldflags "-s -w" -o "$partial/coredns" \
    github.com/coredns/coredns)
step "coredns v$COREDNS_VERSION: built in $((SECONDS - t0))s"

# flanneld's udp backend is cgo on amd64 (upstream builds it with cgo): linked statically.
t0=$SECONDS
(cd "$here/go-flannel" && run env CGO_ENABLED=1 go build -trimpath \
    -ldflags "-s -w -linkmode external -extldflags -static -X github.com/flannel-io/flannel/pkg/version.Version=v$FLANNEL_VERSION" \
    -o "$partial/flanneld" github.com/flannel-io/flannel &&
    run go build -trimpath -ldflags "-s -w" -o "$partial/install-conf" \
        github.com/flannel-io/flannel/cmd/install_conf)
(cd "$here/go-cni" && run go build -trimpath -ldflags "-s -w" -o "$partial/flannel" \
    github.com/containernetworking/plugins/plugins/meta/flannel)
(cd "$here/go-pause" && run go build -trimpath -ldflags "-s -w" -o "$partial/pause" .)
step "flannel v$FLANNEL_VERSION, its CNI plugin (plugins v$CNI_PLUGINS_VERSION), pause: built in $((SECONDS - t0))s"

t0=$SECONDS
(cd "$here/../.." && run python3 -m lab.kube.artifacts "$partial" "$partial/artifacts")
step "artifacts (binaries and image archives for kubeadm): packed in $((SECONDS - t0))s"

rm -rf "$bin"
mv "$partial" "$bin"
step "done in $((SECONDS - started))s: $bin"
echo "$bin"
