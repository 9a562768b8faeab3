# syntax=docker/dockerfile:1
#
# Container image of the polyaxon-krm KRM function: one statically linked
# binary in an empty image, run as nobody.
#
#   docker build -t polyaxon-krm .
#   docker run --rm -i --network none polyaxon-krm < examples/seed/resource-list.yaml
#
# The build stage runs scripts/build-static.sh, the script that builds and
# checks the same binary on a host without Docker, so both give the same
# build:
#
#   cargo build --release --locked --target x86_64-unknown-linux-musl
#
# then checks that the result has no ELF interpreter and no shared library.
# Fallback, where the musl target cannot be installed with rustup: pass
# --build-arg STATIC_TARGET=x86_64-unknown-linux-gnu, which builds with
# RUSTFLAGS="-C target-feature=+crt-static" (also fully static), or
# --build-arg STATIC_TARGET= to let the script pick musl when it can be
# added and the fallback otherwise, as it does on a host.

# Rust 1.95 (Cargo.toml asks for 1.89 or newer and edition 2024); the tests of
# this repository run on the same release. Pin a digest here for bit-for-bit
# reproducible images.
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

FROM ${RUST_IMAGE} AS build
# x86_64-unknown-linux-musl (the default), x86_64-unknown-linux-gnu (the
# +crt-static fallback), or empty: musl if rustup can add it, else the fallback.
ARG STATIC_TARGET=x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    POLYAXON_KRM_STATIC_TARGET="${STATIC_TARGET}" \
    bash scripts/build-static.sh --build-only --out /out/polyaxon-krm

# Nothing but the binary: the function reads stdin, writes stdout and stderr,
# and uses no network, no file, no shell, no certificate and no user database.
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=""
ARG SOURCE=""
ARG CREATED=""
LABEL org.opencontainers.image.title="polyaxon-krm" \
      org.opencontainers.image.description="KRM function that turns Polyaxon operations kept in Git into plain Kubernetes Jobs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build --chmod=0555 /out/polyaxon-krm /polyaxon-krm
# nobody:nobody by number (scratch has no /etc/passwd); KRM functions must run
# unprivileged.
USER 65534:65534
ENTRYPOINT ["/polyaxon-krm"]
