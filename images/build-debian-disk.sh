#!/usr/bin/env bash
# Build the fuller (nightly) Debian guest: debootstrap bookworm into a bootable qcow2 disk, cached by content hash.
#
# usage: images/build-debian-disk.sh [--size SIZE] [--cloud-init] [--mirror URL] [--force] [--check-args]
#   --size SIZE     virtual disk size for mkfs/qemu-img (default 4G)
#   --cloud-init    also install cloud-init (datasource NoCloud only), so a NoCloud seed
#                   (images/make-nocloud-seed.sh) can set the key when the disk boots through GRUB; the direct boot
#                   (key on the kernel command line) turns it off with cloud-init=disabled in append_prefix
#   --mirror URL    Debian mirror (default http://deb.debian.org/debian, security from .../debian-security)
#   --force         rebuild even if a cache entry exists
#   --check-args    only check the arguments and the host (root, tools), print the cache directory, build nothing
#
# Output (last stdout line, progress on stderr): ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/disks/<key>/ with
#   disk.qcow2    MBR partition table, partition 1 (from 1 MiB) one ext4 file system labelled vgpu-root, and GRUB
#                 (i386-pc: boot.img in the MBR, core.img in the gap before partition 1, /boot/grub/grub.cfg with
#                 serial console): boots on its own with SeaBIOS (QEMU's default firmware, not qboot)
#   vmlinuz       the disk's own kernel (linux-image-cloud-amd64) and
#   initrd.img    its initramfs-tools initrd, to boot them directly (faster, and the key on the command line)
#   DISK-INFO     key=value: cache_key, suite, kernel_version, java_version, root, append_prefix, packages, size
# The entry appears by an atomic rename; the key hashes this script, the test program's source and the options.
# Package versions are whatever the mirror has at build time (this is the nightly image: rebuild with --force).
#
# Boot, directly (the key on the kernel command line):
#   qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -nographic -nodefaults -serial stdio \
#     -kernel DIR/vmlinuz -initrd DIR/initrd.img \
#     -drive file=DIR/disk.qcow2,if=virtio,format=qcow2,snapshot=on \
#     -append "root=LABEL=vgpu-root rw net.ifnames=0 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off cloud-init=disabled console=ttyS0 panic=-1 vgpuhil.authkey=<base64 of one authorized_keys line>" \
#     -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=n0
# i.e. GuestImage.kernelCommandLine(key) prefixed with DISK-INFO's append_prefix. Or through its own boot loader,
# as any user's image (built with --cloud-init, the key from a NoCloud seed):
#   qemu-system-x86_64 -machine q35 -accel tcg -m 1024 -nographic -nodefaults -serial stdio \
#     -drive file=DIR/disk.qcow2,if=virtio,format=qcow2,snapshot=on -drive file=seed.img,if=virtio,format=raw \
#     -netdev user,id=n0,hostfwd=tcp:127.0.0.1:2222-:22 -device virtio-net-pci,netdev=n0
# Keys arrive the same way as in the CI initramfs (vgpuhil.authkey=, read at boot by vgpu-hil-keys.service), or
# with --cloud-init through a NoCloud seed. The guest prints the same serial markers as the CI initramfs
# ("vgpu-hil: ssh ready", "vgpu-hil: ready", and for vgpuhil.run=<base64 cmd> "vgpu-hil: run begin" ...
# "vgpu-hil: run end rc=<n>" followed by poweroff). Network: systemd-networkd, DHCP on the virtio NIC.
# Contents: systemd, openssh-server (root by key only), openjdk-17-jre-headless (/opt/java -> the JRE, so
# /opt/java/bin/java works as in the initramfs), the guide's C test program in /usr/local/bin, iproute2, pciutils,
# busybox (devmem and usleep linked in /usr/local/bin, as the CI guest has them), grub-pc-bin.
#
# Needs root (debootstrap, chroot) and debootstrap, e2fsprogs (mkfs.ext4 -d: no loop device, no mount of the
# image), fdisk (sfdisk on the image file), qemu-utils, gcc + libc6-dev; missing ones are installed with apt-get. Takes ~2-3 min here (fast mirror) and ~2 GB of disk.
# Not run in CI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/$(basename "${BASH_SOURCE[0]}")"
repo=$(cd "$here/.." && pwd)
test_src="$repo/vgpu-stub/guest-test/test_vgpu_enhanced.c"
protocol_h="$repo/vgpu-stub/vgpu_protocol.h"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/disks"
suite=bookworm
size=4G
cloud_init=0
mirror=http://deb.debian.org/debian
security_mirror=http://deb.debian.org/debian-security
force=0
check_args=0

