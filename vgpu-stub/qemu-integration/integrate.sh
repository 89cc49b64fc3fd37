#!/usr/bin/env bash
# Add the vgpu-stub device to an unpacked QEMU source tree.
#
# usage: integrate.sh [--enable-for TARGET]... QEMU_SRC_DIR [DEVICE_DIR]
#   DEVICE_DIR defaults to the vgpu-stub directory holding vgpu-stub.c,
#   vgpu_compat.h, vgpu_protocol.h and core/ (a flat directory with the core
#   files next to the others, like an RPM's SOURCES, and vgpu-stub-enhanced.c,
#   the guide's name for vgpu-stub.c, work too).
#   --enable-for TARGET  also set CONFIG_VGPU_STUB=y in TARGET's default device
#                        config (e.g. i386-softmmu), for builds configured with
#                        --without-default-devices, which ignore Kconfig
#                        "default y" (XCP-ng's qemu.spec does that).
#
# What it does, in the tree:
#   hw/misc/vgpu-stub.c, vgpu_compat.h, vgpu_protocol.h   copied in
#   hw/misc/core/vgpu_core.c, vgpu_core.h, vgpu_protocol.h
#                                                  the device core, with its own
#                                                  copy of the protocol header
#                                                  (so it always compiles with
#                                                  the header it came with)
#   hw/misc/meson.build (QEMU >= 5.2) or hw/misc/Makefile.objs (older)
#                                                  one line building vgpu-stub.c
#                                                  and core/vgpu_core.c (a line
#                                                  from before the split is
#                                                  replaced)
#   hw/misc/Kconfig                                config VGPU_STUB
#   configs/devices/T/default.mak (>= 6.0), default-configs/devices/T.mak (5.2)
#   or default-configs/T.mak (older)              CONFIG_VGPU_STUB=y (--enable-for)
#
# Idempotent: files are copied only when their content changed (so ninja's
# incremental rebuild sees a new mtime only then), and every hookup line is
# added once, recognised by "vgpu-stub"/VGPU_STUB. Used by build-qemu.sh and,
# inside the RPM's %prep, by xcpng/patch-spec.sh.
#
# The C source supports the QEMU releases named in vgpu_compat.h (every API
# difference is there); the hookup here also knows the pre-meson layout
# (Makefile.objs, QEMU < 5.2), which is the one difference not in C.
set -euo pipefail

me=integrate.sh
die() { echo "$me: $*" >&2; exit 2; }

enable_for=()
while [ $# -gt 0 ]; do
    case "$1" in
        --enable-for) [ $# -ge 2 ] || die "--enable-for needs a target (e.g. i386-softmmu)"; enable_for+=("$2"); shift 2 ;;
        --enable-for=*) enable_for+=("${1#--enable-for=}"); shift ;;
        -h|--help) sed -n '2,37p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done

src=${1:?usage: integrate.sh [--enable-for TARGET]... QEMU_SRC_DIR [DEVICE_DIR]}
dev=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
misc="$src/hw/misc"

[ -f "$misc/Kconfig" ] && { [ -f "$misc/meson.build" ] || [ -f "$misc/Makefile.objs" ]; } ||
    die "$src does not look like a QEMU source tree (no hw/misc/Kconfig with meson.build or Makefile.objs)"

device_c="$dev/vgpu-stub.c"
[ -f "$device_c" ] || device_c="$dev/vgpu-stub-enhanced.c"
[ -f "$device_c" ] || die "missing $dev/vgpu-stub.c (or the guide's vgpu-stub-enhanced.c)"
# The repository keeps the core in core/; an RPM's SOURCES directory is flat.
device_file() {
    if [ -f "$dev/$1" ]; then echo "$dev/$1"
    elif [ -f "$dev/$(basename "$1")" ]; then echo "$dev/$(basename "$1")"
    else die "missing $dev/$1"
    fi
}
device_files=(vgpu_protocol.h vgpu_compat.h core/vgpu_core.h core/vgpu_core.c)
for f in "${device_files[@]}"; do device_file "$f" > /dev/null; done

copy_if_changed() { cmp -s "$1" "$2" || cp "$1" "$2"; }
mkdir -p "$misc/core"
copy_if_changed "$device_c" "$misc/vgpu-stub.c"
for f in "${device_files[@]}"; do
    copy_if_changed "$(device_file "$f")" "$misc/$f"
done
copy_if_changed "$(device_file vgpu_protocol.h)" "$misc/core/vgpu_protocol.h"

if [ -f "$misc/meson.build" ]; then
    # QEMU 8.2 renamed the source set softmmu_ss -> system_ss.
    if grep -q "^system_ss" "$misc/meson.build"; then ss=system_ss; else ss=softmmu_ss; fi
    if ! grep -q "files('vgpu-stub.c', 'core/vgpu_core.c')" "$misc/meson.build"; then
        # a tree integrated before the core split has a line without vgpu_core.c
        sed -i -e '/^# vgpu-stub: test harness device/d' -e "/files('vgpu-stub.c'/d" "$misc/meson.build"
        printf "\n# vgpu-stub: test harness device (vgpu-hil)\n%s.add(when: 'CONFIG_VGPU_STUB', if_true: files('vgpu-stub.c', 'core/vgpu_core.c'))\n" \
            "$ss" >> "$misc/meson.build"
    fi
else
    if ! grep -q "vgpu-stub.o core/vgpu_core.o" "$misc/Makefile.objs"; then
        sed -i -e '/^# vgpu-stub: test harness device/d' -e '/vgpu-stub\.o/d' "$misc/Makefile.objs"
        printf '\n# vgpu-stub: test harness device (vgpu-hil)\ncommon-obj-$(CONFIG_VGPU_STUB) += vgpu-stub.o core/vgpu_core.o\n' \
            >> "$misc/Makefile.objs"
    fi
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

for target in ${enable_for[@]+"${enable_for[@]}"}; do
    mak=""
    for candidate in "$src/configs/devices/$target/default.mak" \
                     "$src/default-configs/devices/$target.mak" \
                     "$src/default-configs/$target.mak"; do
        if [ -f "$candidate" ]; then mak=$candidate; break; fi
    done
    [ -n "$mak" ] || die "no default device config for target $target in $src (looked in configs/devices/$target/default.mak, default-configs/devices/$target.mak, default-configs/$target.mak)"
    if ! grep -q "^CONFIG_VGPU_STUB=" "$mak"; then
        printf '\n# vgpu-stub: test harness device (vgpu-hil)\nCONFIG_VGPU_STUB=y\n' >> "$mak"
    fi
done
