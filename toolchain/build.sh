#!/usr/bin/env bash
# Makes the pulumi CLI, its Python language host and the kubernetes, command and random resource
# plugins available to this project without downloading prebuilt binaries:
#   - a `pulumi` already on PATH (with its language host beside it) is kept;
#   - otherwise the CLI is built from Go modules into a version-keyed cache;
#   - each plugin is taken from the user's plugin cache when the wanted version is there, otherwise
#     built from Go modules, then installed into the project's own PULUMI_HOME.
# Writes toolchain/.env (sourced by the Makefile and the tests) with PATH and the offline settings.
# A second run finds everything in the cache and takes seconds.
# --without-kubernetes leaves the kubernetes plugin out (the longest build): stacks that have no
# Kubernetes resource run without it, while it builds (make test).
set -euo pipefail

with_kubernetes=1
case ${1:-} in
"") ;;
--without-kubernetes) with_kubernetes=0 ;;
*)
    echo "usage: $0 [--without-kubernetes]" >&2
    exit 2
    ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
# shellcheck source=toolchain/versions.env
. "$here/versions.env"

cache=${RAINBOND_HA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rainbond-ha}/toolchain
log="$cache/build.log"
pulumi_home="$project/.pulumi-home"
mkdir -p "$cache" "$pulumi_home" "$project/.state"

started=$SECONDS
step() { printf '[toolchain %4ds] %s\n' "$((SECONDS - started))" "$*"; }
# One build at a time in a cache: a second waits, then finds what the first built.
exec 9>"$cache/build.lock"
if ! flock -n 9; then
    step "waiting for another toolchain build to finish (its log: $log)"
    flock 9
fi
: >"$log"

export GOTOOLCHAIN=local GOFLAGS=-modcacherw CGO_ENABLED=0

die() {
    printf 'toolchain: %s\n' "$*" >&2
    printf 'toolchain: full log: %s\n' "$log" >&2
    exit 1
}
# run CMD...: runs a build command with its output in the log; on failure shows the command and the
# end of its output.
run() {
    printf '+ %s\n' "$*" >>"$log"
    # Niced: the builds run beside the lab tests in make test, whose timers must keep time.
    if ! nice -n 10 "$@" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "failed: $*"
    fi
}

# shellcheck source=toolchain/ensure_go.sh
. "$here/ensure_go.sh"
need_go() { ensure_go "$cache" || die "no Go $GO_MIN_VERSION or newer, on PATH or from the Go module proxy"; }

