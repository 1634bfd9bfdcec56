"""The Kubernetes cluster Rainbond runs on."""

from .component import KubernetesCluster

__all__ = ["KubernetesCluster"]
