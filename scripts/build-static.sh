#!/usr/bin/env bash
# Build the statically linked release binary of polyaxon-krm -- the very same
# build the Dockerfile runs (it calls this script) -- then check it.
#
#   scripts/build-static.sh [--build-only] [--out FILE]
#
#   --build-only  build and check that the binary is static; skip running it
#                 (the Dockerfile uses this: a build stage has no seed to spare
#                 and may not be allowed to change user or network namespace)
#   --out FILE    also copy the binary to FILE (mode 0555)
#
# Target: x86_64-unknown-linux-musl (static by default). If that target cannot
# be installed with rustup (no network for toolchain downloads), it falls back
# to x86_64-unknown-linux-gnu with RUSTFLAGS="-C target-feature=+crt-static",
# which also gives a static binary. POLYAXON_KRM_STATIC_TARGET forces one of
# the two. The cargo command is the same either way:
#
#   cargo build --release --locked --target <target>
#
# Checks: no ELF program interpreter (PT_INTERP), `ldd` finds no shared
# library, `file` (when installed) says statically linked; then, unless
# --build-only: the binary runs as nobody (65534:65534) with an empty
# environment on examples/seed/resource-list.yaml, exits 0 and prints a Job;
# and once more without any network (unshare -n) when the kernel allows it.
set -euo pipefail

MUSL=x86_64-unknown-linux-musl
GNU=x86_64-unknown-linux-gnu
BIN_NAME=polyaxon-krm

build_only=0
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --build-only) build_only=1 ;;
        --out)
            [ $# -ge 2 ] || { echo "build-static: --out needs a file name" >&2; exit 2; }
            out="$2"
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) echo "build-static: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf 'build-static: %s\n' "$*"; }
fail() {
    printf 'build-static: FAIL: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- target
target="${POLYAXON_KRM_STATIC_TARGET:-}"
case "$target" in
    "" | "$MUSL" | "$GNU") ;;
    *) fail "POLYAXON_KRM_STATIC_TARGET must be $MUSL or $GNU, not '$target'" ;;
esac

musl_installed() {
    command -v rustup > /dev/null 2>&1 &&
        rustup target list --installed 2> /dev/null | grep -qx "$MUSL"
}

if [ -z "$target" ] || [ "$target" = "$MUSL" ]; then
    if musl_installed; then
        target=$MUSL
    elif command -v rustup > /dev/null 2>&1 && rustup target add "$MUSL"; then
        target=$MUSL
    elif [ "$target" = "$MUSL" ]; then
        fail "target $MUSL was asked for but cannot be installed with rustup"
    else
        say "WARNING: target $MUSL cannot be installed; falling back to $GNU with +crt-static"
        target=$GNU
    fi
fi

# Exactly the flags the image gets: nothing extra for musl (static is its
# default), +crt-static for the glibc fallback. Flags from the caller's
# environment are not mixed in.
unset CARGO_ENCODED_RUSTFLAGS
if [ "$target" = "$GNU" ]; then
    export RUSTFLAGS="-C target-feature=+crt-static"
else
    unset RUSTFLAGS
fi

# ---------------------------------------------------------------- build
say "target: $target; RUSTFLAGS: ${RUSTFLAGS:-(none)}"
say "running: cargo build --release --locked --target $target"
start=$SECONDS
cargo build --release --locked --target "$target"
say "build time: $((SECONDS - start)) s"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
bin="$target_dir/$target/release/$BIN_NAME"
[ -f "$bin" ] || fail "no binary at $bin after the build"

# ---------------------------------------------------------------- static?
# An ELF file is dynamically linked exactly when it names a program
# interpreter (a PT_INTERP program header); a static-pie binary has a
# PT_DYNAMIC section for its own relocations but no interpreter.
u() { od -An -v -t "u$2" -j "$1" -N "$2" "$bin" | tr -d ' \n'; }
[ "$(od -An -c -N 4 "$bin" | tr -d ' \n')" = '177ELF' ] || fail "$bin is not an ELF file"
[ "$(u 4 1)" = 2 ] || fail "$bin is not a 64-bit ELF file"
phoff=$(u 32 8)
phentsize=$(u 54 2)
phnum=$(u 56 2)
interp=0
for ((i = 0; i < phnum; i++)); do
    if [ "$(u $((phoff + i * phentsize)) 4)" = 3 ]; then interp=1; fi
