# syntax=docker/dockerfile:1
# Stampede as one container: the build stage compiles the single executable (`bun run build`,
# scripts/build.ts) and the runtime stage holds nothing but that file, on distroless (glibc, CA
# certificates, no shell, no package manager), running as a non-root user.
#
#   docker build -t stampede .
#   docker run -p 3000:3000 -v stampede-data:/data stampede
#
# Secrets not given as STAMPEDE_* variables are generated on the first start, kept in the volume
# (/data/secrets.json, mode 0600) and printed once to the container's log.

FROM oven/bun:1.4.5 AS build
WORKDIR /src
# Dependencies first, so that a change to the source does not re-run the install.
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY scripts ./scripts
COPY drizzle ./drizzle
COPY src ./src
# The build smoke-runs the executable (`--version`). /out/data becomes the volume's initial
# contents, so that a fresh named volume belongs to the non-root user below.
RUN bun run build \
 && mkdir -p /out/data \
 && cp dist/stampede /out/stampede

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/stampede /app/stampede
COPY --from=build --chown=65532:65532 /out/data /data
ENV STAMPEDE_DATA_DIR=/data HOST=0.0.0.0 PORT=3000
VOLUME /data
WORKDIR /app
USER 65532:65532
EXPOSE 3000
# distroless has no curl: the executable GETs http://127.0.0.1:$PORT/healthz itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["/app/stampede", "healthcheck"]
# SIGTERM drains: stop accepting, answer what is in flight, make everything durable, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/stampede"]
CMD ["serve"]
