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
