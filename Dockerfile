# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run on a small Debian slim image as a non-root
# user. Render sets PORT; the service binds 0.0.0.0:$PORT.

FROM rust:1.92-slim-bookworm AS build
WORKDIR /src
# jemalloc (the allocator) builds with make.
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
# Dependencies first, so source changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && mkdir -p tests/api && echo '' > tests/api/main.rs \
    && cargo build --release --locked --bin elearning-api 2>/dev/null || true
COPY src ./src
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin elearning-api

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /src/target/release/elearning-api /usr/local/bin/elearning-api
USER app
ENV PORT=8080 LOG_FORMAT=json APP_ENV=production
EXPOSE 8080
# tini forwards SIGTERM so the graceful shutdown runs. The entrypoint is tini alone, not the
# binary: Render runs the pre-deploy command (`elearning-api check --migrate`, render.yaml) in
# place of CMD, and a full command line works whether it is given as arguments or to a shell.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["elearning-api", "serve"]
