#!/usr/bin/env bash
# Build vgpu-stub-vfio-user (the vfio-user hosting of the vgpu-stub device), cached.
#
# usage: vgpu-stub/vfio-user/build.sh [--print-path] [--sanitize]
#
# --sanitize: an AddressSanitizer + UndefinedBehaviorSanitizer build (-fsanitize=address,undefined, every
# report fatal) in a cache entry of its own, for the fuzzers (bin/vgpu-hil nightly); reports go to stderr,
# i.e. the server's log.
#
# Output contract: progress and compiler messages on stderr; the LAST line of stdout is the
# absolute path of the binary.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/vfio-user/<hash>/vgpu-stub-vfio-user, where <hash>
# covers every source the binary is made of (vfio-user/*.{c,h}, core/vgpu_core.{c,h},
# vgpu_protocol.h), this script and the compiler's version. The binary appears by an atomic rename,
# so an interrupted build never leaves an entry that looks valid; a second call prints the path at
# once. Needs only gcc and the kernel UAPI headers (linux-libc-dev).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stub=$(dirname "$here")
self="$here/$(basename "${BASH_SOURCE[0]}")"

log() { printf '[build-vfio-user] %s\n' "$*" >&2; }
die() { printf '[build-vfio-user] ERROR: %s\n' "$*" >&2; exit 1; }

sanitize=0
while [ $# -gt 0 ]; do
    case "$1" in
        --print-path) shift ;;
        --sanitize) sanitize=1; shift ;;
        -h|--help) sed -n '2,17p' "$self" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
        *) die "unknown argument: $1 (usage: build.sh [--print-path] [--sanitize])" ;;
    esac
done

cc=${CC:-gcc}
command -v "$cc" >/dev/null || die "no C compiler ($cc); install gcc"
[ -f /usr/include/linux/vfio.h ] || die "no /usr/include/linux/vfio.h; install linux-libc-dev"

sources=("$here"/*.c "$stub/core/vgpu_core.c")
inputs=("$here"/*.c "$here"/*.h "$stub/core/vgpu_core.c" "$stub/core/vgpu_core.h"
        "$stub/vgpu_protocol.h" "$self")
san_flags=()
if [ "$sanitize" = 1 ]; then
    san_flags=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
fi
hash=$( { for f in "${inputs[@]}"; do printf '%s\n' "$(basename "$f")"; cat "$f"; done
          "$cc" --version | head -1; echo "${san_flags[*]}"; } | sha256sum | cut -c1-16)
[ "$sanitize" = 1 ] && hash="asan-$hash"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/vgpu-hil/vfio-user"
entry="$cache/$hash"
bin="$entry/vgpu-stub-vfio-user"
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "compiling ${#sources[@]} files into $entry"
"$cc" -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
    -D_GNU_SOURCE ${san_flags[@]+"${san_flags[@]}"} -I "$stub" -I "$stub/core" -I "$here" \
    -o "$tmp/vgpu-stub-vfio-user" "${sources[@]}" >&2
printf 'sources %s\ncompiler %s\nsanitizers %s\n' "$hash" "$("$cc" --version | head -1)" \
    "${san_flags[*]:-none}" > "$tmp/BUILD-INFO"
# Publish atomically; a concurrent build of the same hash may have won the race.
if ! mv -T "$tmp" "$entry" 2>/dev/null; then
    [ -x "$bin" ] || die "could not publish $entry"
fi
trap - EXIT
echo "$bin"