log_tag=build-debian-disk
# shellcheck source=../bin/lib.sh
source "$here/../bin/lib.sh"
usage() {
    cat <<'USAGE' >&2
Build the fuller (nightly) Debian guest: debootstrap bookworm into a bootable qcow2 disk, cached by content hash.

usage: images/build-debian-disk.sh [--size SIZE] [--cloud-init] [--mirror URL] [--force] [--check-args]
  --size SIZE     virtual disk size (default 4G, at least 1536M)
  --cloud-init    also install cloud-init (NoCloud only), so the disk boots as a user's cloud image with a seed
  --mirror URL    Debian mirror (default http://deb.debian.org/debian, security from .../debian-security)
  --force         rebuild even if a cache entry exists
  --check-args    only check the arguments and the host (root, tools), print the cache directory, build nothing

Output (last stdout line, progress on stderr): ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/disks/<key>/
Needs root (debootstrap, chroot).
USAGE
}

while [ $# -gt 0 ]; do
    case "$1" in
        --size) [ $# -ge 2 ] || die "--size needs a value"; size=$2; shift 2 ;;
        --cloud-init) cloud_init=1; shift ;;
        --mirror) [ $# -ge 2 ] || die "--mirror needs a value"; mirror=$2; shift 2 ;;
        --force) force=1; shift ;;
        --check-args) check_args=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done
[[ "$size" =~ ^[0-9]+[MG]$ ]] || die "--size must look like 4G or 2048M, not '$size'"
size_mb=${size%[MG]}; [ "${size: -1}" = G ] && size_mb=$((size_mb * 1024))
[ "$size_mb" -ge 1536 ] || die "--size must be at least 1536M (the JRE and kernel need ~1 GB)"
[[ "$mirror" =~ ^https?://[^[:space:]]+$ ]] || die "--mirror must be an http(s) URL"
[ -f "$test_src" ] || die "the guest test program is missing: $test_src"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"

key=$( { sha256sum <"$self"; sha256sum <"$test_src"; sha256sum <"$protocol_h"
         printf '%s %s %s %s\n' "$suite" "$size" "$cloud_init" "$mirror"; } | sha256sum | cut -c1-16)
out="$cache_root/$key"
if [ $check_args = 1 ]; then
    log "arguments fine: suite $suite, size $size, cloud-init $cloud_init, mirror $mirror"
    echo "$out"
    exit 0
fi
if [ $force = 0 ] && [ -f "$out/DISK-INFO" ]; then
    log "cached: $out"
    echo "$out"
    exit 0
fi

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /sbin/mkfs.ext4 ] || need+=(e2fsprogs)
command -v sfdisk >/dev/null 2>&1 || [ -x /sbin/sfdisk ] || need+=(fdisk)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
install_packages "${need[@]}"
PATH=$PATH:/usr/sbin:/sbin

started=$(date +%s)
mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-$key-XXXXXX")
root="$work/root" result="$work/result"
mkdir -p "$root" "$result"
cleanup() {
    for m in dev/pts dev sys proc; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m" || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# debootstrap's own dependency resolution is shallow: only the base system with it, the rest through apt in the chroot
packages=(linux-image-cloud-amd64 initramfs-tools systemd-sysv udev kmod openssh-server openjdk-17-jre-headless
          iproute2 pciutils ca-certificates procps less busybox grub-pc-bin)
[ $cloud_init = 1 ] && packages+=(cloud-init)
log "debootstrap $suite (minbase)"
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2; then
    tail -n 30 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap failed (log tail above)"
fi

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
# before the packages: the initrd that their installation generates has it (see the networkd units below)
mkdir -p "$root/etc/initramfs-tools/scripts/local-top"
cat >"$root/etc/initramfs-tools/scripts/local-top/vgpu-hil-net" <<'EOF'
#!/bin/sh
# vgpu-hil: ip= on the kernel command line configures the NIC here (klibc ipconfig), as for an NFS root
case "$1" in prereqs) exit 0 ;; esac
. /scripts/functions
case "${IP:-}" in ""|none|off) ;; *) configure_networking ;; esac
EOF
chmod 755 "$root/etc/initramfs-tools/scripts/local-top/vgpu-hil-net"
log "apt-get install ${packages[*]} (with updates and security)"
in_root apt-get update -q >&2 || die "apt-get update in the chroot failed"
in_root apt-get -y -q -o Dpkg::Options::=--force-confold dist-upgrade >&2 || die "apt-get dist-upgrade failed"
in_root apt-get -y -q --no-install-recommends -o Dpkg::Options::=--force-confold install "${packages[@]}" >&2 \
    || die "apt-get install in the chroot failed"
kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
[ -n "$kver" ] || die "no kernel installed"

# --- configuration
echo vgpu-guest >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vgpu-guest\n' >"$root/etc/hosts"
echo 'LABEL=vgpu-root / ext4 defaults,noatime 0 1' >"$root/etc/fstab"
in_root passwd -l root >/dev/null
mkdir -p "$root/etc/ssh/sshd_config.d"
printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n' \
    >"$root/etc/ssh/sshd_config.d/vgpu-hil.conf"
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$root/etc/systemd/network/50-vgpu-hil.network"
echo 'nameserver 10.0.2.3' >"$root/etc/resolv.conf"
in_root systemctl enable systemd-networkd.service >&2
# the direct boot has its initramfs configure the NIC statically with the addresses of QEMU's user networking (ip= in
# append_prefix, below: DHCP from the initramfs lost its first 2 s; initramfs-tools configures a NIC only for an NFS
# root, so a local-top script, written before the packages, asks for it): networkd and its wait for the network
# (~5 s under TCG) only run in a boot without ip= (through GRUB)
direct_net='net.ifnames=0 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off'
for unit in systemd-networkd.service systemd-networkd.socket systemd-networkd-wait-online.service; do
    mkdir -p "$root/etc/systemd/system/$unit.d"
    printf '[Unit]\nConditionKernelCommandLine=!ip\n' >"$root/etc/systemd/system/$unit.d/vgpu-hil.conf"
done
# no VGA under -nodefaults: the gettys on tty1-6 only cost boot time (the serial console keeps its getty)
in_root systemctl mask getty@tty1.service getty-static.service >&2
# units a throw-away test guest does without, each 0.4-4 s of its one vCPU under TCG (systemd-analyze blame): the ext4
# scrubber, periodic jobs (which would also fire during a long soak), pstore, binfmt, the debug/trace/config/fuse/
# hugepage/mqueue mounts and the modules behind them, static device nodes, the random-seed file (RDRAND seeds it)
in_root systemctl mask e2scrub_reap.service e2scrub_all.timer fstrim.timer apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer systemd-tmpfiles-clean.timer systemd-pstore.service systemd-binfmt.service \
    proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    sys-kernel-config.mount sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
    modprobe@configfs.service modprobe@dm_mod.service modprobe@drm.service modprobe@efi_pstore.service \
    modprobe@fuse.service modprobe@loop.service kmod-static-nodes.service systemd-random-seed.service \
    systemd-network-generator.service >&2
