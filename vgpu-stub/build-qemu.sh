#!/usr/bin/env bash
# Build qemu-system-x86_64 with the vgpu-stub device, reproducibly and cached.
#
# usage: vgpu-stub/build-qemu.sh [--qemu 7.2|10.0] [--print-path] [--check-only]
#                                [--refresh-source]
#
#   --qemu V          QEMU line: 7.2 (Debian bookworm source, default) or 10.0
#                     (Debian trixie source, fetched through a deb-src-only entry).
#   --print-path      Print the binary's absolute path (the default behaviour;
#                     accepted so callers can state their intent).  Builds first
#                     when there is no valid cache entry.
#   --check-only      Configure and compile only hw/misc/vgpu-stub.c (no link,
#                     no cache entry): proves the device builds warning-free
#                     against that QEMU.  Prints the object file's path.
#   --refresh-source  Ask apt for the current Debian source version and re-fetch
#                     the source when it changed (default: reuse the fetched tree).
#
# Output contract: the LAST line of stdout is the absolute path of the binary
# (or of the object file with --check-only); all progress goes to stderr.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/qemu/
#   <qemu-version>-<hash>/qemu-system-x86_64   finished binaries. <hash> covers the
#        Debian source version, vgpu-stub.c, vgpu_protocol.h, this script and
#        qemu-integration/*. An entry appears by an atomic rename, so an
#        interrupted build never leaves one that looks valid. A second run with
#        the same inputs prints the path at once, without apt or ninja.
#        <entry>/qemu-bundle/usr -> /usr lets QEMU find its firmware and data in
#        Debian's qemu-system-data / seabios / ipxe-qemu packages without -L.
#   tree-<line>/{src,build}   reusable source and build tree. After an edit of
#        vgpu-stub.c a run recompiles that file and relinks (~1 min) instead of
#        building QEMU again (~6 min on 2 cores). Delete tree-<line> to start over.
#
# Needs root only to install missing packages with apt-get (and, for 10.0, to
# add /etc/apt/sources.list.d/vgpu-trixie-src.sources).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
line=7.2
check_only=0
refresh_source=0

log() { printf '[build-qemu] %s\n' "$*" >&2; }
die() { printf '[build-qemu] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,20p' "$self" | sed 's/^# \{0,1\}//' >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --qemu) [ $# -ge 2 ] || die "--qemu needs a value (7.2 or 10.0)"; line=$2; shift 2 ;;
        --qemu=*) line=${1#--qemu=}; shift ;;
        --print-path) shift ;;
        --check-only) check_only=1; shift ;;
        --refresh-source) refresh_source=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done

case "$line" in
    7.2)  suite=bookworm ;;
    10.0) suite=trixie ;;
    *) die "--qemu must be 7.2 or 10.0, not '$line'" ;;
esac

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/qemu"
tree="$cache_root/tree-$line"
mkdir -p "$cache_root"

