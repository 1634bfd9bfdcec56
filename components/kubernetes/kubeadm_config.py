"""kubeadm's configuration files and containerd's, for one node: pure functions of the stack config.

No secret appears here: the bootstrap token and the certificate key are placeholders the node step
replaces from its stdin when it writes the file (0600), so the step's command line holds neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from config.model import KubeadmKubernetes

from .installed import API_PORT

TOKEN = "@TOKEN@"
CERTIFICATE_KEY = "@CERTIFICATE_KEY@"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
# Where the registry component writes each registry's hosts.toml.
CERTS_D = "/etc/containerd/certs.d"
# flannel's init container copies its plugin here; the OS package's plugins are linked beside it.
CNI_BIN = "/opt/cni/bin"
# The pause image kubeadm v1.36 installs (cmd/kubeadm/app/constants PauseVersion); containerd's
# sandbox image must be the same, or the kubelet and containerd disagree on which to keep.
PAUSE_TAG = "3.10.2"
KUBEADM_API = "kubeadm.k8s.io/v1beta4"
# The node step decides: true where containerd lacks CAP_SYS_RESOURCE (a node that is itself a
# container), where setting a pod's negative OOM score adjustment would fail every sandbox.
RESTRICT_OOM = "@RESTRICT_OOM_SCORE_ADJ@"


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str
    control_plane: bool


def _registration(node: NodeInfo) -> dict[str, object]:
    registration: dict[str, object] = {
        "name": node.name,
        "criSocket": CRI_SOCKET,
        "kubeletExtraArgs": [{"name": "node-ip", "value": node.address}],
    }
    if node.control_plane:
        # Masters run Rainbond's pods too (a gateway or build node is often a master, and a
        # three-node platform has only masters), as RKE2's servers do: no control-plane taint.
        registration["taints"] = []
    return registration


def _documents(*documents: dict[str, object]) -> str:
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents)


def api_endpoint(kubernetes: KubeadmKubernetes) -> str:
    return f"{kubernetes.api_host}:{API_PORT}"


def init_config(kubernetes: KubeadmKubernetes, node: NodeInfo) -> str:
    """`kubeadm init --config`: this control plane, the cluster, the kubelets' and kube-proxy's
    configuration (the last two are stored in the cluster and every joining node gets them)."""
    etcd: dict[str, object] = {"local": {"dataDir": "/var/lib/etcd"}}
    if kubernetes.etcd_image_tag is not None:
        etcd["local"] = {"dataDir": "/var/lib/etcd", "imageTag": kubernetes.etcd_image_tag}
    return _documents(
        {
            "apiVersion": KUBEADM_API,
            "kind": "InitConfiguration",
            # Never expires: nodes join on a later `pulumi up` too. It only lets a node ask to
            # join (bootstrap tokens' RBAC); `pulumi up --replace` of the token rotates it.
            "bootstrapTokens": [
                {"token": TOKEN, "ttl": "0s", "description": "rainbond-ha: nodes join with it"}
            ],
            "certificateKey": CERTIFICATE_KEY,
            "nodeRegistration": _registration(node),
            "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": API_PORT},
        },
        {
            "apiVersion": KUBEADM_API,
            "kind": "ClusterConfiguration",
            "kubernetesVersion": kubernetes.version,
            "controlPlaneEndpoint": api_endpoint(kubernetes),
            "imageRepository": kubernetes.image_repository,
            "etcd": etcd,
            "networking": {
                "podSubnet": str(kubernetes.pod_subnet),
                "serviceSubnet": str(kubernetes.service_subnet),
            },
        },
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "cgroupDriver": kubernetes.cgroup_driver,
            # cgroup v1 hosts still exist (older kernels, some VMs and containers): the kubelet
            # warns there rather than refusing to start.
            "failCgroupV1": False,
        },
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "conntrack": {"maxPerCore": kubernetes.conntrack_max_per_core},
        },
    )


def join_config(kubernetes: KubeadmKubernetes, node: NodeInfo, ca_hash: str) -> str:
    """`kubeadm join --config`: found through the API address, trusted by the CA's hash."""
    join: dict[str, object] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": api_endpoint(kubernetes),
                "token": TOKEN,
                "caCertHashes": [ca_hash],
            }
        },
        "nodeRegistration": _registration(node),
    }
    if node.control_plane:
        join["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": API_PORT},
            "certificateKey": CERTIFICATE_KEY,
        }
    return _documents(join)


def containerd_config(kubernetes: KubeadmKubernetes) -> str:
    """containerd 1.6/1.7's config (version 2): the CRI plugin with kubeadm's pause image, the
    cgroup driver the kubelet uses, flannel's CNI folder and the registry trust's certs.d."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    systemd = "true" if kubernetes.cgroup_driver == "systemd" else "false"
    return (
        "# Written by rainbond-ha (kubernetes step); replaced on every run.\n"
        "version = 2\n"
        f"[{cri}]\n"
        f'  sandbox_image = "{kubernetes.image_repository}/pause:{PAUSE_TAG}"\n'
        f"  restrict_oom_score_adj = {RESTRICT_OOM}\n"
        f"[{cri}.containerd.runtimes.runc]\n"
        '  runtime_type = "io.containerd.runc.v2"\n'
        f"[{cri}.containerd.runtimes.runc.options]\n"
        f"  SystemdCgroup = {systemd}\n"
        f"[{cri}.cni]\n"
        f'  bin_dir = "{CNI_BIN}"\n'
        '  conf_dir = "/etc/cni/net.d"\n'
        f"[{cri}.registry]\n"
        f'  config_path = "{CERTS_D}"\n'
    )