# module_dir MODULE: the module's folder in the module cache, downloading it first when the cache is cold.
module_dir() { go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'; }

# src_key DIR [PATH...]: a key of a Go wrapper module's go.mod, go.sum and the .go files under the
# PATHs (default: all of them), so a change to what a binary is built from rebuilds that binary
# only: editing a stand-in plugin does not rebuild the CLI.
src_key() {
    local dir=$1
    shift
    # shellcheck disable=SC2046 # one file name a word
    (cd "$dir" && cat go.mod go.sum $(find "${@:-.}" -name '*.go' | sort) | sha256sum | cut -c1-12)
}

# --- the pulumi CLI and the Python language host -------------------------------------------------

cli_bin=""
if existing=$(command -v pulumi 2>/dev/null) && [ -x "$(dirname "$existing")/pulumi-language-python" ] &&
    [[ "$existing" != "$cache"/* ]]; then
    cli_bin=$(dirname "$existing")
    step "pulumi: using $("$existing" version) from PATH"
else
    need_go
    key="pulumi-v$PULUMI_VERSION-$(src_key "$here/go" cmd/pulumi-language-python)"
    cli_bin="$cache/$key/bin"
    if [ -x "$cli_bin/pulumi" ] && [ -x "$cli_bin/pulumi-language-python" ]; then
        step "pulumi v$PULUMI_VERSION: cached"
    else
        step "pulumi v$PULUMI_VERSION: building from Go modules (cold: about 5 minutes on 2 cores)"
        t0=$SECONDS
        mkdir -p "$cli_bin.partial"
        (
            cd "$here/go"
            run go build -trimpath -tags osusergo,grpcnotrace -o "$cli_bin.partial/" \
                -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
                github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
            step "pulumi: built in $((SECONDS - t0))s"
            t0=$SECONDS
            run go build -trimpath -o "$cli_bin.partial/" -ldflags "-s -w -X main.version=$PULUMI_VERSION" \
                ./cmd/pulumi-language-python
            sdk=$(module_dir github.com/pulumi/pulumi/sdk/v3)
            install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$cli_bin.partial/"
            step "pulumi-language-python: built in $((SECONDS - t0))s"
        )
        rm -rf "$cli_bin" && mv "$cli_bin.partial" "$cli_bin"
    fi
fi
pulumi="$cli_bin/pulumi"

# Dynamic providers (the drift probes) run in pulumi-resource-pulumi-python, a script a pulumi
# release ships beside the CLI, where the engine looks for it. It runs the project's virtualenv.
dynamic=pulumi-resource-pulumi-python
if [ ! -x "$cli_bin/$dynamic" ]; then
    if [[ "$cli_bin" == "$cache"/* ]]; then
        sdk=$(cd "$here/go" && module_dir github.com/pulumi/pulumi/sdk/v3)
        install -m 0755 "$sdk/python/dist/$dynamic" "$cli_bin/"
        step "$dynamic: installed beside pulumi"
    else
        step "warning: no $dynamic beside $cli_bin/pulumi; drift probes will not run"
    fi
fi

# --- resource plugins -----------------------------------------------------------------------------

# The plugin cache the user's own pulumi uses, where a downloaded plugin may already be.
user_plugins=${PULUMI_HOME:-$HOME/.pulumi}/plugins

# install_plugin NAME VERSION BUILD_FUNCTION: puts pulumi-resource-NAME at VERSION into the project's
# PULUMI_HOME, from the user's plugin cache or from a build.
install_plugin() {
    local name=$1 version=$2 build=$3
    local dir="$pulumi_home/plugins/resource-$name-v$version"
    local from_user="$user_plugins/resource-$name-v$version/pulumi-resource-$name"
    local key binary
    # shellcheck disable=SC2046 # one folder a word
    key="$name-v$version-$(src_key "$(plugin_module "$name")" $(plugin_folders "$name"))"
    binary="$cache/plugins/$key/pulumi-resource-$name"
    if [ -x "$from_user" ] && [ "$user_plugins" != "$pulumi_home/plugins" ]; then
        binary=$from_user
        step "$name v$version: using the one in $user_plugins"
    elif [ -x "$binary" ]; then
        step "$name v$version: cached"
    else
        need_go
        step "$name v$version: building from Go modules"
        local t0=$SECONDS
        mkdir -p "$(dirname "$binary")"
        "$build" "$binary.partial"
        mv "$binary.partial" "$binary"
        step "$name: built in $((SECONDS - t0))s"
    fi
    if ! cmp -s "$binary" "$dir/pulumi-resource-$name" 2>/dev/null; then
        rm -rf "$dir" "$dir.partial" "$dir.lock"
        PULUMI_HOME="$pulumi_home" run "$pulumi" plugin install resource "$name" "$version" --file "$binary"
    fi
}

plugin_module() {
    case $1 in
    kubernetes) echo "$here/go-kubernetes" ;;
    *) echo "$here/go" ;;
    esac
}

# plugin_folders NAME: the folders of its module a plugin is built from (none: all of them).
plugin_folders() {
    case $1 in
    kubernetes) ;;
    *) echo "internal cmd/pulumi-resource-$1" ;;
    esac
}

build_kubernetes() {
    (
        cd "$here/go-kubernetes"
        local provider
        provider="$(module_dir github.com/pulumi/pulumi-kubernetes/provider/v4)/cmd/pulumi-resource-kubernetes"
        # The upstream main package embeds files its `go generate` writes; write them the same way.
        run python3 - "$provider" "$PLUGIN_KUBERNETES_VERSION" <<'EOF'
import json, sys
src, version = sys.argv[1], sys.argv[2]
schema = json.load(open(f"{src}/schema.json"))
schema["version"] = version
json.dump(schema, open("schema-embed.json", "w"), separators=(",", ":"))
mapping = json.load(open(f"{src}/terraform-mapping.json"))
json.dump(mapping, open("terraform-mapping-embed.json", "w"), separators=(",", ":"))
EOF
        run go build -trimpath -o "$1" -ldflags "-s -w \
            -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$PLUGIN_KUBERNETES_VERSION" .
    )
}

build_command() {
    # The tests pin what the stand-in shares with upstream (secrecy, dialing, the agent); they run
    # whenever its sources change, which is when it is built.
    (cd "$here/go" && run go test ./internal/standin ./cmd/pulumi-resource-command &&
        run go build -trimpath -o "$1" \
            -ldflags "-s -w -X main.version=$PLUGIN_COMMAND_VERSION" ./cmd/pulumi-resource-command)
}

build_random() {
    (cd "$here/go" && run go build -trimpath -o "$1" \
        -ldflags "-s -w -X main.version=$PLUGIN_RANDOM_VERSION" ./cmd/pulumi-resource-random)
}

install_plugin command "$PLUGIN_COMMAND_VERSION" build_command
install_plugin random "$PLUGIN_RANDOM_VERSION" build_random
if [ "$with_kubernetes" = 1 ]; then
    install_plugin kubernetes "$PLUGIN_KUBERNETES_VERSION" build_kubernetes
else
    step "kubernetes: left out (--without-kubernetes)"
fi

# --- the environment everything else runs in -------------------------------------------------------

# Written aside and moved: a test sourcing it while another build runs never reads half of it.
cat >"$here/.env.partial" <<EOF
# Written by toolchain/build.sh. Offline settings: a local state backend, passphrase secrets, no
# update check and no plugin download.
export PATH="$cli_bin:\$PATH"
export PULUMI_HOME="$pulumi_home"
export PULUMI_BACKEND_URL="\${PULUMI_BACKEND_URL:-file://$project/.state}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
EOF
mv "$here/.env.partial" "$here/.env"
step "ready: $("$pulumi" version); plugins in $pulumi_home"