# every device source: vgpu-stub.c, vgpu_compat.h, vgpu_protocol.h, core/vgpu_core.[ch]
device_inputs=("$here"/*.c "$here"/*.h "$here"/core/*.c "$here"/core/*.h "$self")
while IFS= read -r -d '' f; do device_inputs+=("$f"); done \
    < <(find "$here/qemu-integration" -type f -print0 2>/dev/null | sort -z)

# Hash over the Debian source version and every input that shapes the binary.
cache_key() {
    local srcver=$1 upstream=$2 h
    h=$( { printf 'line=%s\nsource=%s\n' "$line" "$srcver"
           for f in "${device_inputs[@]}"; do
               printf '%s ' "${f#"$here"/}"; sha256sum < "$f"
           done; } | sha256sum | cut -c1-16)
    printf '%s-%s' "$upstream" "$h"
}

entry_valid() { [ -x "$1/qemu-system-x86_64" ] && [ -f "$1/BUILD-INFO" ]; }

# ---- fast path: a finished entry for these inputs ------------------------
if [ "$check_only" = 0 ] && [ "$refresh_source" = 0 ] && [ -f "$tree/source-version" ]; then
    key=$(cache_key "$(cat "$tree/source-version")" "$(cat "$tree/upstream-version")")
    if entry_valid "$cache_root/$key"; then
        echo "$cache_root/$key/qemu-system-x86_64"
        exit 0
    fi
fi

# ---- slow path: one builder per QEMU line at a time ----------------------
# Long-running children (configure, ninja and its compilers) run with fd 9 closed (`9>&-`), so a compiler
# orphaned by a killed build can never hold the lock; only this shell holds it.
lock_file="$cache_root/.lock-$line"
# Every process that has the lock file open (the holder, and any waiter), as "pid (cmdline)".
lock_holders() {
    local fd pid
    for fd in /proc/[0-9]*/fd/*; do
        [ "$fd" -ef "$lock_file" ] || continue
        pid=${fd#/proc/}; pid=${pid%%/*}
        [ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
        printf '%s (%s); ' "$pid" "$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
    done
}
exec 9>"$lock_file"
if ! flock -n 9; then
    log "another build of QEMU $line is running; waiting for it (up to 1 h); $lock_file is open in: $(lock_holders)"
    flock -w 3600 9 || die "timed out waiting for the build lock $lock_file, open in: $(lock_holders)"
fi

is_root() { [ "$(id -u)" = 0 ]; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

ensure_packages() {
    local missing=() p
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    is_root || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    log "installing: ${missing[*]}"
    apt-get update -q >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install failed for: ${missing[*]}"
}

build_packages=(build-essential libfdt-dev libglib2.0-dev libpixman-1-dev libslirp-dev
    zlib1g-dev ninja-build flex bison pkg-config python3 python3-venv libcap-ng-dev
    libattr1-dev dpkg-dev xz-utils)
# Firmware and data the binary uses at run time (found via qemu-bundle/usr).
runtime_packages=(qemu-system-data seabios ipxe-qemu)
[ "$line" = 7.2 ] && build_packages+=(meson)   # bookworm's 1.0.1 suits 7.2
ensure_packages "${build_packages[@]}" "${runtime_packages[@]}"

# apt-get source needs a deb-src entry for the suite; a bare machine has only binary entries.
suite_src_list=/etc/apt/sources.list.d/vgpu-$suite-src.sources
ensure_deb_src() {
    if [ -z "$(apt-cache showsrc "qemu/$suite" 2>/dev/null | grep '^Version:')" ]; then
        if [ ! -f "$suite_src_list" ]; then
            is_root || die "QEMU $line needs a deb-src entry for $suite (apt-get source qemu/$suite); run as root once"
            log "adding deb-src-only $suite entry $suite_src_list (binary packages stay as they are)"
            cat > "$suite_src_list" <<SOURCES
# Added by vgpu-hil vgpu-stub/build-qemu.sh: QEMU source only (apt-get source qemu/$suite).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
        fi
        log "apt-get update for $suite_src_list only"
        apt-get update -o Dir::Etc::sourcelist="$suite_src_list" -o Dir::Etc::sourceparts=- \
            -o APT::Get::List-Cleanup=0 >&2 || die "apt-get update of the $suite deb-src entry failed"
    fi
}

candidate_source_version() {
    apt-cache showsrc "qemu/$suite" 2>/dev/null | sed -n 's/^Version: //p' | head -n1
}

# Fetch the Debian source into $tree/src (replacing an older one).
fetch_source() {
    local tmp dir ver
    ensure_deb_src
    tmp=$(mktemp -d "$cache_root/.fetch-XXXXXX")
    log "apt-get source qemu/$suite into $tmp"
    (cd "$tmp" && apt-get source -q "qemu/$suite") >&2 || { rm -rf "$tmp"; die "apt-get source qemu/$suite failed"; }
    dir=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n1)
    [ -n "$dir" ] && [ -f "$dir/VERSION" ] || { rm -rf "$tmp"; die "apt-get source left no qemu-* tree in $tmp"; }
    ver=$(dpkg-parsechangelog -l "$dir/debian/changelog" -S Version)
    rm -rf "$tree"
    mkdir -p "$tree"
    mv "$dir" "$tree/src"
    rm -rf "$tmp"
    printf '%s\n' "$ver" > "$tree/source-version"
    tr -d '[:space:]' < "$tree/src/VERSION" > "$tree/upstream-version"
    log "QEMU source $ver ($(cat "$tree/upstream-version")) in $tree/src"
}

if [ ! -f "$tree/source-version" ] || [ ! -d "$tree/src" ]; then
    fetch_source
elif [ "$refresh_source" = 1 ]; then
    ensure_deb_src
    cand=$(candidate_source_version)
    if [ -n "$cand" ] && [ "$cand" != "$(cat "$tree/source-version")" ]; then
        log "source version changed: $(cat "$tree/source-version") -> $cand"
        fetch_source
    fi
fi
srcver=$(cat "$tree/source-version")
upstream=$(cat "$tree/upstream-version")
key=$(cache_key "$srcver" "$upstream")
entry="$cache_root/$key"
src="$tree/src"
build="$tree/build"

if [ "$check_only" = 0 ] && entry_valid "$entry"; then
    echo "$entry/qemu-system-x86_64"
    exit 0
fi
# Leftovers of interrupted builds (we hold the lock, so none is in progress).
rm -rf "$cache_root"/.entry-* "$cache_root"/.fetch-* 2>/dev/null || true

# ---- QEMU 10.0 needs meson >= 1.5 and pycotap: take trixie's .debs -------
python_env=()
ensure_trixie_python_tools() {
    local tools="$cache_root/trixie-python-tools" tmp deb
    if [ ! -f "$tools/.complete" ]; then
        tmp=$(mktemp -d "$cache_root/.fetch-XXXXXX")
        mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs" "$tmp/root"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
            > "$tmp/sources.list"
        # A private apt state: the machine's own lists and caches stay untouched.
        local aptopts=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=-
                       -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache"
                       -o Dir::Cache::archives="$tmp/cache/archives" -o APT::Get::List-Cleanup=0
                       -o Debug::NoLocking=1)
        log "downloading trixie's meson and python3-pycotap .debs (private apt lists in $tmp)"
        apt-get "${aptopts[@]}" update >&2 || die "apt-get update of the private trixie list failed"
        (cd "$tmp/debs" && apt-get "${aptopts[@]}" download meson python3-pycotap) >&2 \
            || die "apt-get download meson python3-pycotap (trixie) failed"
        for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
        rm -rf "$tools"
        mv "$tmp/root" "$tools"
        ls "$tmp"/debs/*.deb | xargs -n1 basename > "$tools/.complete"
        rm -rf "$tmp"
    fi
    python_env=(env "PYTHONPATH=$tools/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
                    "PATH=$tools/usr/bin:$PATH")
}
[ "$line" = 10.0 ] && ensure_trixie_python_tools

# ---- integrate the device and configure -----------------------------------
"$here/qemu-integration/integrate.sh" "$src" "$here" 9>&-

configure_args=(
    --target-list=x86_64-softmmu
    --prefix=/usr
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
    --disable-install-blobs
    --without-default-features
    --enable-kvm --enable-tcg --enable-slirp --enable-virtfs --enable-attr --enable-cap-ng
    --enable-fdt=system
    --disable-docs --disable-tools --disable-guest-agent --disable-user
    --disable-debug-info --disable-werror
    --with-pkgversion="vgpu-hil $srcver"
)
if [ "$line" = 10.0 ]; then
    configure_args+=(--python=/usr/bin/python3)
fi
configure_stamp=$(printf '%s\n' "${configure_args[@]}" | sha256sum | cut -c1-16)

if [ ! -f "$build/build.ninja" ] || [ "$(cat "$build/.vgpu-configure" 2>/dev/null)" != "$configure_stamp" ]; then
    log "configuring QEMU $upstream in $build"
    rm -rf "$build"
    mkdir -p "$build"
    t0=$(date +%s)
    (cd "$build" && "${python_env[@]}" "$src/configure" "${configure_args[@]}") >&2 9>&- \
        || die "configure failed (see output above)"
    echo "$configure_stamp" > "$build/.vgpu-configure"
    log "configured in $(( $(date +%s) - t0 )) s"
fi

ninja_build() { "${python_env[@]}" ninja -C "$build" "$@" 9>&-; }

# The device object: compiled on its own so its warnings are visible and fatal.
obj=$(ninja_build -t targets all 2>/dev/null | sed -n 's/^\([^:]*hw_misc_vgpu-stub\.c\.o\):.*/\1/p' | head -n1)
[ -n "$obj" ] || die "the build has no vgpu-stub object: Kconfig/meson hookup in $src/hw/misc failed"
rm -f "$build/$obj"
t0=$(date +%s)
compile_log=$(mktemp)
if ! ninja_build "$obj" > "$compile_log" 2>&1; then
    cat "$compile_log" >&2; rm -f "$compile_log"
    die "vgpu-stub.c does not compile against QEMU $upstream"
fi
if grep -q "warning:" "$compile_log"; then
    grep -B2 -A6 "warning:" "$compile_log" >&2; rm -f "$compile_log"
    die "vgpu-stub.c compiles with warnings against QEMU $upstream"
fi
rm -f "$compile_log"
log "vgpu-stub.c compiled warning-free against QEMU $upstream ($(( $(date +%s) - t0 )) s, incl. generated headers)"

if [ "$check_only" = 1 ]; then
    echo "$build/$obj"
    exit 0
fi

# ---- build the binary and publish the cache entry atomically --------------
log "building qemu-system-x86_64 (ninja, $(nproc) jobs)"
t0=$(date +%s)
ninja_build qemu-system-x86_64 >&2 || die "ninja qemu-system-x86_64 failed"
log "built in $(( $(date +%s) - t0 )) s"

# Never publish a binary the harness cannot use: the device with its documented properties, and the qtest
# accelerator (built in; `-accel help` never lists it, so ask for it by name).
props=$("$build/qemu-system-x86_64" -machine none -device vgpu-stub,help 2>&1) || true
for p in pool_id priority vm_id socket chardev timeout_ms; do
    grep -q "^  $p=" <<<"$props" || die "the built binary lacks vgpu-stub property '$p'; -device vgpu-stub,help said: $props"
done
if "$build/qemu-system-x86_64" -machine none -accel qtest,help 2>&1 | grep -q "invalid accelerator"; then
    die "the built binary lacks the qtest accelerator (-accel qtest) the device tests need"
fi
log "checked: -device vgpu-stub,help lists pool_id, priority, vm_id, socket, chardev, timeout_ms; -accel qtest exists"

stage=$(mktemp -d "$cache_root/.entry-XXXXXX")
cp "$build/qemu-system-x86_64" "$stage/qemu-system-x86_64"
mkdir -p "$stage/qemu-bundle"
ln -s /usr "$stage/qemu-bundle/usr"
{
    echo "qemu_line=$line"
    echo "qemu_version=$upstream"
    echo "debian_source=qemu $srcver ($suite)"
    echo "cache_key=$key"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "configure=${configure_args[*]}"
    echo "firmware_dirs=/usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu"
    for f in "${device_inputs[@]}"; do printf 'input %s %s\n' "$(sha256sum < "$f" | cut -c1-16)" "${f#"$here"/}"; done
} > "$stage/BUILD-INFO"
chmod 755 "$stage"
if ! mv -T "$stage" "$entry" 2>/dev/null; then
    rm -rf "$stage"
    entry_valid "$entry" || die "could not publish $entry"
fi
log "cache entry $entry"
echo "$entry/qemu-system-x86_64"
