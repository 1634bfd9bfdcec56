# Placeholder: a Distribution registry on port ${PORT}; the password arrives on stdin.
set -euo pipefail
IFS= read -r PASSWORD
[ -n "${PASSWORD}" ]
echo "would install docker-registry on port ${PORT} with htpasswd user ${USERNAME}"
