# syntax=docker/dockerfile:1
# birdie: the HTTP service in a small Node.js 20 image. See docs/deployment.md.
#
#   docker build -t birdie .
#   docker run --rm -p 8000:8000 -v birdie-data:/data birdie
#
# Two stages: the build stage installs every dependency and compiles TypeScript; the runtime
# stage gets only the compiled code and the production dependencies.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# .npmrc keeps onnxruntime-node (under @huggingface/transformers) from downloading CUDA libraries
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: `prepare` would compile before the sources are copied (they come after, so
# that this layer is cached until the lock file changes); no runtime dependency needs its script
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="birdie" \
      org.opencontainers.image.description="Real-time tweet clustering with BIRCH, served over HTTP" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    PORT=8000 \
    HOST=0.0.0.0 \
    STATE_DIR=/data \
    SHUTDOWN_TIMEOUT_SECONDS=8
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json .env.example ./
COPY bin ./bin
COPY samples ./samples
# the state directory (write-ahead log, local snapshots) belongs to the unprivileged `node` user
# (uid 1000) that the image already has; the code stays root-owned and read-only to it
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
VOLUME ["/data"]
EXPOSE 8000
# node, not curl: the slim image has no curl. /health answers while the state loads (liveness);
# /ready is the readiness probe for orchestrators that route traffic.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself. It stops accepting, finishes requests in
# flight, writes a final snapshot and exits within SHUTDOWN_TIMEOUT_SECONDS (8), inside the
# 10 s that `docker stop` waits before SIGKILL (a SIGKILL loses nothing acknowledged: the log
# is on the volume, and the next start replays it).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/birdie.js"]
CMD ["serve"]
