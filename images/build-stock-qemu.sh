#!/usr/bin/env bash
# Debian's unmodified QEMU 11.1 (trixie-backports' qemu-system-x86), runnable on this bookworm host.
#
# usage: images/build-stock-qemu.sh [--refresh]
#
#   --refresh   Ask the archive for the current package versions again (default: reuse the versions
#               resolved by an earlier run of this same script, so a warm call needs no network).
#
# Output contract: progress on stderr; the LAST line of stdout is the absolute path of an executable
# `qemu-system-x86_64` wrapper that runs the root's binary.
#
# How it runs: debootstrap (minbase) builds a trixie root, apt inside it installs qemu-system-x86,
# qemu-system-data, seabios and ipxe-qemu from trixie-backports/trixie. The wrapper does NOT chroot: it
# starts the root's binary through the root's own dynamic loader with the root's libraries
# (ld-linux-x86-64.so.2 --library-path ...), the root's modules (QEMU_MODULE_DIR: accel-qtest-x86_64.so,
# ...) and the root's firmware (-L for qemu, seabios, ipxe). So every host path stays visible exactly as
# for the harness's own QEMU builds (run directories, QMP/serial/vfio-user sockets, kernels, disks), with
# no bind mounts and no root rights at run time. A chroot would hide all of those.
# Checked by strace: every library, module and firmware file comes from the root. One fallback stays:
# for a module the root lacks (e.g. ui-opengl.so when asked for -display egl-headless), QEMU also tries
# its compiled-in /usr/lib/x86_64-linux-gnu/qemu, i.e. the host's; QEMU refuses such a module ("Only
# modules from the same build can be loaded", its build stamp differs) and goes on without it.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/stock-qemu/
#   <qemu-version>-<hash>/{root/,qemu-system-x86_64,BUILD-INFO}   <hash> covers this script and the
#        resolved versions of the packages it installs; published by an atomic rename (an interrupted
#        build never leaves an entry that looks valid); a build lock serialises concurrent callers.
#   resolved-<script hash>   the package versions last resolved for this script (the warm path).
#
# Needs root to build (debootstrap, chroot, and apt-get install debootstrap when missing); the finished
# wrapper runs as any user.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
refresh=0
mirror=http://deb.debian.org/debian
suite=trixie
# Each at its newest version in trixie + trixie-backports (qemu 11.1.x needs backports' seabios too).
packages=(qemu-system-x86 qemu-system-data seabios ipxe-qemu)

log() { printf '[stock-qemu] %s\n' "$*" >&2; }
die() { printf '[stock-qemu] ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
    cat >&2 <<'USAGE'
usage: images/build-stock-qemu.sh [--refresh]
  Builds (or finds in ~/.cache/vgpu-hil/stock-qemu) a trixie root with Debian's QEMU 11.1 from
  trixie-backports and prints, as the last stdout line, the path of a qemu-system-x86_64 wrapper.
  --refresh   re-resolve the package versions from the archive (default: reuse the last resolution)
USAGE
}

while [ $# -gt 0 ]; do
    case "$1" in
        --refresh) refresh=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/stock-qemu"
mkdir -p "$cache_root"
script_hash=$(sha256sum < "$self" | cut -c1-16)
resolved_file="$cache_root/resolved-$script_hash"

entry_valid() { [ -x "$1/qemu-system-x86_64" ] && [ -f "$1/BUILD-INFO" ] && [ -d "$1/root" ]; }
key_for() {   # $1 = file with resolved versions
    local h ver
    h=$( { printf 'script %s\n' "$script_hash"; cat "$1"; } | sha256sum | cut -c1-16)
    ver=$(sed -n 's/^qemu-system-x86 \(.*\)$/\1/p' "$1" | sed 's/^[0-9]*://; s/[+~-].*//')
    printf '%s-%s' "${ver:-unknown}" "$h"
}

# ---- warm path: this script already resolved its versions and built them --------------------------
if [ "$refresh" = 0 ] && [ -f "$resolved_file" ]; then
    key=$(key_for "$resolved_file")
    if entry_valid "$cache_root/$key"; then
        echo "$cache_root/$key/qemu-system-x86_64"
        exit 0
    fi
fi

# ---- slow path: one builder at a time -------------------------------------------------------------
exec 9>"$cache_root/.lock"
if ! flock -n 9; then
    log "another build of the stock QEMU root is running; waiting for it (up to 30 min)"
    flock -w 1800 9 || die "timed out waiting for the build lock $cache_root/.lock"
fi
[ "$(id -u)" = 0 ] || die "building the trixie root needs root (debootstrap, chroot); run once as root"
command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 \
        || die "apt-get install debootstrap failed"
}
rm -rf "$cache_root"/.entry-* "$cache_root"/.apt-* 2>/dev/null || true

