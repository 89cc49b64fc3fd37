#!/usr/bin/env bash
# Build qemu-system-x86_64 with the vgpu-stub device, reproducibly and cached.
#
# usage: vgpu-stub/build-qemu.sh [--qemu 5.2|7.2|10.0|11.1] [--print-path] [--sanitize]
#                                [--check-only | --xcpng-check] [--refresh-source]
#
#   --qemu V          QEMU line, from Debian source packages (deb-src-only apt entries, the machine's
#                     binary packages stay as they are):
#                       7.2   bookworm (default)      full build
#                       10.0  trixie                  full build
#                       11.1  trixie-backports        full build
#                       5.2   bullseye                compile check only (--check-only)
#   --print-path      Print the binary's absolute path (the default behaviour; accepted so callers can
#                     state their intent). Builds first when there is no valid cache entry.
#   --check-only      Configure and compile only the device's objects (no link, no cache entry): proves
#                     the device builds warning-free against that QEMU. Prints the object file's path.
#   --xcpng-check     Configure that QEMU as XCP-ng's qemu.spec does (--enable-xen
#                     --target-list=i386-softmmu --disable-kvm --disable-tcg --without-default-devices
#                     --enable-werror, Debian's libxen-dev), select the device through Kconfig
#                     (integrate.sh --enable-for i386-softmmu) and compile its objects with warnings as
#                     errors, in a separate source copy and build tree. Prints the object file's path.
#   --refresh-source  Ask apt for the current Debian source version and re-fetch the source when it
#                     changed (default: reuse the fetched tree).
#   --sanitize        The same QEMU built with AddressSanitizer and UndefinedBehaviorSanitizer
#                     (7.2: --enable-sanitizers + -fsanitize=undefined; later: --enable-asan --enable-ubsan),
#                     for the fuzzers of bin/vgpu-hil nightly: its own build tree (tree-<line>/build-asan) and cache entry
#                     (<qemu-version>-asan-<hash>); reports go to QEMU's stderr. A full build, slower.
#
# Output contract: the LAST line of stdout is the absolute path of the binary (or of the object file
# with --check-only / --xcpng-check); all progress goes to stderr: one progress line for the ninja
# build (updated in place on a terminal, else every 30 s), never every compiler step. ninja's and
# configure's full output go to log files in the tree (tree-<line>/logs/), printed on failure.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/qemu/
#   <qemu-version>-<hash>/qemu-system-x86_64   finished binaries. <hash> covers the Debian source
#        version, this script and every device input: vgpu-stub/*.c, vgpu-stub/*.h,
#        vgpu-stub/core/*.[ch], vgpu-stub/qemu-integration/*. An entry appears by an atomic rename, so an
#        interrupted build never leaves one that looks valid. A second run with the same inputs
#        prints the path at once, without apt or ninja.
#        <entry>/qemu-bundle/usr -> /usr lets QEMU find its firmware and data in Debian's
#        qemu-system-data / seabios / ipxe-qemu packages without -L. BUILD-INFO records the inputs
#        and the build's wall time.
#   tree-<line>/{src,build,logs}   reusable source and build tree. After an edit of the device a run
#        recompiles it and relinks (~1 min) instead of building QEMU again. Delete tree-<line> to
#        start over. tree-<line>/{src-xcpng,build-xcpng} for --xcpng-check.
#
# Needs root only to install missing packages with apt-get and to add the deb-src-only entries
# (/etc/apt/sources.list.d/vgpu-<suite>-src.sources).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
line=7.2
mode=build          # build | check | xcpng
refresh_source=0
sanitize=0

log() { printf '[build-qemu] %s\n' "$*" >&2; }
die() { printf '[build-qemu] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,27p' "$self" | sed 's/^# \{0,1\}//' >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --qemu) [ $# -ge 2 ] || die "--qemu needs a value (5.2, 7.2, 10.0 or 11.1)"; line=$2; shift 2 ;;
        --qemu=*) line=${1#--qemu=}; shift ;;
        --print-path) shift ;;
        --check-only) mode=check; shift ;;
        --xcpng-check) mode=xcpng; shift ;;
        --refresh-source) refresh_source=1; shift ;;
        --sanitize) sanitize=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done

# One row per QEMU line: Debian suite of the source, whether a full build is offered, and the suite
# whose meson/pycotap .debs the configure step needs (empty: the host's own meson).
case "$line" in
    5.2)  suite=bullseye;         full=0; tools_suite=bullseye ;;
    7.2)  suite=bookworm;         full=1; tools_suite="" ;;
    10.0) suite=trixie;           full=1; tools_suite=trixie ;;
    11.1) suite=trixie-backports; full=1; tools_suite=trixie ;;
    *) die "--qemu must be 5.2, 7.2, 10.0 or 11.1, not '$line'" ;;
