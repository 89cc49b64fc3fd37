#!/usr/bin/env bash
# The project's container images, built here from local inputs and never pulled (no registry is reachable).
#
# usage: images/build-container-image.sh mediator-lite --jar PATH --version V [--jvm-option OPT]...
#        images/build-container-image.sh qemu-stock
#        images/build-container-image.sh probe
#
#   mediator-lite   vgpu-hil/mediator-lite:V: FROM scratch, a jlink'ed runtime (with the host libraries it needs)
#                   in /opt/java and the shaded jar as /opt/mediator-lite.jar; ENTRYPOINT java [OPT...] -jar it, so
#                   the contract's `--socket PATH` goes after it as CMD arguments (the harness passes the daemon's
#                   JVM options, MediatorProcess.JVM_OPTIONS, as --jvm-option).
#   qemu-stock      vgpu-hil/qemu-stock:11.1: `docker import` of the trixie root images/build-stock-qemu.sh builds
#                   (Debian's unmodified qemu-system-x86 11.1 from trixie-backports, firmware); ENTRYPOINT its
#                   qemu-system-x86_64 with -L for the firmware directories.
#   probe           vgpu-hil/probe:1: FROM scratch with a static busybox, for the engine's own tests.
#
# Cache: an image is rebuilt only when the sha256 of its inputs (this script, the jar, the JDK's version, the
# stock root's cache key) differs from its label dev.vgpuhil.hash; it is also tagged NAME:h-<hash>. Its inputs
# are in the label dev.vgpuhil.inputs (the harness puts both in the report's environment).
# Output contract: progress on stderr; the LAST line of stdout is the image reference NAME:TAG.
# Needs: a container engine that answers `docker info` (bin/vgpu-hil setup starts one as root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log_tag=container-image
# shellcheck source=../bin/lib.sh
source "$here/../bin/lib.sh"
self_hash=$(sha256sum < "$here/$(basename "${BASH_SOURCE[0]}")" | cut -c1-16)

kind=${1:-}; shift || true
jar="" version="" jvm_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --jar) jar=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --jvm-option)
            case "$2" in -*) ;; *) die "--jvm-option takes a JVM option (-X...), got '$2'" ;; esac
            case "$2" in *[\\\"]*|*[[:space:]]*) die "--jvm-option '$2': no quotes, backslashes or spaces" ;; esac
            jvm_options+=("$2"); shift 2 ;;
        *) die "unknown argument: $1" ;;
    esac
done
docker info >/dev/null 2>&1 || die "no container engine answers \`docker info\` (bin/vgpu-hil setup starts one as root)"
# one builder at a time on this machine (two test JVMs may want the same image at once)
lock_dir="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil"; mkdir -p "$lock_dir"
exec 8>"$lock_dir/.container-images.lock"
flock -w 1200 8 || die "timed out waiting for $lock_dir/.container-images.lock"

# current_hash REF: the dev.vgpuhil.hash label of the local image REF, empty when there is none
current_hash() { docker image inspect -f '{{index .Config.Labels "dev.vgpuhil.hash"}}' "$1" 2>/dev/null || true; }

# import_root DIR REF HASH INPUTS ENTRYPOINT_JSON: the tree DIR as image REF (and REF's name:h-HASH)
import_root() {
    local dir=$1 ref=$2 hash=$3 inputs=$4 entry=$5
    log "docker import $dir as $ref (hash $hash)"
    # the stale builds of this name go (their h- tags; an image a container still uses stays until that ends)
    local old
    for old in $(docker images --format '{{.Repository}}:{{.Tag}}' "${ref%:*}" | grep ':h-' || true); do
        docker rmi "$old" >/dev/null 2>&1 || true
    done
    tar -C "$dir" --numeric-owner -cf - . | docker import \
        --change "LABEL dev.vgpuhil.hash=$hash" \
        --change "LABEL dev.vgpuhil.inputs=\"$inputs\"" \
        --change "ENTRYPOINT $entry" \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        - "$ref" >&2 || die "docker import of $dir failed"
    docker tag "$ref" "${ref%:*}:h-$hash"
}

