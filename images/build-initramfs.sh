#!/usr/bin/env bash
# Build the vgpu-hil CI guest (kernel + lz4 initramfs) from Debian packages, cached by content hash.
#
# usage: images/build-initramfs.sh [--force] [--print-key]
#   --force       rebuild even when a cache entry exists (the new entry replaces the old one)
#   --print-key   print only the cache key (the hash of all inputs) and exit
#
# Output contract (docs/CONTRACTS.md "Guest image"): progress on stderr; the LAST stdout line is the
# directory ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/images/<key>/ holding
#   vmlinuz         Debian's cloud kernel (linux-image-cloud-amd64)
#   initramfs.img   newc cpio, legacy lz4 (lz4 -l)
#   IMAGE-INFO      key=value lines: cache_key, kernel_version, java_version, package versions, host key
#                   fingerprints and public keys, sizes
# The entry appears by an atomic rename, so an interrupted build never leaves one that looks valid; a second
# run with the same inputs prints the path at once (no download, no build). A build keeps the three newest entries.
#
# The key is a hash of: this script, images/initramfs/init, the Debian package versions used (kernel,
# busybox-static, dropbear-bin, openssh-sftp-server, glibc and the other shared libraries, the host JDK that
# jlink takes the runtime from) and the guest test program's source (vgpu-stub/guest-test/test_vgpu_enhanced.c
# + vgpu-stub/vgpu_protocol.h).
#
# What the guest holds: busybox (static) as userland, /init (images/initramfs/init), the virtio-net modules,
# the UIO modules (uio, uio_pci_generic: the guest agent's `vector-add --irq` binds the device to them; /init
# loads them unless vgpuhil.uio=0), dropbear (host keys made at build time) + sftp-server, glibc and friends,
# /opt/java (jlink: java.base, java.logging, CDS archive; `java` on PATH) and /usr/local/bin/test_vgpu_enhanced
# (static).
#
# Needs: apt-get (package downloads), and host tools lz4, cpio, gcc + libc6-dev, binutils, jlink
# (openjdk-17-jdk-headless). As root the missing ones are installed with apt-get; otherwise it says which.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
repo=$(cd "$here/.." && pwd)
init_src="$here/initramfs/init"
test_src=$repo/vgpu-stub/guest-test/test_vgpu_enhanced.c
protocol_h="$repo/vgpu-stub/vgpu_protocol.h"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/images"
jdk=/usr/lib/jvm/java-17-openjdk-amd64
jdk_pkg=openjdk-17-jdk-headless
java_modules=java.base,java.logging
# loaded in this order by /init; the ones built into the kernel are skipped at build time
virtio_modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net)
# Linux's generic UIO PCI driver (uio_pci_generic needs uio; both are modules (=m) in the cloud kernel): loaded by
# /init unless vgpuhil.uio=0, listed in /lib/modules/load-order-uio
uio_modules=(uio uio_pci_generic)
# Debian packages whose files go into the guest (the kernel's real package is resolved from the metapackage)
packages=(busybox-static dropbear-bin openssh-sftp-server libc6 libgcc-s1 libstdc++6 zlib1g libcrypt1
          libtomcrypt1 libtommath1 libgmp10)
host_tools=(lz4:lz4 cpio:cpio gcc:gcc readelf:binutils strip:binutils)

orig_args=("$@")
force=0
print_key=0
log_tag=build-initramfs
# shellcheck source=../bin/lib.sh
source "$here/../bin/lib.sh"
usage() {
    cat <<'USAGE'
Build the vgpu-hil CI guest (kernel + lz4 initramfs) from Debian packages, cached by content hash.

usage: images/build-initramfs.sh [--force] [--print-key]
  --force       rebuild even when a cache entry exists (the new entry replaces the old one)
  --print-key   print only the cache key (the hash of all inputs) and exit

Progress goes to stderr; the LAST stdout line is the image directory
${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/images/<key>/ (vmlinuz, initramfs.img, IMAGE-INFO).
As root, missing host packages are installed with apt-get; otherwise it says which.
USAGE
}

while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1; shift ;;
        --print-key) print_key=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[ -f "$init_src" ] || die "missing $init_src"
[ -f "$test_src" ] || die "the guest test program is missing: $test_src (vgpu-stub/guest-test/test_vgpu_enhanced.c is written by the device engineer; the image needs it compiled into /usr/local/bin/test_vgpu_enhanced)"
[ -f "$protocol_h" ] || die "missing $protocol_h"

