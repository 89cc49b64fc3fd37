#!/usr/bin/env bash
# Patch a QEMU RPM spec (XCP-ng's qemu.spec, or any spec that builds QEMU from
# its source tarball) so that the build includes the vgpu-stub device.
#
# usage: patch-spec.sh [--enable-for TARGET]... [--no-release-suffix] SPEC
#
# Changes to SPEC (in place, atomically):
#   1. after the last SourceN: line
#        Source9000: vgpu-stub.c
#        Source9001: vgpu_protocol.h
#        Source9002: vgpu-integrate.sh          (= qemu-integration/integrate.sh)
#        Source9003: vgpu_compat.h
#        Source9004: vgpu_core.h                (= core/vgpu_core.h)
#        Source9005: vgpu_core.c                (= core/vgpu_core.c)
#      so rpmbuild -bs / -ba carries them in the source RPM too;
#   2. at the end of %prep (after %setup/%autosetup and the patches), a marked
#      block that runs integrate.sh on the unpacked tree: it copies the device
#      sources (hosting, core, headers) into hw/misc and adds the meson.build (or, for
#      QEMU < 5.2, Makefile.objs) and Kconfig hookup, plus CONFIG_VGPU_STUB=y for
#      every target the spec builds (taken from --target-list=... in the spec,
#      or --enable-for), because XCP-ng configures --without-default-devices;
#   3. ".vgpu" appended to Release:, so the rebuilt package is an upgrade of the
#      stock one and `rpm -q qemu` shows which one is installed
#      (--no-release-suffix leaves Release alone).
#
# Idempotent: a second run leaves the file byte-for-byte unchanged (earlier
# additions are recognised and replaced, so re-running after an update of this
# script refreshes them). Exit codes: 0 patched or already patched; 2 usage;
# 3 the spec cannot be patched (no %prep section, no Source line, a clashing
# Source9000-9005), with the reason on stderr. On failure SPEC is not touched.
set -euo pipefail

me=patch-spec.sh
usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }
fail() { echo "$me: $*" >&2; exit 3; }

enable_for=()
release_suffix=.vgpu
while [ $# -gt 0 ]; do
    case "$1" in
        --enable-for) [ $# -ge 2 ] || { usage; exit 2; }; enable_for+=("$2"); shift 2 ;;
        --enable-for=*) enable_for+=("${1#--enable-for=}"); shift ;;
        --no-release-suffix) release_suffix=""; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "$me: unknown option $1" >&2; usage; exit 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { usage; exit 2; }
spec=$1
[ -f "$spec" ] && [ -r "$spec" ] || { echo "$me: $spec: no such readable file" >&2; exit 2; }

MARK_SOURCES='# vgpu-stub (vgpu-hil): device sources, added by patch-spec.sh'
MARK_BEGIN='# vgpu-stub (vgpu-hil) begin: device into hw/misc + meson/Kconfig hookup, added by patch-spec.sh'
MARK_END='# vgpu-stub (vgpu-hil) end'

tmp=$(mktemp "${spec}.vgpu-XXXXXX")
trap 'rm -f "$tmp" "$tmp.base"' EXIT

# ---- 1. take out earlier additions: the result is the original spec ---------
awk -v mark_sources="$MARK_SOURCES" -v mark_begin="$MARK_BEGIN" -v mark_end="$MARK_END" '
    $0 == mark_sources { next }
    $0 == "Source9000: vgpu-stub.c" || $0 == "Source9001: vgpu_protocol.h" || $0 == "Source9002: vgpu-integrate.sh" { next }
    $0 == "Source9003: vgpu_compat.h" || $0 == "Source9004: vgpu_core.h" || $0 == "Source9005: vgpu_core.c" { next }
    index($0, mark_begin) == 1 { skip = 1; next }
    skip && $0 == mark_end { skip = 0; next }
    skip { next }
    /^Release:/ { sub(/\.vgpu[ \t]*$/, "") }
    { print }
    END { if (skip) exit 4 }