# and the generators for what this disk has not (encrypted, verity or integrity volumes, hibernation, GPT auto-mounts,
# SysV scripts, rc.local, offline updates, systemd.run=/debug options): each ~0.1 s before the first unit starts
mkdir -p "$root/etc/systemd/system-generators"
for g in systemd-cryptsetup-generator systemd-veritysetup-generator systemd-integritysetup-generator \
    systemd-hibernate-resume-generator systemd-gpt-auto-generator systemd-sysv-generator systemd-rc-local-generator \
    systemd-system-update-generator systemd-debug-generator systemd-run-generator; do
    ln -sf /dev/null "$root/etc/systemd/system-generators/$g"
done
ln -sfn /usr/lib/jvm/java-17-openjdk-amd64 "$root/opt/java"
# the harness's host-side garbage writer uses devmem and usleep, as busybox provides them in the CI guest
ln -sf /bin/busybox "$root/usr/local/bin/devmem"
ln -sf /bin/busybox "$root/usr/local/bin/usleep"
if [ $cloud_init = 1 ]; then
    # only NoCloud (no metadata-server timeouts). With one datasource listed ds-identify does not look for it, so
    # cloud-init runs on every boot, seed or not (~20 s under TCG, most of it regenerating SSH host keys): the direct
    # boot, which has the key on the kernel command line, says cloud-init=disabled (append_prefix below).
    # No locale module: minbase has no locales package, update-locale would fail and leave cloud-init in "error"
    mkdir -p "$root/etc/cloud/cloud.cfg.d"
    printf 'datasource_list: [ NoCloud ]\nlocale: false\n' >"$root/etc/cloud/cloud.cfg.d/90-vgpu-hil.cfg"
fi

