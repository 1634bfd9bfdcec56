"""What the program reads from a kubeconfig: the API server, and the access the node check needs."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml


def _current(kubeconfig: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster and user entries of a kubeconfig's current context (or its only cluster)."""
    document: dict[str, Any] = yaml.safe_load(kubeconfig)
    clusters = {entry["name"]: entry["cluster"] for entry in document.get("clusters", [])}
    users = {entry["name"]: entry.get("user") or {} for entry in document.get("users", [])}
    contexts = {entry["name"]: entry["context"] for entry in document.get("contexts", [])}
    current = contexts.get(document.get("current-context", ""))
    if current is None:
        return next(iter(clusters.values())), next(iter(users.values()), {})
    return clusters[current["cluster"]], users.get(current.get("user", ""), {})


def api_server(kubeconfig: str) -> str:
    """The API server URL of a kubeconfig's current context (or its only cluster)."""
    return str(_current(kubeconfig)[0]["server"])


def api_access(kubeconfig: str) -> dict[str, Any]:
    """What the node check needs to call the API: server, CA and credentials, as base64 data."""
    cluster, user = _current(kubeconfig)

    def data(entry: dict[str, Any], key: str) -> str | None:
        if entry.get(f"{key}-data"):
            return str(entry[f"{key}-data"])
        path = entry.get(key)
        return base64.b64encode(Path(path).expanduser().read_bytes()).decode() if path else None

    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = Path(user["tokenFile"]).expanduser().read_text().strip()
    return {
        "server": cluster["server"],
        "insecure": bool(cluster.get("insecure-skip-tls-verify")),
        "ca": data(cluster, "certificate-authority"),
        "cert": data(user, "client-certificate"),
        "key": data(user, "client-key"),
        "token": token,
    }


# Pulumi's credential is re-fetched at the first `pulumi up` of each period: the fetch repairs a
# deleted or revoked token and picks up a new cluster CA, and every other `up` leaves it alone.
RENEWAL_DAYS = 30
_RENEWAL_EPOCH = date(2024, 1, 1)


def renewal_period(today: date, days: int = RENEWAL_DAYS) -> str:
    """The first day of the renewal period `today` falls in (periods of `days` days)."""
    if days < 1:
        raise ValueError(f"a renewal period of {days} days is not a period")
    start = _RENEWAL_EPOCH + timedelta(days=(today - _RENEWAL_EPOCH).days // days * days)
    return start.isoformat()
