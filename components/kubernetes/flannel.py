"""The pod network of a kubeadm cluster: flannel, as upstream's kube-flannel.yml (v0.28.10)
installs it, with the stack's pod subnet, backend and images."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from config.model import KubeadmKubernetes

NAMESPACE = "kube-flannel"
_LABELS = {"app": "flannel", "tier": "node", "k8s-app": "flannel"}
_CNI_CONF = {
    "name": "cbr0",
    "cniVersion": "0.3.1",
    "plugins": [
        {"type": "flannel", "delegate": {"hairpinMode": True, "isDefaultGateway": True}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}


def install_flannel(
    name: str, kubernetes: KubeadmKubernetes, provider: k8s.Provider, parent: pulumi.Resource
) -> k8s.apps.v1.DaemonSet:
    """flannel's DaemonSet (and what it needs); nodes become Ready once it runs on them."""
    flannel = kubernetes.flannel

    def opts(*after: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(after))

    namespace = k8s.core.v1.Namespace(
        f"{name}-flannel-namespace",
        metadata={
            "name": NAMESPACE,
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
        },
        opts=opts(),
    )
    account = k8s.core.v1.ServiceAccount(
        f"{name}-flannel-account",
        metadata={"name": "flannel", "namespace": NAMESPACE},
        opts=opts(namespace),
    )
    role = k8s.rbac.v1.ClusterRole(
        f"{name}-flannel-role",
        metadata={"name": "flannel"},
        rules=[
            {"api_groups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"api_groups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"api_groups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
        ],
        opts=opts(),
    )
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-flannel-binding",
        metadata={"name": "flannel"},
        role_ref={
            "api_group": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "flannel",
        },
        subjects=[{"kind": "ServiceAccount", "name": "flannel", "namespace": NAMESPACE}],
        opts=opts(role, account),
    )
    net_conf = {"Network": str(kubernetes.pod_subnet), "Backend": {"Type": flannel.backend}}
    settings = k8s.core.v1.ConfigMap(
        f"{name}-flannel-config",
        metadata={"name": "kube-flannel-cfg", "namespace": NAMESPACE, "labels": _LABELS},
        data={
            "cni-conf.json": json.dumps(_CNI_CONF, indent=2),
            "net-conf.json": json.dumps(net_conf, indent=2),
        },
        opts=opts(namespace),
    )
    config_mount: k8s.core.v1.VolumeMountArgsDict = {
        "name": "flannel-cfg",
        "mount_path": "/etc/kube-flannel/",
    }
    pod: k8s.core.v1.PodSpecArgsDict = {
        "host_network": True,
        "priority_class_name": "system-node-critical",
        "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
        "service_account_name": "flannel",
        "init_containers": [
            {
                "name": "install-cni-plugin",
                "image": flannel.cni_plugin_image,
                "command": ["cp"],
                "args": ["-f", "/flannel", "/opt/cni/bin/flannel"],
                "volume_mounts": [{"name": "cni-plugin", "mount_path": "/opt/cni/bin"}],
            },
            {
                "name": "install-cni",
                "image": flannel.image,
                "command": ["/opt/bin/install-conf"],
                "args": ["/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"],
                "volume_mounts": [{"name": "cni", "mount_path": "/etc/cni/net.d"}, config_mount],
            },
        ],
        "containers": [
            {
                "name": "kube-flannel",
                "image": flannel.image,
                "command": ["/opt/bin/flanneld"],
                "args": ["--ip-masq", "--kube-subnet-mgr", "--healthz-port=8081"],
                "ports": [{"name": "healthz", "container_port": 8081, "protocol": "TCP"}],
                "readiness_probe": {
                    "http_get": {"path": "/readyz", "port": "healthz"},
                    "initial_delay_seconds": 5,
                    "period_seconds": 10,
                },
                "resources": {"requests": {"cpu": "100m", "memory": "50Mi"}},
                "security_context": {
                    "privileged": False,
                    "capabilities": {"add": ["NET_ADMIN", "NET_RAW"]},
                },
                "env": [
                    {
                        "name": "POD_NAME",
                        "value_from": {"field_ref": {"field_path": "metadata.name"}},
                    },
                    {
                        "name": "POD_NAMESPACE",
                        "value_from": {"field_ref": {"field_path": "metadata.namespace"}},
                    },
                    {"name": "EVENT_QUEUE_DEPTH", "value": "5000"},
                ],
                "volume_mounts": [
                    {"name": "run", "mount_path": "/run/flannel"},
                    config_mount,
                    {"name": "xtables-lock", "mount_path": "/run/xtables.lock"},
                ],
            }
        ],
        "volumes": [
            {"name": "run", "host_path": {"path": "/run/flannel"}},
            {"name": "cni-plugin", "host_path": {"path": "/opt/cni/bin"}},
            {"name": "cni", "host_path": {"path": "/etc/cni/net.d"}},
            {"name": "flannel-cfg", "config_map": {"name": "kube-flannel-cfg"}},
            {
                "name": "xtables-lock",
                "host_path": {"path": "/run/xtables.lock", "type": "FileOrCreate"},
            },
        ],
    }
    spec: k8s.apps.v1.DaemonSetSpecArgsDict = {
        "selector": {"match_labels": {"app": "flannel"}},
        # One node at a time: a node's pods lose no network while the others' restart.
        "update_strategy": {"type": "RollingUpdate", "rolling_update": {"max_unavailable": 1}},
        "template": {"metadata": {"labels": _LABELS}, "spec": pod},
    }
    return k8s.apps.v1.DaemonSet(
        f"{name}-flannel",
        metadata={"name": "kube-flannel-ds", "namespace": NAMESPACE, "labels": _LABELS},
        spec=spec,
        opts=opts(binding, settings),
    )
