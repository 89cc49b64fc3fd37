#!/usr/bin/env bash
# Write a cloud-init NoCloud seed disk that lets root (and the image's default user) log in with one SSH key.
#
# usage: images/make-nocloud-seed.sh [--hostname NAME] [--instance-id ID] AUTHORIZED_KEY_LINE OUT.img
#
#   AUTHORIZED_KEY_LINE  one authorized_keys line, e.g. "$(cat ~/.ssh/id_ed25519.pub)"
#   OUT.img              the seed: a 1 MiB FAT12 image labelled "cidata" holding user-data and meta-data
#   --hostname NAME      local-hostname in meta-data (default vgpu-guest)
#   --instance-id ID     instance-id in meta-data (default: vgpu-hil- + a hash of the key and hostname, so the same
#                        inputs give the same seed and a new key is a new instance for cloud-init)
#
# Boot any cloud image (Debian genericcloud/nocloud qcow2, or images/build-debian-disk.sh --cloud-init) with it:
#   qemu-system-x86_64 ... -drive file=disk.qcow2,if=virtio -drive file=seed.img,if=virtio,format=raw
# cloud-init finds the seed by its label (datasource NoCloud), installs the key for root (disable_root: false) and
# for the image's default user, and disables password logins.
#
# Needs mkfs.vfat (dosfstools) and mcopy (mtools); as root the missing ones are installed with apt-get. No mounting,
# no loop devices: check the result with `mdir -i OUT.img ::` and `mtype -i OUT.img ::user-data`.
set -euo pipefail

log_tag=make-nocloud-seed
# shellcheck source=../bin/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../bin/lib.sh"
usage() {
    cat <<'USAGE' >&2
Write a cloud-init NoCloud seed disk that lets root (and the image's default user) log in with one SSH key.

usage: images/make-nocloud-seed.sh [--hostname NAME] [--instance-id ID] AUTHORIZED_KEY_LINE OUT.img
  AUTHORIZED_KEY_LINE  one authorized_keys line, e.g. "$(cat ~/.ssh/id_ed25519.pub)"
  OUT.img              the seed: a 1 MiB FAT12 image labelled "cidata" holding user-data and meta-data
  --hostname NAME      local-hostname in meta-data (default vgpu-guest)
  --instance-id ID     instance-id in meta-data (default: vgpu-hil- + a hash of the key and hostname)

Boot a cloud image with it: -drive file=disk.qcow2,if=virtio -drive file=OUT.img,if=virtio,format=raw
Needs mkfs.vfat (dosfstools) and mcopy (mtools); as root the missing ones are installed with apt-get.
USAGE
}

hostname=vgpu-guest
instance_id=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --hostname) [ $# -ge 2 ] || die "--hostname needs a value"; hostname=$2; shift 2 ;;
        --instance-id) [ $# -ge 2 ] || die "--instance-id needs a value"; instance_id=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; args+=("$@"); break ;;
        -*) usage; die "unknown option: $1" ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -eq 2 ] || { usage; die "need exactly AUTHORIZED_KEY_LINE and OUT.img"; }
key=${args[0]}
out=${args[1]}

# one line, looks like a public key ("[options] type base64 [comment]")
case "$key" in *$'\n'*|*$'\r'*) die "AUTHORIZED_KEY_LINE must be one line" ;; esac
key=$(printf '%s' "$key" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
[[ "$key" =~ (^|[[:space:]])(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)[[:space:]]+[A-Za-z0-9+/=]+ ]] \
    || die "AUTHORIZED_KEY_LINE does not look like a public key: '$key'"
[[ "$hostname" =~ ^[A-Za-z0-9][A-Za-z0-9.-]*$ ]] || die "bad hostname: $hostname"
[ -n "$instance_id" ] || instance_id="vgpu-hil-$(printf '%s\n%s\n' "$key" "$hostname" | sha256sum | cut -c1-12)"
[[ "$instance_id" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad instance-id: $instance_id"
outdir=$(dirname -- "$out")
[ -d "$outdir" ] || die "directory of $out does not exist"

missing=()
command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ] || [ -x /sbin/mkfs.vfat ] || missing+=(dosfstools)
command -v mcopy >/dev/null 2>&1 || missing+=(mtools)
install_packages "${missing[@]}"
mkfs_vfat=$(command -v mkfs.vfat || echo /usr/sbin/mkfs.vfat)

work=$(mktemp -d)
tmp_img="$out.tmp.$$"
trap 'rm -rf "$work" "$tmp_img"' EXIT
# the key goes in single-quoted YAML scalars: double any single quote
yq=${key//\'/\'\'}
cat >"$work/user-data" <<EOF
#cloud-config
# written by vgpu-hil images/make-nocloud-seed.sh
disable_root: false
ssh_pwauth: false
users:
  - default
  - name: root
    lock_passwd: true
    ssh_authorized_keys:
      - '$yq'
ssh_authorized_keys:
  - '$yq'
EOF
cat >"$work/meta-data" <<EOF
instance-id: $instance_id
local-hostname: $hostname
EOF

# 1 MiB FAT12 with the volume label cloud-init looks for
# (mkfs.vfat warns that lowercase labels "might not work": cloud-init looks for cidata and CIDATA alike)
mk_out=$("$mkfs_vfat" -n cidata -C "$tmp_img" 1024 2>&1) || { printf '%s\n' "$mk_out" >&2; die "mkfs.vfat failed"; }
MTOOLS_SKIP_CHECK=1 mcopy -o -i "$tmp_img" "$work/user-data" "$work/meta-data" :: || die "mcopy failed"
mv -f "$tmp_img" "$out"
log "seed $out: instance-id $instance_id, hostname $hostname"
echo "$(cd "$outdir" && pwd)/$(basename -- "$out")"
