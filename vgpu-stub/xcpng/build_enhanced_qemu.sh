#!/usr/bin/env bash
# Build and install XCP-ng's QEMU RPM with the vgpu-stub device added: the
# guide's (vgpu-stub-v2-guide.txt) "STEP 2" for XCP-ng dom0.
#
# usage: build_enhanced_qemu.sh [--srpm FILE|URL | --spec FILE] [--topdir DIR]
#                               [--no-builddep] [--no-install] [--dry-run]
#
#   --srpm FILE|URL  the qemu source RPM to rebuild (XCP-ng's are under
#                    https://updates.xcp-ng.org/8/<8.x>/base/Source/SPackages/);
#                    default: `yumdownloader --source qemu` (needs yum-utils and
#                    a source repo that yum knows).
#   --spec FILE      use an already unpacked spec instead (its Source/Patch files
#                    must be in TOPDIR/SOURCES).
#   --topdir DIR     rpmbuild's %_topdir (default: ./rpmbuild, as in the guide:
#                    ~/vgpu-build/rpmbuild/SPECS/qemu.spec).
#   --no-builddep    do not run `yum-builddep` for the spec's BuildRequires.
#   --no-install     build only; print the RPM paths.
#   --dry-run        prepare TOPDIR (sources, patched spec) and print the rpmbuild
#                    and install commands instead of running them.
#
# What it does (the guide's a-d):
#   a) copies vgpu-stub.c (or the guide's vgpu-stub-enhanced.c), vgpu_protocol.h,
#      integrate.sh (as vgpu-integrate.sh), vgpu_compat.h and the device core
#      (vgpu_core.h, vgpu_core.c) into TOPDIR/SOURCES;
#   b) patches the spec with patch-spec.sh (idempotent): Source9000-9005, and in
#      %prep a call of integrate.sh that puts the device into hw/misc with its
#      meson (or Makefile.objs) and Kconfig hookup, CONFIG_VGPU_STUB=y for the
#      spec's targets, and ".vgpu" appended to Release;
#   c) rpmbuild -bb (the guide: ~30 min in dom0);
#   d) installs the built package(s) with rpm -Uvh, after noting the version
#      that was installed before in TOPDIR/previous-<name>.txt (to go back:
#      `yum downgrade <name>` or `yum reinstall <name>-<that version>`).
#
# Then, as in the guide:
#   xe vm-param-set uuid=<VM> platform:device-model-args="-device vgpu-stub,pool_id=B,priority=high,vm_id=200"
#
# Where the inputs are looked for: next to this script (the guide's flat
# ~/vgpu-build/ with vgpu-stub-enhanced.c or vgpu-stub.c, vgpu_protocol.h,
# vgpu_compat.h, vgpu_core.h, vgpu_core.c, integrate.sh, patch-spec.sh), else
# in the repository layout (../vgpu-stub.c, ../vgpu_protocol.h,
# ../vgpu_compat.h, ../core/vgpu_core.[ch], ../qemu-integration/integrate.sh).
#
# Caveat: the device source is built and tested here against Debian's QEMU
# releases (see build-qemu.sh). XCP-ng 8.2/8.3 package QEMU 4.2.1, which cannot
# be fetched here: every API difference the device meets is in vgpu_compat.h,
# with the release that changed it, so that port is a reading of one header;
# the spec/build hookup handles 4.2 (Makefile.objs, default-configs/).
# XCP-ng recommends its build container (xcp-ng-build-env) for local RPM
# builds; this script follows the guide and also runs there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf '[build_enhanced_qemu] %s\n' "$*" >&2; }
die() { printf '[build_enhanced_qemu] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

srpm="" spec_in="" topdir="$PWD/rpmbuild" builddep=1 install=1 dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --srpm) [ $# -ge 2 ] || die "--srpm needs a file or URL"; srpm=$2; shift 2 ;;
        --spec) [ $# -ge 2 ] || die "--spec needs a file"; spec_in=$2; shift 2 ;;
        --topdir) [ $# -ge 2 ] || die "--topdir needs a directory"; topdir=$2; shift 2 ;;
        --no-builddep) builddep=0; shift ;;
        --no-install) install=0; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done
[ -z "$srpm" ] || [ -z "$spec_in" ] || die "--srpm and --spec are mutually exclusive"
mkdir -p "$topdir"
topdir=$(cd "$topdir" && pwd)

# ---- inputs ----------------------------------------------------------------
first_file() { local f; for f in "$@"; do [ -f "$f" ] && { echo "$f"; return 0; }; done; return 1; }
device_c=$(first_file "$here/vgpu-stub.c" "$here/vgpu-stub-enhanced.c" "$here/../vgpu-stub.c") ||
    die "no vgpu-stub.c (or vgpu-stub-enhanced.c) next to $0 or in $here/.."
header=$(first_file "$here/vgpu_protocol.h" "$here/../vgpu_protocol.h") ||
    die "no vgpu_protocol.h next to $0 or in $here/.."
compat=$(first_file "$here/vgpu_compat.h" "$here/../vgpu_compat.h") ||
    die "no vgpu_compat.h next to $0 or in $here/.."
core_h=$(first_file "$here/vgpu_core.h" "$here/../core/vgpu_core.h") ||
    die "no vgpu_core.h next to $0 or in $here/../core"
core_c=$(first_file "$here/vgpu_core.c" "$here/../core/vgpu_core.c") ||
    die "no vgpu_core.c next to $0 or in $here/../core"
integrate=$(first_file "$here/integrate.sh" "$here/vgpu-integrate.sh" "$here/../qemu-integration/integrate.sh") ||
    die "no integrate.sh next to $0 or in $here/../qemu-integration"
