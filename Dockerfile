# syntax=docker/dockerfile:1
# flowgate image: one image for every service (scheduler, worker, board, submit).
# The service is chosen by the command, e.g. `docker run IMAGE worker`.
# Node 24: an LTS line supported until April 2028 (Node 20 reached its end of
# life in April 2026).

# --- build: all dependencies, TypeScript -> dist/, the C process launcher ----
FROM node:24-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies only (tsx is one: TypeScript function nodes).
# --legacy-peer-deps leaves out optional peers that only the dev tree satisfies:
# typescript (23 MB), an optional peer of @bull-board/api's valibot, needed for
# types only. It drops nothing else (checked: the same packages but typescript).
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --legacy-peer-deps --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY examples ./examples
COPY schema ./schema
# /work is the shared working directory (node directories, logs, summaries,
# crash records). A named volume mounted here starts as a copy of this
# directory, so it is writable by the node user.
RUN mkdir -p /work && chown node:node /work
USER node
EXPOSE 3000
# The container's own service (scheduler, worker or board; see
# src/cli/healthcheck.ts): its heartbeat in Redis, or the board's /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/dist/cli/healthcheck.js"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["help"]
