"""The lab's Kubernetes control plane (see control_plane.py and build.sh)."""
