# syntax=docker/dockerfile:1
#
# ecs-exporter container image: a static musl binary in an empty (scratch) image.
#
#   docker build -t ecs-exporter:latest .
#   docker run --rm -p 9779:9779 ecs-exporter:latest --demo
#
# The default image is the smallest build (about 2 MiB). For TLS and basic authentication
# (--web.config.file) build the variant with the `tls` feature (about 3.2 MiB):
#   docker build --build-arg FEATURES=tls -t ecs-exporter:latest-tls .
#
# The build stage compiles for <arch>-unknown-linux-musl of the platform being built
# (linux/amd64 -> x86_64, linux/arm64 -> aarch64, e.g. for Graviton on Fargate):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REPO/ecs-exporter:TAG .
# The final image has no shell, libc or CA bundle; it needs none (the task metadata endpoint
# is plain HTTP on a link-local address). The container health check runs the binary itself.
#
# Note: no Docker engine was available where this file was written, so it has been checked by
# reading only; build it once before relying on it.

FROM rust:1-bookworm AS build

# musl-gcc, for any C code a dependency might build (the binary itself is pure Rust).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*

# The Rust target triple for the platform this stage runs on.
RUN case "$(dpkg --print-architecture)" in \
      amd64) echo x86_64-unknown-linux-musl ;; \
      arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "unsupported architecture: $(dpkg --print-architecture)" >&2; exit 1 ;; \
    esac > /rust-target \
 && rustup target add "$(cat /rust-target)"

WORKDIR /src
COPY . .

# build.rs records the git revision; .git is not in the build context, so pass it in:
#   docker build --build-arg ECS_EXPORTER_GIT_REVISION="$(git rev-parse --short=12 HEAD)" .
ARG ECS_EXPORTER_GIT_REVISION=unknown
ENV ECS_EXPORTER_GIT_REVISION=${ECS_EXPORTER_GIT_REVISION}
# Cargo features: "" (smallest), "web-config" (basic auth), "tls" (TLS and basic auth).
ARG FEATURES=""

# Cache mounts keep the crates.io downloads and the target directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --target "$target" --features "$FEATURES" \
 && cp "target/$target/release/ecs-exporter" /ecs-exporter

FROM scratch

COPY --from=build /ecs-exporter /ecs-exporter

# nobody:nogroup; the exporter needs no privileges and writes no files.
USER 65534:65534
EXPOSE 9779

# No shell or curl in the image: the binary checks http://127.0.0.1:9779/health itself and
# exits 0 when healthy, 1 otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/ecs-exporter", "healthcheck"]

ENTRYPOINT ["/ecs-exporter"]
