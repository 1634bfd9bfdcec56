# Prints the kubeconfig Pulumi and operators use: a token of the ServiceAccount
# kube-system/rainbond-ha (cluster-admin), the cluster CA, and the HA API address.
# Not RKE2's admin client certificate: that one is valid for a year and is only renewed when
# rke2-server restarts (docs.rke2.io security/certificates), so a copy held by Pulumi would
# silently expire. A token Secret of type kubernetes.io/service-account-token does not expire
# (kubernetes.io docs, "Manually create a long-lived API token for a ServiceAccount"); the
# legacy token clean-up only invalidates auto-generated ones. Each run recreates what is missing
# (account, binding, token Secret), so a run repairs a deleted or revoked token.
# Params: API_ADDRESS, API_PORT, ACCOUNT, RENEWAL (changes once per renewal period), KUBECTL,
# ADMIN_KUBECONFIG.
set -euo pipefail
kube() { "${KUBECTL}" --kubeconfig "${ADMIN_KUBECONFIG}" "$@"; }
work=$(umask 077 && mktemp -d)
trap 'rm -rf "${work}"' EXIT
kube apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: ${ACCOUNT}, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ${ACCOUNT}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: ServiceAccount, name: ${ACCOUNT}, namespace: kube-system}]
---
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: ${ACCOUNT}-token
  namespace: kube-system
  annotations: {kubernetes.io/service-account.name: ${ACCOUNT}}
EOF
token=""
for _ in $(seq 1 60); do
  token=$(kube -n kube-system get secret "${ACCOUNT}-token" -o jsonpath='{.data.token}' 2>/dev/null || true)
  [ -n "${token}" ] && break
  sleep 1
done
[ -n "${token}" ] || { echo "the token of ${ACCOUNT} was not issued within 60 s" >&2; exit 1; }
ca=$(kube config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
# Written to a private file and printed by kubectl, which also proves it parses.
cat >"${work}/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rainbond-ha
  cluster:
    server: https://${API_ADDRESS}:${API_PORT}
    certificate-authority-data: ${ca}
users:
- name: ${ACCOUNT}
  user:
    token: $(printf '%s' "${token}" | base64 -d)
contexts:
- name: rainbond-ha
  context: {cluster: rainbond-ha, user: ${ACCOUNT}}
current-context: rainbond-ha
EOF
"${KUBECTL}" config view --raw --kubeconfig "${work}/kubeconfig"