# ---------------------------------------------------------------------------------------------- host tools
apt_updated=0
apt_update() {
    [ $apt_updated = 1 ] && return 0
    [ "$(id -u)" = 0 ] || die "apt-get update needs root; run it once as root"
    log "apt-get update"
    apt-get update -q >&2 || die "apt-get update failed"
    apt_updated=1
}
need_pkgs=()
for t in "${host_tools[@]}"; do command -v "${t%%:*}" >/dev/null 2>&1 || need_pkgs+=("${t#*:}"); done
[ -x "$jdk/bin/jlink" ] && [ -f "$jdk/jmods/java.base.jmod" ] || need_pkgs+=("$jdk_pkg")
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need_pkgs+=(libc6-dev)
mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u | sed '/^$/d')
install_packages "${need_pkgs[@]}"

# ------------------------------------------------------------------------------------ versions and the key
# prints "name version" for each package (candidate version from the apt lists)
candidates() {
    LC_ALL=C apt-cache policy "$@" 2>/dev/null | awk '
        /^[^ ]/ { sub(":$", "", $1); name = $1 }
        /^  Candidate:/ { print name, $2 }'
}
resolve_versions() {
    kernel_pkg=$(LC_ALL=C apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    [ -n "$kernel_pkg" ] || return 1
    versions=$(candidates "$kernel_pkg" "${packages[@]}" | sort)
    [ "$(printf '%s\n' "$versions" | awk '$2 != "" && $2 != "(none)"' | wc -l)" -eq $(( ${#packages[@]} + 1 )) ]
}
if ! resolve_versions; then
    apt_update
    resolve_versions || die "apt cannot find all of: linux-image-cloud-amd64 ${packages[*]} (got: $(echo $versions))"
fi
jdk_version=$(dpkg-query -W -f='${Version}' "$jdk_pkg" 2>/dev/null) || die "$jdk_pkg is not installed"

key=$( { printf 'script '; sha256sum <"$self"
         printf 'init '; sha256sum <"$init_src"
         printf 'test_src '; sha256sum <"$test_src"
         printf 'protocol_h '; sha256sum <"$protocol_h"
         printf 'kernel %s\n' "$kernel_pkg"
         printf '%s\n' "$versions"
         printf 'jdk %s %s %s\n' "$jdk_pkg" "$jdk_version" "$java_modules"
       } | sha256sum | cut -c1-16)
if [ $print_key = 1 ]; then echo "$key"; exit 0; fi

out="$cache_root/$key"
if [ $force = 0 ] && [ -f "$out/IMAGE-INFO" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.img" ]; then
    log "cached: $out"
    echo "$out"
    exit 0
fi

# ------------------------------------------------------------------------------------------------- build
started=$(date +%s)
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-$key-XXXXXX")
trap 'rm -rf "$work"' EXIT
debs="$work/debs" pkgroot="$work/pkgroot" root="$work/root" result="$work/result"
mkdir -p "$debs" "$pkgroot" "$root" "$result"

log "downloading $kernel_pkg ${packages[*]}"
if ! (cd "$debs" && apt-get -q -o APT::Sandbox::User=root download "$kernel_pkg" "${packages[@]}" >&2); then
    # stale package lists name versions the mirror no longer has: update once and start over (the key may change)
    if [ "${VGPU_IMAGES_APT_UPDATED:-0}" = 0 ] && [ "$(id -u)" = 0 ]; then
        log "download failed; apt-get update and retry"
        apt_update
        rm -rf "$work"
        VGPU_IMAGES_APT_UPDATED=1 exec bash "$self" "${orig_args[@]}"
    fi
    die "apt-get download failed (stale package lists? run apt-get update)"
fi
for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$pkgroot"; done

# --- kernel and modules
kver=${kernel_pkg#linux-image-}
[ -f "$pkgroot/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $kernel_pkg"
cp "$pkgroot/boot/vmlinuz-$kver" "$result/vmlinuz"
moddir="$pkgroot/lib/modules/$kver"
mkdir -p "$root/lib/modules"
: >"$root/lib/modules/load-order"
: >"$root/lib/modules/load-order-uio"
loaded=() builtin=()
# add_module NAME LIST: copies NAME.ko (decompressed) into /lib/modules and appends it to LIST, unless built in
add_module() {
    local m=$1 list=$2 f
    if grep -Eq "/$m\.ko(\.[a-z]+)?$" "$moddir/modules.builtin"; then builtin+=("$m"); return 0; fi
    f=$(find "$moddir/kernel" -name "$m.ko*" | head -n 1)
    [ -n "$f" ] || die "module $m is neither built into $kver nor shipped as a module"
    case "$f" in
        *.ko) cp "$f" "$root/lib/modules/" ;;
        *.ko.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *) die "unknown module format: $f" ;;
    esac
    # a module's dependencies must be loaded before it (modules.dep is made by depmod at install; read modinfo)
    local deps d
    deps=$(strings "$root/lib/modules/$m.ko" | sed -n 's/^depends=//p' | tr ',' ' ')
    for d in $deps; do
        grep -qx "$d.ko" "$root/lib/modules/$list" || grep -qx "$d" <<<"$(printf '%s\n' "${builtin[@]}")" \
            || die "module $m depends on $d, which is not loaded before it (list: $list)"
    done
    echo "$m.ko" >>"$root/lib/modules/$list"
    loaded+=("$m")
}
for m in "${virtio_modules[@]}"; do add_module "$m" load-order; done
for m in "${uio_modules[@]}"; do add_module "$m" load-order-uio; done
log "kernel $kver: modules ${loaded[*]:-none}; built in: ${builtin[*]:-none}"

# --- layout, busybox
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/lib/openssh,lib/x86_64-linux-gnu,lib64,etc/dropbear} \
         "$root"/{proc,sys,dev,tmp,run,root,opt,var/log,mnt}
ln -s ../run "$root/var/run"
cp "$pkgroot/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 0755 "$init_src" "$root/init"
if [ "$(id -u)" = 0 ]; then
    mknod -m 600 "$root/dev/console" c 5 1
    mknod -m 666 "$root/dev/null" c 1 3
fi

# --- /etc
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n10.0.2.15 vgpu-guest\n' >"$root/etc/hosts"
echo vgpu-guest >"$root/etc/hostname"
cat >"$root/etc/profile" <<'EOF'
export PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
EOF

# --- dropbear, sftp-server
cp "$pkgroot/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
cp "$pkgroot/usr/bin/dropbearkey" "$root/usr/bin/dropbearkey"
cp "$pkgroot/usr/lib/openssh/sftp-server" "$root/usr/lib/openssh/sftp-server"
ln -s openssh/sftp-server "$root/usr/lib/sftp-server"   # where Debian's dropbear looks for it

# --- Java runtime (jlink from the host JDK)
log "jlink $java_modules from $jdk ($jdk_version)"
"$jdk/bin/jlink" --add-modules "$java_modules" --strip-debug --no-header-files --no-man-pages --compress=2 \
    --generate-cds-archive --output "$root/opt/java" >&2 || die "jlink failed"
[ -f "$root/opt/java/lib/server/classes.jsa" ] || {
    log "no CDS archive from jlink; dumping one"
    "$root/opt/java/bin/java" -Xshare:dump >&2 || die "java -Xshare:dump failed"
}
find "$root/opt/java" -name '*.so' -exec strip --strip-unneeded {} +
strip --strip-unneeded "$root/opt/java/bin/"* 2>/dev/null || true
rm -f "$root/opt/java/lib/server/classes_nocoops.jsa"   # -m 512 guests use compressed oops
ln -s /opt/java/bin/java "$root/usr/local/bin/java"  # PATH of dropbear sessions lacks /opt/java/bin

# --- the guide's C test program (static)
log "gcc -static $test_src"
(cd "$repo" && gcc -static -O2 -Wall -I vgpu-stub -o "$root/usr/local/bin/test_vgpu_enhanced" "$test_src" >&2) \
    || die "compiling $test_src failed"
strip "$root/usr/local/bin/test_vgpu_enhanced"

# --- shared libraries: the NEEDED closure of every dynamic ELF in the guest, taken from the packages
libdirs=("$pkgroot/lib/x86_64-linux-gnu" "$pkgroot/usr/lib/x86_64-linux-gnu")
find_lib() {
    local d
    for d in "${libdirs[@]}"; do [ -e "$d/$1" ] && { echo "$d/$1"; return 0; }; done
    return 1
}
declare -A seen=()
queue=()
while IFS= read -r -d '' f; do
    [ -L "$f" ] && continue
    head -c 4 "$f" 2>/dev/null | grep -q 'ELF' || continue
    queue+=("$f")
done < <(find "$root" -type f -print0)
java_libs=$(find "$root/opt/java/lib" -name '*.so' -printf '%f\n')
while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}; queue=("${queue[@]:1}")
    for lib in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        [ -n "${seen[$lib]:-}" ] && continue
        seen[$lib]=1
        grep -qx "$lib" <<<"$java_libs" && continue
        src=$(find_lib "$lib") || die "shared library $lib (needed by ${f#"$root"}) is in none of: ${packages[*]}"
        cp -L "$src" "$root/lib/x86_64-linux-gnu/$lib"
        queue+=("$root/lib/x86_64-linux-gnu/$lib")
    done
done
cp -L "$pkgroot/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$root/lib/x86_64-linux-gnu/"
ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
# libraries java dlopens without a NEEDED entry
for lib in libnss_dns.so.2 libresolv.so.2; do
    src=$(find_lib "$lib") && cp -L "$src" "$root/lib/x86_64-linux-gnu/" || true
done
find "$root/lib/x86_64-linux-gnu" -name '*.so*' -exec strip --strip-unneeded {} + 2>/dev/null || true
log "libraries: $(ls "$root/lib/x86_64-linux-gnu" | tr '\n' ' ')"

# run a guest binary on the host through the guest's own loader and libraries
guest_run() {
    "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu" "$@"
}

# --- dropbear host keys (made once per image; guests of one image share them)
for t in ed25519 ecdsa rsa; do
    guest_run "$root/usr/bin/dropbearkey" -t "$t" -f "$root/etc/dropbear/dropbear_${t}_host_key" >/dev/null 2>&1 \
        || die "dropbearkey -t $t failed"
done
chmod 600 "$root"/etc/dropbear/*_host_key

# sanity: the runtime starts from the guest's libraries
java_version=$(guest_run "$root/opt/java/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.runtime\.version = //p')
[ -n "$java_version" ] || die "the jlinked java does not start with the guest's libraries"
# awk reads to the end: `| head -n 1` could close the pipe early, and busybox's SIGPIPE (141) would end the build
# silently under pipefail + set -e
busybox_version=$("$root/bin/busybox" 2>&1 | awk 'NR == 1 { print $2 }')

# --- pack
log "packing initramfs (cpio newc + lz4 -l)"
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --reproducible --owner=0:0 --quiet) \
    | lz4 -l -9 -q >"$result/initramfs.img"
[ -s "$result/initramfs.img" ] || die "empty initramfs"

{
    echo "cache_key=$key"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "kernel_version=$kver"
    echo "kernel_package=$kernel_pkg"
    echo "kernel_modules=${loaded[*]}"
    echo "uio_modules=$(tr '\n' ' ' <"$root/lib/modules/load-order-uio" | sed 's/\.ko//g; s/ $//')"
    echo "kernel_builtin=${builtin[*]}"
    echo "java_version=$java_version"
    echo "java_modules=$java_modules"
    echo "java_home=/opt/java"
    echo "jdk_package=$jdk_pkg=$jdk_version"
    echo "busybox_version=$busybox_version"
    printf '%s\n' "$versions" | while read -r n v; do echo "package.$n=$v"; done
    echo "test_program=/usr/local/bin/test_vgpu_enhanced"
    echo "test_source_sha256=$(sha256sum <"$test_src" | cut -c1-64)"
    echo "initramfs_bytes=$(stat -c %s "$result/initramfs.img")"
    echo "initramfs_unpacked_bytes=$(du -sb "$root" | cut -f1)"
    echo "vmlinuz_bytes=$(stat -c %s "$result/vmlinuz")"
    for t in ed25519 ecdsa rsa; do
        pub=$(guest_run "$root/usr/bin/dropbearkey" -y -f "$root/etc/dropbear/dropbear_${t}_host_key" | grep -E '^(ssh|ecdsa)-')
        fp=$(guest_run "$root/usr/bin/dropbearkey" -y -f "$root/etc/dropbear/dropbear_${t}_host_key" | sed -n 's/^Fingerprint: //p')
        echo "ssh_host_${t}_key=${pub% *}"
        echo "ssh_host_${t}_fingerprint=$fp"
    done
    echo "ssh_port=22"
    echo "ssh_user=root"
} >"$result/IMAGE-INFO"

# --- publish atomically
if [ -f "$out/IMAGE-INFO" ] && [ $force = 0 ]; then
    log "another build published $out meanwhile; using it"
else
    cache_publish "$result" "$out" 2>/dev/null || [ -f "$out/IMAGE-INFO" ] || die "could not publish $out"
fi
log "built $out in $(( $(date +%s) - started )) s: initramfs $(stat -c %s "$out/initramfs.img") bytes"
# keep the three newest entries (other checkouts may still use an older one); drop the rest
ls -1dt "$cache_root"/[0-9a-f]*/ 2>/dev/null | grep -E '/[0-9a-f]{16}/$' | tail -n +4 | while read -r stale; do
    [ "${stale%/}" = "$out" ] || { log "pruning old image ${stale%/}"; rm -rf "${stale%/}"; }
done
echo "$out"