' "$spec" > "$tmp.base" ||
    fail "$spec has a \"$MARK_BEGIN\" line without its \"$MARK_END\" line; fix the spec by hand"

# ---- 2. checks, all before anything is written ------------------------------
grep -qE '^%prep([[:space:]]|$)' "$tmp.base" ||
    fail "$spec has no %prep section: there is nowhere to add the vgpu-stub integration step (is this an RPM spec that builds QEMU from source?)"
grep -qE '^Source[0-9]*:' "$tmp.base" ||
    fail "$spec has no SourceN: line: cannot tell where to declare the vgpu-stub sources"
if grep -qE '^Source900[0-5]:' "$tmp.base"; then
    fail "$spec already uses $(grep -oE '^Source900[0-5]:' "$tmp.base" | head -n1 | tr -d :) for something else"
fi

# Targets to enable: --enable-for, else every target of --target-list=... in the spec.
if [ ${#enable_for[@]} -eq 0 ]; then
    while IFS= read -r t; do
        [ -n "$t" ] && enable_for+=("$t")
    done < <(grep -oE -- '--target-list=[A-Za-z0-9_,-]+' "$tmp.base" | sed 's/^--target-list=//' | tr ',' '\n' | sort -u)
fi
integrate_args=""
for t in ${enable_for[@]+"${enable_for[@]}"}; do
    integrate_args+=" --enable-for $t"
done

# ---- 3. add the sources, the %prep block and the release suffix --------------
awk -v mark_sources="$MARK_SOURCES" -v mark_begin="$MARK_BEGIN" -v mark_end="$MARK_END" \
    -v integrate_args="$integrate_args" -v release_suffix="$release_suffix" '
    function flush_blanks() { while (nblank > 0) { print ""; nblank-- } }
    function prep_block() {
        print mark_begin
        print "bash %{SOURCE9002}" integrate_args " \"%{_builddir}/%{?buildsubdir}\" \"%{_sourcedir}\""
        print mark_end
        prep_done = 1
    }
    { lines[NR] = $0 }
    /^Source[0-9]*:/ { last_source = NR }
    END {
        in_prep = 0; nblank = 0
        for (i = 1; i <= NR; i++) {
            line = lines[i]
            if (in_prep && line ~ /^%(build|install|check|clean|files|changelog|package|description|pre|post|preun|postun|pretrans|posttrans|trigger[a-z]*|filetrigger[a-z]*|verifyscript|generate_buildrequires|conf)([ \t]|$)/) {
                prep_block(); flush_blanks(); in_prep = 0
            }
            if (in_prep && line ~ /^[ \t]*$/) { nblank++; continue }
            if (in_prep) flush_blanks()
            if (line ~ /^Release:/ && release_suffix != "") { sub(/[ \t]*$/, "", line); line = line release_suffix }
            print line
            if (i == last_source) {
                print mark_sources
                print "Source9000: vgpu-stub.c"
                print "Source9001: vgpu_protocol.h"
                print "Source9002: vgpu-integrate.sh"
                print "Source9003: vgpu_compat.h"
                print "Source9004: vgpu_core.h"
                print "Source9005: vgpu_core.c"
            }
            if (line ~ /^%prep([ \t]|$)/ && !prep_done) { in_prep = 1 }
        }
        if (in_prep) prep_block()
        flush_blanks()
    }
' "$tmp.base" > "$tmp"

if cmp -s "$tmp" "$spec"; then
    echo "$me: $spec already patched (unchanged)" >&2
    exit 0
fi
chmod --reference="$spec" "$tmp" 2>/dev/null || true
mv -f "$tmp" "$spec"
echo "$me: patched $spec (Source9000-9005, %prep integration${integrate_args:+ with$integrate_args}${release_suffix:+, Release +$release_suffix})" >&2
