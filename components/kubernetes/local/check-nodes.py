# Checks an existing cluster before anything is deployed onto it: the API answers, and every node
# named in the stack's config exists. Runs where pulumi runs (standard library only); the API
# access (server, CA, client certificate or token) arrives as JSON on stdin; the node names are a
# JSON list in argv[1].
import base64
import json
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

access = json.load(sys.stdin)
wanted = json.loads(sys.argv[1])
server = access["server"].rstrip("/")

if access.get("insecure"):
    context = ssl._create_unverified_context()
else:
    context = ssl.create_default_context()
    if access.get("ca"):
        context.load_verify_locations(cadata=base64.b64decode(access["ca"]).decode())
headers = {"Accept": "application/json"}
if access.get("token"):
    headers["Authorization"] = "Bearer " + access["token"]
if access.get("cert"):
    # ssl reads a client key only from a file: a private 0600 one, removed right after.
    with tempfile.TemporaryDirectory() as scratch:
        pem = os.path.join(scratch, "client.pem")
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(access["cert"]) + b"\n" + base64.b64decode(access["key"]))
        context.load_cert_chain(pem)


def get(path: str) -> dict[str, Any]:
    request = urllib.request.Request(server + path, headers=headers)
    with urllib.request.urlopen(request, context=context, timeout=15) as response:
        return json.load(response)


try:
    version = get("/version").get("gitVersion", "?")
    names = []
    token = ""
    while True:  # the node list may come in pages
        page = get(
            "/api/v1/nodes?limit=500" + (f"&continue={urllib.parse.quote(token)}" if token else "")
        )
        names += [item["metadata"]["name"] for item in page.get("items", [])]
        token = page.get("metadata", {}).get("continue", "")
        if not token:
            break
except urllib.error.HTTPError as e:
    sys.exit(
        f"the Kubernetes API at {server} refused to list nodes (HTTP {e.code}); the kubeconfig"
        " must hold a client certificate or a token allowed to list nodes"
    )
except (urllib.error.URLError, OSError, ValueError) as e:
    sys.exit(f"the Kubernetes API at {server} does not answer: {e}")

missing = [name for name in wanted if name not in names]
if missing:
    sys.exit(
        f"the Kubernetes cluster at {server} has no node named {', '.join(missing)}"
        f" (it has: {', '.join(sorted(names)) or 'no nodes'}); nodes[].name must be the"
        " Kubernetes node names"
    )
print(f"Kubernetes {version} at {server}: nodes {', '.join(wanted)} exist")
