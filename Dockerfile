# ecs-exporter container image: a static binary in an empty (scratch) image.
#
#   docker build -t ecs-exporter:latest .
#   docker run --rm -p 9779:9779 ecs-exporter:latest --demo
#
# The default build has TLS and basic authentication (--web.config.file). The smallest build
# leaves them out:  docker build --build-arg CARGO_ARGS=--no-default-features .
#
# Where the binary comes from (BuildKit builds only the stage the final image uses):
#   BINARY_STAGE=build     (default) compile it here, for <arch>-unknown-linux-musl of the
#                          platform being built (linux/amd64 -> x86_64, linux/arm64 -> aarch64):
#                          docker buildx build --platform linux/amd64,linux/arm64 -t REPO/ecs-exporter:TAG .
#   BINARY_STAGE=prebuilt  copy a static binary built outside, from dist/<TARGETARCH>/ecs-exporter
#                          (dist/amd64/..., dist/arm64/...): no Rust toolchain or registry needed,
#                          which is how CI builds and runs the image offline (.ci/run).
# The final image has no shell, libc or CA bundle; it needs none (the task metadata endpoint is
# plain HTTP on a link-local address). The container health check runs the binary itself.
ARG BINARY_STAGE=build

FROM rust:1-bookworm AS build

# musl-gcc, for the C code of `ring` (TLS).
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
# Extra cargo arguments, e.g. --no-default-features (the smallest build, no TLS).
ARG CARGO_ARGS=""

# Cache mounts keep the crates.io downloads and the target directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    target="$(cat /rust-target)" \
 && cargo build --release --locked --target "$target" $CARGO_ARGS \
 && cp "target/$target/release/ecs-exporter" /ecs-exporter

FROM scratch AS prebuilt
ARG TARGETARCH
COPY dist/${TARGETARCH}/ecs-exporter /ecs-exporter

FROM ${BINARY_STAGE} AS binary

FROM scratch

COPY --from=binary /ecs-exporter /ecs-exporter

# nobody:nogroup; the exporter needs no privileges and writes no files.
USER 65534:65534
EXPOSE 9779

# No shell or curl in the image: the binary checks its own /health and exits 0 when healthy, 1
# otherwise. It finds the port the exporter really listens on from the exporter's command line
# (PID 1 of the container: --web.listen-address, else ECS_EXPORTER_WEB_LISTEN_ADDRESS, else
# 9779), and uses https when the web config turns TLS on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/ecs-exporter", "healthcheck"]

ENTRYPOINT ["/ecs-exporter"]
