# Sourced by the builds that need Go (toolchain/build.sh, lab/kube/build.sh), after
# toolchain/versions.env. ensure_go CACHE_DIR puts a Go of at least GO_MIN_VERSION first on PATH:
# the host's when it has one, else Go GO_VERSION from the Go module proxy, checked against its
# pinned hash and kept in CACHE_DIR, so a new machine needs no Go installed.
ensure_go() {
    local cache=$1 have dir
    if command -v go >/dev/null; then
        have=$(GOTOOLCHAIN=local go env GOVERSION)
        [ "$(printf '%s\ngo%s\n' "$have" "$GO_MIN_VERSION" | sort -V | head -n1)" = "go$GO_MIN_VERSION" ] &&
            return 0
        printf 'go: %s on PATH is older than go%s\n' "$have" "$GO_MIN_VERSION" >&2
    fi
    dir="$cache/go-$GO_VERSION"
    if [ ! -x "$dir/bin/go" ]; then
        mkdir -p "$cache"
        python3 "$(dirname "${BASH_SOURCE[0]}")/fetch_go.py" "$GO_VERSION" "$GO_TOOLCHAIN_SUM" "$dir" ||
            return 1
    fi
    export PATH="$dir/bin:$PATH"
}
