#!/usr/bin/env bash
# Add the vgpu-stub device to an unpacked QEMU source tree (7.2 .. 10.x).
#
# usage: integrate.sh QEMU_SRC_DIR [DEVICE_DIR]
#   DEVICE_DIR defaults to the vgpu-stub directory holding vgpu-stub.c and
#   vgpu_protocol.h.
#
# Idempotent: files are copied only when their content changed (so ninja's
# incremental rebuild sees a new mtime only then), and the meson/Kconfig
# hookup is added once, marked by "vgpu-stub".
set -euo pipefail

src=${1:?usage: integrate.sh QEMU_SRC_DIR [DEVICE_DIR]}
dev=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
misc="$src/hw/misc"

[ -f "$misc/meson.build" ] && [ -f "$misc/Kconfig" ] || {
    echo "integrate.sh: $src does not look like a QEMU source tree (no hw/misc/meson.build)" >&2
    exit 2
}
for f in vgpu-stub.c vgpu_protocol.h; do
    [ -f "$dev/$f" ] || { echo "integrate.sh: missing $dev/$f" >&2; exit 2; }
    if ! cmp -s "$dev/$f" "$misc/$f"; then
        cp "$dev/$f" "$misc/$f"
    fi
done

# QEMU 8.2 renamed the source set softmmu_ss -> system_ss.
if grep -q "^system_ss" "$misc/meson.build"; then ss=system_ss; else ss=softmmu_ss; fi
if ! grep -q "vgpu-stub.c" "$misc/meson.build"; then
    printf "\n# vgpu-stub: test harness device (vgpu-hil)\n%s.add(when: 'CONFIG_VGPU_STUB', if_true: files('vgpu-stub.c'))\n" \
        "$ss" >> "$misc/meson.build"
fi
if ! grep -q "^config VGPU_STUB" "$misc/Kconfig"; then
    cat >> "$misc/Kconfig" <<'KCONFIG'

# vgpu-stub: test harness device (vgpu-hil)
config VGPU_STUB
    bool
    default y if PCI_DEVICES
    depends on PCI && MSI_NONBROKEN
KCONFIG
fi
