# gsv-server images. The development sandbox cannot run Docker; the `cpu` stage's userland and
# layout are checked there by scripts/verify-runtime-rootfs.sh (debootstrap + chroot).
#
#   docker build --target cpu  -t gsv-server:cpu  .     Linux CPU (MLX CPU backend + OpenBLAS)
#   docker build --target cuda -t gsv-server:cuda .     NVIDIA GPU (MLX CUDA backend, same binary)
#
# Models are not baked in: mount them at /app/models (scripts/download-models.sh fetches them).

FROM rust:1-bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1
WORKDIR /app
COPY . .
# setup.sh installs libclang, OpenBLAS, patchelf and python3/pip, the text-frontend dictionaries
# (.gsv-data/), then the pinned MLX runtime.
RUN scripts/setup.sh && cargo build --release --locked --bin gsv-server

FROM debian:bookworm-slim AS cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libgomp1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# libmlx.so keeps the path it was built at, so it goes to the same place.
COPY --from=build /app/.mlx/wheel/mlx/lib /app/.mlx/wheel/mlx/lib
COPY --from=build /app/target/release/gsv-server /usr/local/bin/gsv-server
COPY --from=build /app/.gsv-data /app/.gsv-data
COPY config /app/config
COPY scripts/download-models.sh /app/scripts/download-models.sh
ENV LD_LIBRARY_PATH=/app/.mlx/wheel/mlx/lib GSV_BIND=0.0.0.0:9880 RUST_LOG=info
VOLUME /app/models /app/data
EXPOSE 9880
HEALTHCHECK --interval=30s --start-period=120s CMD curl -fs http://127.0.0.1:9880/health || exit 1
ENTRYPOINT ["gsv-server"]
CMD ["serve"]

FROM debian:bookworm-slim AS cuda
ENV DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip libopenblas0-pthread libgomp1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/target/release/gsv-server /usr/local/bin/gsv-server
COPY --from=build /app/.gsv-data /app/.gsv-data
COPY config /app/config
COPY scripts/download-models.sh scripts/cuda-runtime.sh /app/scripts/
# The CUDA build of MLX exports the same API: the CPU-built binary runs on it unchanged.
RUN scripts/cuda-runtime.sh > /etc/gsv-cuda-env
# MLX compiles its fused CUDA kernels with NVRTC on first use (a cold start spent ~2 min on them
# in the end-to-end bench on an H100); keep them in a volume so a new container reuses them.
ENV GSV_BIND=0.0.0.0:9880 GSV_DEVICE=gpu RUST_LOG=info MLX_PTX_CACHE_DIR=/app/cache/mlx-ptx
VOLUME /app/models /app/data /app/cache
EXPOSE 9880
HEALTHCHECK --interval=30s --start-period=300s CMD curl -fs http://127.0.0.1:9880/health || exit 1
ENTRYPOINT ["/bin/sh", "-c", ". /etc/gsv-cuda-env && exec gsv-server \"$@\"", "gsv-server"]
CMD ["serve"]