# Resolve the versions the root will get, with a private apt state (the host's lists stay untouched).
resolve_versions() {
    local tmp=$1 out=$2 p ver
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/etc"
    cat > "$tmp/sources.list" <<SOURCES
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite-backports main
SOURCES
    : > "$tmp/status"
    local aptopts=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=-
                   -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache"
                   -o Dir::State::status="$tmp/status" -o APT::Architecture=amd64
                   -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1)
    log "resolving package versions ($suite, $suite-backports) with a private apt state in $tmp"
    apt-get "${aptopts[@]}" update -q >&2 || die "apt-get update of the private $suite list failed"
    : > "$out"
    for p in "${packages[@]}"; do
        ver=""
        for v in $(apt-cache "${aptopts[@]}" madison "$p" | awk -F' *[|] *' '{print $2}'); do
            if [ -z "$ver" ] || dpkg --compare-versions "$v" gt "$ver"; then ver=$v; fi
        done
        [ -n "$ver" ] || die "no version of $p found in $suite(-backports)"
        printf '%s %s\n' "$p" "$ver" >> "$out"
    done
}

apt_tmp=$(mktemp -d "$cache_root/.apt-XXXXXX")
resolved_new="$apt_tmp/resolved"
resolve_versions "$apt_tmp" "$resolved_new"
log "resolved: $(tr '\n' ' ' < "$resolved_new")"
key=$(key_for "$resolved_new")
entry="$cache_root/$key"
if entry_valid "$entry"; then
    mv -f "$resolved_new" "$resolved_file"; rm -rf "$apt_tmp"
    echo "$entry/qemu-system-x86_64"
    exit 0
fi

stage=$(mktemp -d "$cache_root/.entry-XXXXXX")
root="$stage/root"
t0=$(date +%s)
log "debootstrap --variant=minbase $suite into $root (a few minutes)"
debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$stage/debootstrap.log" 2>&1 9>&- \
    || { tail -n 30 "$stage/debootstrap.log" >&2; die "debootstrap $suite failed (log above)"; }
log "debootstrap done in $(( $(date +%s) - t0 )) s"

cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-backports main
SOURCES
# No service may start inside the root.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
pins=()
while read -r p ver; do pins+=("$p=$ver"); done < "$resolved_new"
log "apt-get install ${pins[*]} in the root"
t1=$(date +%s)
{ chroot "$root" apt-get update -q &&
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -t "$suite-backports" "${pins[@]}"; } > "$stage/apt.log" 2>&1 9>&- \
    || { tail -n 30 "$stage/apt.log" >&2; die "apt-get install in the root failed (log above)"; }
chroot "$root" apt-get clean >&2
rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin
log "packages installed in $(( $(date +%s) - t1 )) s"

# The wrapper finds the root next to itself, so the entry stays valid after the rename into place.
cat > "$stage/qemu-system-x86_64" <<'WRAPPER'
#!/bin/sh
# Debian's stock qemu-system-x86_64 from the trixie root next to this file (made by
# images/build-stock-qemu.sh), run through the root's own dynamic loader so host paths stay visible.
d=$(cd "$(dirname "$0")" && pwd)
r="$d/root"
libs="$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu"
export QEMU_MODULE_DIR="$r/usr/lib/x86_64-linux-gnu/qemu"
# glib must never load the host's (bookworm) GIO modules into the trixie libraries.
export GIO_MODULE_DIR="$r/usr/lib/x86_64-linux-gnu/gio/modules"
exec "$r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$libs" \
    --argv0 "$0" "$r/usr/bin/qemu-system-x86_64" \
    -L "$r/usr/share/qemu" -L "$r/usr/share/seabios" -L "$r/usr/lib/ipxe/qemu" "$@"
WRAPPER
chmod 755 "$stage/qemu-system-x86_64"

# Never publish a wrapper the harness cannot use.
w="$stage/qemu-system-x86_64"
version=$("$w" --version 2>&1 | head -n1) || die "the wrapper does not run: $version"
case "$version" in *"version 11.1"*) ;; *) die "expected QEMU 11.1, the wrapper says: $version" ;; esac
vu=$("$w" -machine none -device vfio-user-pci,help 2>&1) || true
grep -q 'socket=' <<<"$vu" || die "stock QEMU lacks -device vfio-user-pci (socket=): $vu"
qt=$(echo quit | timeout 30 "$w" -machine q35 -accel qtest -display none -nodefaults -monitor stdio 2>&1) \
    || die "stock QEMU does not start with -machine q35 -accel qtest: $qt"
for fw in bios-256k.bin qboot.rom efi-virtio.rom kvmvapic.bin; do
    [ -e "$root/usr/share/qemu/$fw" ] || [ -e "$root/usr/share/seabios/$fw" ] || [ -e "$root/usr/lib/ipxe/qemu/$fw" ] \
        || die "firmware $fw missing in the root"
done
log "checked: $version; -device vfio-user-pci lists socket=; -machine q35 -accel qtest starts; firmware present"

{
    echo "stock_qemu=$version"
    echo "cache_key=$key"
    echo "suite=$suite (+ $suite-backports)"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "script_sha256=$script_hash"
    sed 's/^/resolved /' "$resolved_new"
    chroot "$root" dpkg-query -W -f='installed ${Package} ${Version}\n' "${packages[@]}" libc6 libglib2.0-0t64 2>/dev/null || true
} > "$stage/BUILD-INFO"
chmod 755 "$stage"
if ! mv -T "$stage" "$entry" 2>/dev/null; then
    rm -rf "$stage"
    entry_valid "$entry" || die "could not publish $entry"
fi
mv -f "$resolved_new" "$resolved_file"; rm -rf "$apt_tmp"
log "cache entry $entry ($(( $(date +%s) - t0 )) s)"
echo "$entry/qemu-system-x86_64"