esac
[ "$mode" != build ] || [ "$full" = 1 ] || die "QEMU $line is a compile check only here: use --qemu $line --check-only"
[ "$sanitize" = 0 ] || [ "$mode" = build ] || die "--sanitize is a full build; it does not go with --check-only or --xcpng-check"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/qemu"
tree="$cache_root/tree-$line"
mkdir -p "$cache_root"

# Every file that shapes the device, found by pattern so a new source file is never left out
# (core/ at depth 1: core/test/ holds the core's unit test, which is no part of QEMU).
device_inputs=("$self")
while IFS= read -r -d '' f; do device_inputs+=("$f"); done < <(
    { find "$here" "$here/core" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) -print0
      find "$here/qemu-integration" -type f -print0 2>/dev/null; } | sort -z)

# Hash over the Debian source version and every input that shapes the binary.
cache_key() {
    local srcver=$1 upstream=$2 h
    h=$( { printf 'line=%s\nsource=%s\n' "$line" "$srcver"
           [ "$sanitize" = 0 ] || printf 'sanitize=address,undefined\n'
           for f in "${device_inputs[@]}"; do
               printf '%s ' "${f#"$here"/}"; sha256sum < "$f"
           done; } | sha256sum | cut -c1-16)
    local tag=""
    [ "$sanitize" = 0 ] || tag=asan-
    printf '%s-%s%s' "$upstream" "$tag" "$h"
}

entry_valid() { [ -x "$1/qemu-system-x86_64" ] && [ -f "$1/BUILD-INFO" ]; }

# ---- fast path: a finished entry for these inputs ------------------------
if [ "$mode" = build ] && [ "$refresh_source" = 0 ] && [ -f "$tree/source-version" ]; then
    key=$(cache_key "$(cat "$tree/source-version")" "$(cat "$tree/upstream-version")")
    if entry_valid "$cache_root/$key"; then
        echo "$cache_root/$key/qemu-system-x86_64"
        exit 0
    fi
fi

# ---- slow path: one builder per QEMU line at a time ----------------------
# Long-running children (configure, ninja and its compilers) run with fd 9 closed (`9>&-`), so a compiler
# orphaned by a killed build can never hold the lock; only this shell holds it.
# --xcpng-check has its own source copy and build tree, so it takes its own lock and can run beside a full
# build of the same line (it only reads tree-<line>/src, which a full build replaces only when it is missing).
lock_file="$cache_root/.lock-$line"
[ "$mode" = xcpng ] && [ -d "$tree/src" ] && lock_file="$cache_root/.lock-$line-xcpng"
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
[ -z "$tools_suite" ] && build_packages+=(meson)   # bookworm's 1.0.1 suits 7.2
[ "$mode" = xcpng ] && build_packages+=(libxen-dev)
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
    tmp=$(mktemp -d "$cache_root/.fetch-$line-XXXXXX")
    log "apt-get source qemu/$suite into $tmp"
    (cd "$tmp" && apt-get source -q "qemu/$suite") > "$tmp.log" 2>&1 9>&- \
        || { tail -n 20 "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; die "apt-get source qemu/$suite failed"; }
    rm -f "$tmp.log"
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
[ "$sanitize" = 0 ] || build="$tree/build-asan"
logs="$tree/logs"
mkdir -p "$logs"

if [ "$mode" = build ] && entry_valid "$entry"; then
    echo "$entry/qemu-system-x86_64"
    exit 0
fi
# Leftovers of interrupted builds of this line (we hold its lock, so none is in progress; other lines'
# builds may run now and keep theirs).
rm -rf "$cache_root"/.entry-"$line"-* "$cache_root"/.fetch-"$line"-* 2>/dev/null || true

# ---- QEMU >= 10.0 needs a newer meson (and pycotap) than the host's: take the .debs of a suite ---
python_env=()
ensure_python_tools() {
    local tools_suite=$1 tools="$cache_root/$1-python-tools" tmp deb
    if [ ! -f "$tools/.complete" ]; then
        tmp=$(mktemp -d "$cache_root/.fetch-$line-XXXXXX")
        mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs" "$tmp/root"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $tools_suite main" \
            > "$tmp/sources.list"
        # A private apt state: the machine's own lists and caches stay untouched.
        local aptopts=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=-
                       -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache"
                       -o Dir::Cache::archives="$tmp/cache/archives" -o APT::Get::List-Cleanup=0
                       -o Debug::NoLocking=1)
        local pkgs=(meson)
        [ "$tools_suite" = bullseye ] || pkgs+=(python3-pycotap)
        log "downloading $tools_suite's ${pkgs[*]} .debs (private apt lists in $tmp)"
        apt-get "${aptopts[@]}" update -q > "$tmp/apt.log" 2>&1 \
            || { cat "$tmp/apt.log" >&2; die "apt-get update of the private $tools_suite list failed"; }
        # pkg/suite: the suite's own version, even when the host has a newer one installed (bullseye).
        (cd "$tmp/debs" && apt-get "${aptopts[@]}" download "${pkgs[@]/%//$tools_suite}") >> "$tmp/apt.log" 2>&1 \
            || { cat "$tmp/apt.log" >&2; die "apt-get download ${pkgs[*]} ($tools_suite) failed"; }
        for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
        ls "$tmp"/debs/*.deb | xargs -n1 basename > "$tmp/root/.complete"
        # Another line (10.0 and 11.1 share trixie's) may have finished first: keep the first complete one.
        if [ ! -f "$tools/.complete" ]; then rm -rf "$tools"; mv "$tmp/root" "$tools"; fi
        rm -rf "$tmp"
    fi
    python_env=(env "PYTHONPATH=$tools/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}"
                    "PATH=$tools/usr/bin:$PATH")
}
[ -n "$tools_suite" ] && ensure_python_tools "$tools_suite"

# ---- the progress line -----------------------------------------------------------------------------
# Runs "$@" (a ninja command) with all its output in $1's log file; shows "[build-qemu] LINE: WHAT N/M"
# in place on a terminal (every 2 s), else as a new line every 30 s. On failure: the failed steps,
# and the log's path.
run_with_progress() {
    local what=$1 logf=$2 pid last="" now shown=0 every=30 t0 rc=0 st
    shift 2
    [ -t 2 ] && every=2
    t0=$(date +%s)
    "$@" > "$logf" 2>&1 9>&- &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        now=$(date +%s)
        st=$(tail -c 4096 "$logf" 2>/dev/null | grep -o '^\[[0-9]*/[0-9]*\]' | tail -n1 | tr -d '[]') || true
        if [ -n "$st" ] && [ "$st" != "$last" ] && [ $(( now - shown )) -ge "$every" ]; then
            if [ -t 2 ]; then
                printf '\r[build-qemu] %s: %s %s (%d s)  ' "$line" "$what" "$st" $(( now - t0 )) >&2
            else
                log "$line: $what $st ($(( now - t0 )) s)"
            fi
            last=$st; shown=$now
        fi
    done
    wait "$pid" || rc=$?
    [ -t 2 ] && [ -n "$last" ] && printf '\n' >&2
    if [ "$rc" != 0 ]; then
        grep -A 25 '^FAILED' "$logf" | head -n 80 >&2 || tail -n 40 "$logf" >&2
        log "$what failed (exit $rc); full log: $logf"
        return "$rc"
    fi
    return 0
}