done
[ "$interp" = 0 ] || fail "$bin has a program interpreter (PT_INTERP): it is dynamically linked"
say "ELF program headers: $phnum, no PT_INTERP"

ldd_out="$(ldd "$bin" 2>&1 || true)"
say "ldd: $(echo "$ldd_out" | sed 's/^[[:space:]]*//' | head -n 3 | tr '\n' ' ')"
if echo "$ldd_out" | grep -q '=>'; then
    fail "ldd lists shared libraries for $bin"
fi
echo "$ldd_out" | grep -Eq 'not a dynamic executable|statically linked' ||
    fail "ldd does not say $bin is static"

if command -v file > /dev/null 2>&1; then
    file_out="$(file -b "$bin")"
    say "file: $file_out"
    echo "$file_out" | grep -Eq 'statically linked|static-pie linked' ||
        fail "file does not say $bin is statically linked"
else
    say "file(1) not installed: skipped that check (the two above stand)"
fi

size=$(stat -c %s "$bin")
say "binary: $bin"
say "size: $size bytes; statically linked: yes; sha256: $(sha256sum "$bin" | cut -d' ' -f1)"

if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    install -m 0555 "$bin" "$out"
    say "copied to $out"
fi

if [ "$build_only" = 1 ]; then
    say "OK (build only)"
    exit 0
fi

# ---------------------------------------------------------------- run it
seed="$root/examples/seed/resource-list.yaml"
[ -f "$seed" ] || fail "missing $seed (the seed example the binary is run on)"

# A directory every user can enter, so that nobody can execute the copy even
# when the target dir sits under a private temporary directory.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
install -m 0555 "$bin" "$work/$BIN_NAME"

# Run as nobody when we can switch user; otherwise we already are unprivileged.
as_nobody=()
who="uid $(id -u)"
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv > /dev/null 2>&1; then
        as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        who="nobody (65534:65534, via setpriv)"
    elif command -v runuser > /dev/null 2>&1 && getent passwd 65534 > /dev/null 2>&1; then
        as_nobody=(runuser -u "$(getent passwd 65534 | cut -d: -f1)" --)
        who="nobody (65534, via runuser)"
    else
        fail "running as root and neither setpriv nor runuser is installed"
    fi
fi

# run_check LABEL PREFIX...: run the binary on the seed behind PREFIX, with an
# empty environment and / as working directory, as in the image.
run_check() {
    local label="$1"
    shift
    local rc=0
    (cd / && "$@" env -i "$work/$BIN_NAME") < "$seed" > "$work/out.yaml" 2> "$work/err.txt" || rc=$?
    if [ "$rc" != 0 ]; then
        cat "$work/err.txt" >&2
        fail "$label: exit code $rc (expected 0)"
    fi
    grep -Eq '^[- ]*kind: Job[[:space:]]*$' "$work/out.yaml" ||
        fail "$label: the output has no 'kind: Job'"
    say "$label: exit 0, $(wc -c < "$work/out.yaml") bytes out, contains kind: Job"
}

# `env -i` runs under the switched user, so the binary gets no environment.
run_check "seed as $who" "${as_nobody[@]}"

if ! command -v unshare > /dev/null 2>&1; then
    say "unshare not installed: skipped the run without network"
elif [ "$(id -u)" = 0 ] && unshare -n true 2> /dev/null; then
    run_check "seed as $who, no network (unshare -n)" unshare -n "${as_nobody[@]}"
elif [ "$(id -u)" != 0 ] && unshare -rn true 2> /dev/null; then
    run_check "seed without network (unshare -rn)" unshare -rn
else
    say "this kernel or sandbox refuses a new network namespace: skipped the run without network"
fi

say "OK"