mediator_lite() {
    [ -n "$jar" ] && [ -f "$jar" ] || die "mediator-lite needs --jar PATH of the shaded mediator-lite.jar"
    [ -n "$version" ] || die "mediator-lite needs --version V"
    local jdk; jdk=$(dirname "$(dirname "$(readlink -f "$(command -v jlink || echo /usr/lib/jvm/java-17-openjdk-amd64/bin/jlink)")")")
    [ -x "$jdk/bin/jlink" ] || die "no jlink (apt-get install openjdk-17-jdk-headless)"
    # jdeps --print-module-deps on the jar, less java.desktop (Jackson's optional java.beans support); jdk.net: SO_PEERCRED
    local modules=java.base,java.logging,java.management,java.naming,java.sql,jdk.net,jdk.unsupported
    local jdk_version; jdk_version=$("$jdk/bin/java" -version 2>&1 | head -n1 | tr -d '"')
    local jar_sha; jar_sha=$(sha256sum < "$jar" | cut -c1-16)
    local inputs="script=$self_hash jar=$jar_sha jdk=$jdk_version modules=$modules jvm=${jvm_options[*]}"
    local hash; hash=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
    local ref="vgpu-hil/mediator-lite:$version"
    if [ "$(current_hash "$ref")" = "$hash" ]; then echo "$ref"; return 0; fi
    tmp=$(mktemp -d /tmp/vgpu-hil-image-XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    local root="$tmp/root"
    mkdir -p "$root/opt" "$root/etc" "$root/tmp"; chmod 1777 "$root/tmp"
    log "jlink $modules from $jdk ($jdk_version)"
    "$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=2 \
        --output "$root/opt/java" >&2 || die "jlink failed"
    cp "$jar" "$root/opt/mediator-lite.jar"
    # the host libraries the runtime links against (FROM scratch has none), at their own paths
    local f lib
    while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done < <(find "$root/opt/java" -type f \( -name '*.so' -o -path '*/bin/*' \) -print0 \
              | xargs -0 ldd 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p' | sort -u)
    # JNA's own native part comes out of the jar at run time and needs libc and libdl only (already there)
    for f in /lib64/ld-linux-x86-64.so.2; do mkdir -p "$root$(dirname "$f")"; cp -L "$f" "$root$f"; done
    printf 'root:x:0:0:root:/tmp:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    local entry='["/opt/java/bin/java"' opt
    for opt in "${jvm_options[@]}"; do entry+=",\"$opt\""; done
    entry+=',"-jar","/opt/mediator-lite.jar"]'
    import_root "$root" "$ref" "$hash" "$inputs" "$entry"
    echo "$ref"
}

qemu_stock() {
    local wrapper entry key
    wrapper=$(bash "$here/build-stock-qemu.sh" | tail -n 1) || die "images/build-stock-qemu.sh failed"
    entry=$(dirname "$wrapper")
    key=$(sed -n 's/^cache_key=//p' "$entry/BUILD-INFO")
    local inputs="script=$self_hash stock-root=$key $(sed -n 's/^stock_qemu=//p' "$entry/BUILD-INFO" | tr -d '"')"
    local hash; hash=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
    local ref="vgpu-hil/qemu-stock:11.1"
    if [ "$(current_hash "$ref")" = "$hash" ]; then echo "$ref"; return 0; fi
    import_root "$entry/root" "$ref" "$hash" "$inputs" \
        '["/usr/bin/qemu-system-x86_64","-L","/usr/share/qemu","-L","/usr/share/seabios","-L","/usr/lib/ipxe/qemu"]'
    echo "$ref"
}

# the smallest image, for the engine's own tests (reaping, labels): FROM scratch with a static busybox
probe() {
    local bb=/bin/busybox
    [ -x "$bb" ] && ! ldd "$bb" >/dev/null 2>&1 || { ensure_packages busybox-static; }
    local inputs="script=$self_hash busybox=$(sha256sum < "$bb" | cut -c1-16)"
    local hash; hash=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
    local ref="vgpu-hil/probe:1"
    if [ "$(current_hash "$ref")" = "$hash" ]; then echo "$ref"; return 0; fi
    tmp=$(mktemp -d /tmp/vgpu-hil-image-XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$tmp/root/bin" "$tmp/root/tmp"; chmod 1777 "$tmp/root/tmp"
    cp "$bb" "$tmp/root/bin/busybox"
    for t in sh sleep cat echo ls; do ln -s busybox "$tmp/root/bin/$t"; done
    import_root "$tmp/root" "$ref" "$hash" "$inputs" '["/bin/busybox"]'
    echo "$ref"
}

case "$kind" in
    probe) probe ;;
    mediator-lite) mediator_lite ;;
    qemu-stock) qemu_stock ;;
    *) die "usage: images/build-container-image.sh mediator-lite --jar PATH --version V [--jvm-option OPT]... | qemu-stock" ;;
esac