ninja_in() { local b=$1; shift; "${python_env[@]}" ninja -C "$b" "$@"; }

# The device's objects in build dir $1, compiled on their own so that any warning is visible and fatal.
compile_device() {
    local b=$1 what=$2 objs t0 clog o
    objs=$(ninja_in "$b" -t targets all 2>/dev/null \
        | sed -n 's/^\([^:]*\(hw_misc_vgpu[-_a-z]*\|vgpu[-_a-z]*\)\.c\.o\):.*/\1/p' | sort -u)
    [ -n "$objs" ] || die "the build in $b has no vgpu-stub object: Kconfig/meson hookup in hw/misc failed"
    for o in $objs; do rm -f "$b/$o"; done
    t0=$(date +%s)
    clog="$logs/device-$what.log"
    # shellcheck disable=SC2086
    if ! ninja_in "$b" $objs > "$clog" 2>&1 9>&-; then
        grep -B2 -A12 -E 'error|warning' "$clog" | head -n 80 >&2
        die "the device does not compile against QEMU $upstream ($what); full log: $clog"
    fi
    if grep -q "warning:" "$clog"; then
        grep -B2 -A6 "warning:" "$clog" >&2
        die "the device compiles with warnings against QEMU $upstream ($what); full log: $clog"
    fi
    log "device compiled warning-free against QEMU $upstream ($what: $(echo $objs | wc -w) object(s), $(( $(date +%s) - t0 )) s incl. generated headers)"
    device_obj="$b/$(echo "$objs" | head -n1)"
}

# configure in build dir $1 with the rest as arguments, when its arguments changed.
configure_in() {
    local b=$1 s=$2 stamp t0 clog="$logs/configure-$(basename "$1").log"
    shift 2
    stamp=$(printf '%s\n' "$@" | sha256sum | cut -c1-16)
    if [ ! -f "$b/build.ninja" ] || [ "$(cat "$b/.vgpu-configure" 2>/dev/null)" != "$stamp" ]; then
        log "configuring QEMU $upstream in $b (log: $clog)"
        rm -rf "$b"
        mkdir -p "$b"
        t0=$(date +%s)
        (cd "$b" && "${python_env[@]}" "$s/configure" "$@") > "$clog" 2>&1 9>&- \
            || { tail -n 30 "$clog" >&2; die "configure failed; full log: $clog"; }
        echo "$stamp" > "$b/.vgpu-configure"
        log "configured in $(( $(date +%s) - t0 )) s"
    fi
}

