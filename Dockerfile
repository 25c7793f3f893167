# tconfd container image: tini (PID 1) -> tconfd -> your application.
#
#   docker build -t tconfd .
#   docker run --rm -v "$PWD/tconfd.d:/etc/tconfd:ro" -e VAULT_ADDR=https://vault:8200 \
#     tconfd --health-listen 127.0.0.1:8008 -- myapp --flags
#
# Base image: node:24-alpine, pinned by its major tag. Node 24 is an LTS line, supported until April 2028,
# which satisfies package.json "engines" (>= 20); Node 20 reached its end of life in April 2026 and Node 22 ends
# in April 2027. tconfd is plain JavaScript (no native addon), so moving to a newer LTS tag needs no code change.
# The major tag picks up 24.x security releases; pin a digest (node:24-alpine@sha256:...) for byte-for-byte
# reproducible builds. Both stages use the same image: V8's code cache made by the build (dist/tconfd.cjs.cache) is
# only accepted by the Node.js that made it.

# ---- build: bundle dist/ -------------------------------------------------------------------------------------
# No compiler: every dependency is JavaScript, bundled into dist/tconfd.cjs (esbuild's own binary comes as a
# prebuilt optional dependency).
FROM node:24-alpine AS build

# The same directory as in the runtime stage (see below).
WORKDIR /usr/lib/tconfd

# Dependencies first: this layer is cached until package.json or the lockfile changes. No install script needs to
# run, and the package's own `prepare` (a build) cannot yet: the sources come next.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
# The config files' JSON Schema, which the bundle checks config files against (src/config/valid.ts).
COPY schema ./schema
# The build renders the quickstart once to warm up V8's code cache (dist/tconfd.cjs.cache).
COPY examples/quickstart ./examples/quickstart
# Bundle src/cli.ts into dist/ (the dist/cli.js loader, the dist/tconfd.cjs bundle and the chunks of dist/chunks/
# with every dependency, and their code caches, made by this image's Node). package.json lists no runtime
# dependency: node_modules (esbuild, typescript, vitest...) stays in this stage.
RUN npm run build \
 && node dist/cli.js --version

# ---- runtime -----------------------------------------------------------------------------------------------
FROM node:24-alpine AS runtime

# tini is PID 1: Node reaps its own children but not orphaned grandchildren of the application (the kernel
# reparents them to PID 1), and tini also forwards signals to tconfd.
RUN apk add --no-cache tini

# An unprivileged user for tconfd and the application it starts. /etc/tconfd holds the config files and
# templates (mount it read-only); /run/tconfd is a writable place for rendered files ("dir" in a template).
# /etc/tconfd is not a VOLUME: a VOLUME cannot be undone, and images built FROM this one may COPY their
# templates into it.
RUN addgroup -S -g 10001 tconfd \
 && adduser -S -D -H -u 10001 -G tconfd -h /run/tconfd -s /sbin/nologin tconfd \
 && mkdir -p /etc/tconfd /run/tconfd \
 && chown tconfd:tconfd /run/tconfd \
 && chmod 0750 /run/tconfd

# Same path as the build stage, so the installed tree is exactly what was built and tested there: package.json
# and dist/ are the whole package (its "files", without the README and the JSON Schema).
WORKDIR /usr/lib/tconfd
COPY --from=build /usr/lib/tconfd/package.json ./package.json
COPY --from=build /usr/lib/tconfd/dist ./dist

# package.json "bin": tconfd -> dist/cli.js (it has a `#!/usr/bin/env node` shebang and mode 0755). Node
# resolves the symlink, so dist/cli.js finds dist/tconfd.cjs next to it. dist/ stays owned by root: tconfd only
# reads its code cache there.
RUN ln -s /usr/lib/tconfd/dist/cli.js /usr/local/bin/tconfd \
 && tconfd --version

ENV TCONFD_DIR=/etc/tconfd

USER tconfd
WORKDIR /run/tconfd

# Everything after the image name is passed to tconfd: `docker run IMAGE [tconfd options] -- myapp args`.
ENTRYPOINT ["/sbin/tini", "--", "tconfd"]
CMD ["--help"]

# The health endpoint is opt-in: tconfd serves /healthz only when started with --health-listen, and the port
# cannot be defaulted here because `docker run IMAGE ...` replaces CMD (and the CLI reads no environment
# variable for it). So the contract is: run tconfd with `--health-listen 127.0.0.1:8008` (or 0.0.0.0:8008),
# and this check passes while /healthz answers 200. Without that flag the container is reported unhealthy:
# disable the check with `docker run --no-healthcheck`, `healthcheck: {disable: true}` in compose, or
# `HEALTHCHECK NONE` in an image built FROM this one. (Kubernetes ignores HEALTHCHECK: use probes on /healthz
# and /readyz instead.) busybox wget exits non-zero on a refused connection, a timeout or an HTTP error.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD wget -q -T 4 -O /dev/null http://127.0.0.1:8008/healthz || exit 1
