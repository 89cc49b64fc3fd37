# shellcheck shell=bash
# Shell helpers shared by bin/vgpu-hil and the images/ scripts (sourced, never run). Ships inside the vgpu-common
# artifact next to the scripts that use it, so `source "$here/../bin/lib.sh"` works in a checkout and in the
# extracted copy alike. Set log_tag before sourcing to name the script in its messages.

log_tag=${log_tag:-vgpu-hil}

# log MESSAGE...: one progress line on stderr (stdout is for results: scripts print their output path last)
log() {
    if [ -t 2 ]; then printf '\033[1m[%s]\033[0m %s\n' "$log_tag" "$*" >&2; else printf '[%s] %s\n' "$log_tag" "$*" >&2; fi
}

# die MESSAGE...: the error on stderr, exit 1
die() { printf '[%s] ERROR: %s\n' "$log_tag" "$*" >&2; exit 1; }

# missing_packages PKG...: prints, one a line, the Debian packages of the list that are not installed
missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || printf '%s\n' "$p"
    done
}

# install_packages PKG...: installs them (as root, apt-get update and a retry when the lists are stale); as an
# ordinary user dies naming the command that would
install_packages() {
    [ $# -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || die "missing packages: $* (as root: apt-get install $*)"
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 2>/dev/null || {
        apt-get update -q >&2 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
    } || die "apt-get install $* failed"
}

# ensure_packages PKG...: install_packages for those of the list that are missing
ensure_packages() {
    local missing
    mapfile -t missing < <(missing_packages "$@" | sort -u)
    install_packages "${missing[@]}"
}

# cache_publish BUILT ENTRY: makes the finished directory BUILT the cache entry ENTRY by a rename, so no reader
# ever sees a half-written entry; an older entry of the same name is moved aside and removed first
cache_publish() {
    local built=$1 entry=$2 old
    if [ -d "$entry" ]; then
        old="$(dirname "$entry")/.old-$(basename "$entry")-$$"
        mv -T "$entry" "$old" && rm -rf "$old"
    fi
    mv -T "$built" "$entry"
}

# ensure_container_engine: a container engine that answers `docker info`. When none does and we are root, installs
# Debian's docker.io and starts dockerd without any network of its own (--bridge=none --iptables=false: containers
# use network none or host), its log in the cache; waits up to 60 s for it. As an ordinary user only says so (the
# container tests then skip, naming the reason). Returns 1 when there is no engine afterwards.
ensure_container_engine() {
    local cache=${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil
    docker info >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        log "no container engine answers \`docker info\`; the container tests will be skipped (as root: bin/vgpu-hil setup)"
        return 1
    fi
    ensure_packages docker.io
    if ! pgrep -x dockerd >/dev/null; then
        mkdir -p "$cache/docker"
        log "starting dockerd --bridge=none --iptables=false (log: $cache/docker/dockerd.log)"
        setsid dockerd --bridge=none --iptables=false >>"$cache/docker/dockerd.log" 2>&1 </dev/null &
    fi
    local i
    for i in $(seq 1 60); do
        docker info >/dev/null 2>&1 && { log "container engine: $(docker version -f '{{.Server.Version}}' 2>/dev/null)"; return 0; }
        sleep 1
    done
    log "dockerd did not answer within 60 s (log: $cache/docker/dockerd.log); the container tests will be skipped"
    return 1
}