patch_spec=$(first_file "$here/patch-spec.sh") || die "no patch-spec.sh next to $0"
log "device $device_c, header $header, integration $integrate"

run() {
    if [ "$dry_run" = 1 ]; then
        printf '[dry-run]' >&2; printf ' %q' "$@" >&2; printf '\n' >&2
    else
        "$@"
    fi
}
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ ($2)}"; }

mkdir -p "$topdir"/{SOURCES,SPECS,SRPMS,RPMS,BUILD}
rpmdef=(--define "_topdir $topdir")

# ---- the spec ---------------------------------------------------------------
if [ -n "$spec_in" ]; then
    [ -f "$spec_in" ] || die "--spec $spec_in: no such file"
    spec="$topdir/SPECS/$(basename "$spec_in")"
    [ "$(cd "$(dirname "$spec_in")" && pwd)/$(basename "$spec_in")" = "$spec" ] || cp "$spec_in" "$spec"
else
    if [ -z "$srpm" ]; then
        need yumdownloader "install yum-utils, or pass --srpm"
        log "downloading the qemu source RPM (yumdownloader --source qemu)"
        (cd "$topdir/SRPMS" && yumdownloader --source qemu) >&2 ||
            die "yumdownloader --source qemu failed; pass --srpm with a qemu-*.src.rpm from https://updates.xcp-ng.org/8/<8.x>/base/Source/SPackages/"
        srpm=$(ls -t "$topdir"/SRPMS/qemu-[0-9]*.src.rpm 2>/dev/null | head -n1)
        [ -n "$srpm" ] || die "yumdownloader left no qemu-*.src.rpm in $topdir/SRPMS"
    elif [[ "$srpm" == http://* || "$srpm" == https://* ]]; then
        need curl
        log "downloading $srpm"
        curl -fL --retry 3 -o "$topdir/SRPMS/$(basename "$srpm")" "$srpm" || die "download of $srpm failed"
        srpm="$topdir/SRPMS/$(basename "$srpm")"
    fi
    [ -f "$srpm" ] || die "source RPM $srpm: no such file"
    need rpm
    log "unpacking $srpm into $topdir"
    rpm -i "${rpmdef[@]}" "$srpm" || die "rpm -i $srpm failed"
    spec=$(ls -t "$topdir"/SPECS/*.spec 2>/dev/null | head -n1)
    [ -n "$spec" ] || die "$srpm put no spec into $topdir/SPECS"
fi
log "spec $spec"

# ---- a) sources, b) spec ----------------------------------------------------
cp "$device_c" "$topdir/SOURCES/vgpu-stub.c"
cp "$header" "$topdir/SOURCES/vgpu_protocol.h"
cp "$integrate" "$topdir/SOURCES/vgpu-integrate.sh"
cp "$compat" "$topdir/SOURCES/vgpu_compat.h"
cp "$core_h" "$topdir/SOURCES/vgpu_core.h"
cp "$core_c" "$topdir/SOURCES/vgpu_core.c"
log "copied vgpu-stub.c, vgpu_protocol.h, vgpu-integrate.sh, vgpu_compat.h, vgpu_core.h, vgpu_core.c into $topdir/SOURCES"
bash "$patch_spec" "$spec" || die "patch-spec.sh refused $spec (see above)"
grep -q "vgpu_protocol.h" "$spec" || die "the patched spec does not mention vgpu_protocol.h"

name=$(sed -n 's/^Name:[[:space:]]*//p' "$spec" | head -n1)
[ -n "$name" ] || die "$spec has no Name:"

# ---- c) build ---------------------------------------------------------------
if [ "$builddep" = 1 ]; then
    if command -v yum-builddep >/dev/null 2>&1; then
        log "installing build dependencies (yum-builddep)"
        run yum-builddep -y "$spec" || die "yum-builddep failed"
    else
        log "yum-builddep not found (yum-utils); assuming the BuildRequires are installed"
    fi
fi
[ "$dry_run" = 1 ] || need rpmbuild "install rpm-build"
log "building (rpmbuild -bb; the guide: ~30 min)"
stamp="$topdir/.build-start"
touch -d "@$(( $(date +%s) - 1 ))" "$stamp"   # RPMs written from now on are -newer, whatever the mtime resolution
run rpmbuild -bb "${rpmdef[@]}" "$spec" || die "rpmbuild failed (log above; the %prep step prints integrate.sh errors)"
if [ "$dry_run" = 1 ]; then
    log "dry run: would install the $name RPMs built into $topdir/RPMS"
    exit 0
fi
mapfile -t rpms < <(find "$topdir/RPMS" -name "$name-[0-9]*.rpm" ! -name '*debuginfo*' ! -name '*debugsource*' -newer "$stamp" | sort)
[ ${#rpms[@]} -gt 0 ] || die "rpmbuild produced no $name-*.rpm in $topdir/RPMS"
printf '%s\n' "${rpms[@]}"

# ---- d) install -------------------------------------------------------------
if [ "$install" = 0 ]; then
    log "built (not installed): ${rpms[*]}"
    exit 0
fi
if rpm -q "$name" > "$topdir/previous-$name.txt" 2>/dev/null; then
    log "previously installed: $(tr '\n' ' ' < "$topdir/previous-$name.txt")(saved in $topdir/previous-$name.txt)"
fi
log "installing ${rpms[*]}"
rpm -Uvh --replacepkgs "${rpms[@]}" || die "rpm -Uvh failed"
log "installed; now: xe vm-param-set uuid=<VM> platform:device-model-args=\"-device vgpu-stub,pool_id=B,priority=high,vm_id=200\""