# first boot (every boot): the key and the run command from the kernel command line, and the serial markers
cat >"$root/usr/local/sbin/vgpu-hil-guest" <<'EOF'
#!/bin/sh
# vgpu-hil guest setup: vgpuhil.authkey= / vgpuhil.run= from the kernel command line (see images/initramfs/init)
phase=$1
authkey= run=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        vgpuhil.authkey=*) authkey=${arg#vgpuhil.authkey=} ;;
        vgpuhil.run=*) run=${arg#vgpuhil.run=} ;;
    esac
done
if [ "$phase" = keys ]; then
    if [ -n "$authkey" ]; then
        install -d -m 700 /root/.ssh
        echo "$authkey" | base64 -d >/root/.ssh/authorized_keys && echo >>/root/.ssh/authorized_keys
        chmod 600 /root/.ssh/authorized_keys
    fi
    exit 0
fi
echo "vgpu-hil: init started" >/dev/console
ip -o -4 addr show scope global | grep -q . && echo "vgpu-hil: network up" >/dev/console
systemctl is-active -q ssh.service && echo "vgpu-hil: ssh ready" >/dev/console
echo "vgpu-hil: ready" >/dev/console
if [ -n "$run" ]; then
    cmd=$(echo "$run" | base64 -d)
    {
        echo "vgpu-hil: run begin"
        (cd /root && HOME=/root PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c "$cmd") 2>&1
        echo "vgpu-hil: run end rc=$?"
    } >/dev/console
    systemctl poweroff
fi
EOF
chmod 755 "$root/usr/local/sbin/vgpu-hil-guest"
cat >"$root/etc/systemd/system/vgpu-hil-keys.service" <<'EOF'
[Unit]
Description=vgpu-hil: authorized key from the kernel command line
Before=ssh.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vgpu-hil-guest keys
[Install]
WantedBy=multi-user.target
EOF
cat >"$root/etc/systemd/system/vgpu-hil-ready.service" <<'EOF'
[Unit]
Description=vgpu-hil: serial markers and vgpuhil.run
After=ssh.service network-online.target systemd-networkd.service
Wants=network-online.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/vgpu-hil-guest ready
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable vgpu-hil-keys.service vgpu-hil-ready.service >&2

log "gcc -static $test_src"
(cd "$repo" && gcc -static -O2 -Wall -I vgpu-stub -o "$root/usr/local/bin/test_vgpu_enhanced" "$test_src" >&2) \
    || die "compiling $test_src failed"

[ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] || die "no kernel/initrd for $kver in the disk"

# --- boot loader: GRUB for BIOS, installed by hand (grub-install wants a block device): core.img with an early
# config that finds the root file system by its label, then /boot/grub/grub.cfg from it
log "GRUB (i386-pc) core image"
mkdir -p "$root/boot/grub/i386-pc"
cp "$root"/usr/lib/grub/i386-pc/*.mod "$root"/usr/lib/grub/i386-pc/*.lst "$root/boot/grub/i386-pc/"
cat >"$root/boot/grub/grub.cfg" <<EOF
# written by vgpu-hil images/build-debian-disk.sh (no update-grub: this file is the whole configuration)
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry 'Debian GNU/Linux ($kver, vgpu-hil)' {
    search --no-floppy --label vgpu-root --set=root
    linux /boot/vmlinuz-$kver root=LABEL=vgpu-root rw console=ttyS0 panic=-1
    initrd /boot/initrd.img-$kver
}
EOF
printf 'search --no-floppy --label vgpu-root --set=root\nset prefix=($root)/boot/grub\n' >"$root/tmp/early.cfg"
in_root grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/early.cfg -p /boot/grub \
    biosdisk part_msdos ext2 search search_label normal configfile linux echo serial terminal test >&2 \
    || die "grub-mkimage failed"
mv "$root/tmp/core.img" "$work/core.img"
cp "$root/usr/lib/grub/i386-pc/boot.img" "$work/boot.img"
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || die "GRUB core.img ($core_sectors sectors) does not fit before partition 1"
cp "$root/boot/vmlinuz-$kver" "$result/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$result/initrd.img"
java_version=$(in_root /usr/lib/jvm/java-17-openjdk-amd64/bin/java -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.runtime\.version = //p')
in_root dpkg-query -W -f='package.${Package}=${Version}\n' >"$work/packages"
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*.log
: >"$root/etc/machine-id"
for m in dev/pts dev sys proc; do umount -l "$root/$m"; done

log "mkfs.ext4 -d (no loop device), partition table, GRUB, qemu-img convert"
mkfs.ext4 -q -F -L vgpu-root -d "$root" "$work/part.raw" "$((size_mb - 1))M" >&2 || die "mkfs.ext4 failed"
truncate -s "${size_mb}M" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.raw" >&2 || die "sfdisk failed"
dd if="$work/part.raw" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none || die "dd of the partition failed"
rm -f "$work/part.raw"
# boot.img's code only (440 bytes: the partition table and signature stay); its default core sector is 1, and
# grub-mkimage already wrote core.img's own block list (sector 2 on, its length) into core.img's first sector
dd if="$work/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none || die "dd of boot.img failed"
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none || die "dd of core.img failed"
qemu-img convert -O qcow2 "$work/disk.raw" "$result/disk.qcow2" || die "qemu-img convert failed"
rm -f "$work/disk.raw"
{
    echo "cache_key=$key"
    echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "suite=$suite"
    echo "size=$size"
    echo "cloud_init=$cloud_init"
    echo "kernel_version=$kver"
    echo "java_version=$java_version"
    echo "root=LABEL=vgpu-root"
    if [ $cloud_init = 1 ]; then echo "append_prefix=root=LABEL=vgpu-root rw $direct_net cloud-init=disabled"
    else echo "append_prefix=root=LABEL=vgpu-root rw $direct_net"; fi
    echo "boot_loader=grub-pc (MBR, core.img before partition 1 at 1 MiB)"
    cat "$work/packages"
} >"$result/DISK-INFO"
cache_publish "$result" "$out"
log "built $out in $(( $(date +%s) - started )) s"
echo "$out"
