#!/bin/bash
# Install (or remove) qemu-wrapper-vgpu in front of xenopsd's QEMU wrapper on an XCP-ng dom0.
#
# usage: install-qemu-wrapper.sh --wrapper PATH [--uninstall] [--dry-run]
#
#   --wrapper PATH  xenopsd's QEMU wrapper, as xenopsd starts it. Find it on the dom0: the parent command of a
#                   running qemu-system-i386 (ps -o args= -p "$(ps -o ppid= -C qemu-system-i386 | head -n1)"),
#                   or the qemu wrapper entry of /etc/xenopsd.conf. Never guessed here: a wrong path would
#                   silently do nothing.
#   --uninstall     put the original back.
#   --dry-run       print what would be done.
#
# Install: PATH is moved to PATH.vgpu-orig (once; a second install only refreshes the script), and
# qemu-wrapper-vgpu is copied to PATH (mode 0755). Running VMs are not touched; a VM picks the wrapper up at its
# next start. An update of the xenopsd package overwrites PATH: run this again afterwards (it notices that PATH
# is no longer this script and moves the new original aside).
# Per-VM config: /etc/vgpu-hil/vm/<vm-uuid>.conf, see qemu-wrapper-vgpu.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
marker="qemu-wrapper-vgpu: put in front of xenopsd's QEMU wrapper"
wrapper="" uninstall=0 dry=0
die() { echo "install-qemu-wrapper.sh: $*" >&2; exit 2; }
run() { if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi; }
while [ $# -gt 0 ]; do
    case "$1" in
        --wrapper) [ $# -ge 2 ] || die "--wrapper needs a path"; wrapper=$2; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ -n "$wrapper" ] || die "--wrapper PATH is required (see --help for how to find xenopsd's QEMU wrapper)"
orig="$wrapper.vgpu-orig"
is_ours() { [ -f "$1" ] && grep -qF "$marker" "$1"; }

if [ "$uninstall" = 1 ]; then
    [ -e "$orig" ] || die "$orig does not exist: nothing to uninstall"
    is_ours "$wrapper" || die "$wrapper is not qemu-wrapper-vgpu (a package update replaced it?); left alone, $orig kept"
    run mv -f "$orig" "$wrapper"
    echo "restored $wrapper"
    exit 0
fi

[ -e "$wrapper" ] || die "$wrapper does not exist"
if ! is_ours "$wrapper"; then
    [ -x "$wrapper" ] || die "$wrapper is not executable: is it really xenopsd's QEMU wrapper?"
    run mv -f "$wrapper" "$orig"      # first install, or a package update put a new original in place
fi
tmp="$wrapper.vgpu-new"
run install -m 0755 "$here/qemu-wrapper-vgpu" "$tmp"
run mv -f "$tmp" "$wrapper"           # atomic: xenopsd never sees a half-written wrapper
run mkdir -p /etc/vgpu-hil/vm
echo "installed qemu-wrapper-vgpu as $wrapper (original: $orig); per-VM configs in /etc/vgpu-hil/vm/<vm-uuid>.conf"