# ---- XCP-ng flags: a copy of the source with the device selected by Kconfig, compile only ----------
if [ "$mode" = xcpng ]; then
    xsrc="$tree/src-xcpng"
    if [ "$(cat "$xsrc/.vgpu-source" 2>/dev/null)" != "$srcver" ]; then
        log "copying the source to $xsrc (the Kconfig selection must not touch the full build's tree)"
        rm -rf "$xsrc"
        cp -a "$src" "$xsrc"
        echo "$srcver" > "$xsrc/.vgpu-source"
    fi
    "$here/qemu-integration/integrate.sh" --enable-for i386-softmmu "$xsrc" "$here" 9>&-
    # As XCP-ng's qemu.spec configures (xcp-ng-rpms/qemu SPECS/qemu.spec), plus the prefix and
    # --disable-install-blobs (Debian's +ds source has no firmware blobs to install).
    configure_in "$tree/build-xcpng" "$xsrc" --enable-xen --target-list=i386-softmmu \
        --disable-kvm --disable-tcg --disable-docs --without-default-devices --enable-werror --prefix=/usr \
        --disable-install-blobs
    grep -q '^CONFIG_VGPU_STUB=y' "$tree/build-xcpng"/*-config-devices.mak 2>/dev/null \
        || grep -rqs 'CONFIG_VGPU_STUB 1' "$tree/build-xcpng"/i386-softmmu-config-devices.h \
        || die "CONFIG_VGPU_STUB is not selected in the XCP-ng configuration (Kconfig: depends on PCI && MSI_NONBROKEN)"
    compile_device "$tree/build-xcpng" xcpng
    echo "$device_obj"
    exit 0
fi

# ---- integrate the device and configure -----------------------------------
"$here/qemu-integration/integrate.sh" "$src" "$here" 9>&-

if [ "$line" = 5.2 ]; then
    # 5.2 predates --without-default-features and the =system spellings: let it detect.
    configure_args=(--target-list=x86_64-softmmu --prefix=/usr --disable-docs --disable-tools
        --disable-guest-agent --disable-user --disable-werror --disable-debug-info)
else
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
fi
[ -n "$tools_suite" ] && [ "$line" != 5.2 ] && configure_args+=(--python=/usr/bin/python3)
if [ "$sanitize" = 1 ]; then
    # 7.2's configure has one switch for both, but its UBSan probe fails under GCC 12
    # (-Werror=maybe-uninitialized in the probe itself), leaving ASan alone: UBSan then comes as extra flags.
    # From 8.x on they are the meson options asan and ubsan.
    case "$line" in
        7.2) configure_args+=(--enable-sanitizers --extra-cflags=-fsanitize=undefined
                              --extra-ldflags=-fsanitize=undefined) ;;
        *) configure_args+=(--enable-asan --enable-ubsan) ;;
    esac
fi
configure_in "$build" "$src" "${configure_args[@]}"

variant=$line
[ "$sanitize" = 0 ] || variant=$line-asan
compile_device "$build" "$variant"
if [ "$mode" = check ]; then
    echo "$device_obj"
    exit 0
fi

# ---- build the binary and publish the cache entry atomically --------------
ninja_log="$logs/ninja.log"
[ "$sanitize" = 0 ] || ninja_log="$logs/ninja-asan.log"
log "building qemu-system-x86_64 (ninja, $(nproc) CPUs; log: $ninja_log)"
t0=$(date +%s)
run_with_progress compiling "$ninja_log" "${python_env[@]}" ninja -C "$build" qemu-system-x86_64 \
    || die "ninja qemu-system-x86_64 failed; full log: $ninja_log"
build_seconds=$(( $(date +%s) - t0 ))
log "built in $build_seconds s"

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

stage=$(mktemp -d "$cache_root/.entry-$line-XXXXXX")
cp "$build/qemu-system-x86_64" "$stage/qemu-system-x86_64"
mkdir -p "$stage/qemu-bundle"
ln -s /usr "$stage/qemu-bundle/usr"
{
    echo "qemu_line=$line"
    echo "qemu_version=$upstream"
    echo "debian_source=qemu $srcver ($suite)"
    echo "cache_key=$key"
    echo "sanitizers=$([ "$sanitize" = 1 ] && echo address,undefined || echo none)"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "ninja_seconds=$build_seconds ($(nproc) CPUs; 0-few s when only the device changed)"
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
