# syntax=docker/dockerfile:1
# flowgate image: one image for every service (scheduler, worker, board, submit).
# The service is chosen by the command, e.g. `docker run IMAGE worker`.

# --- build: all dependencies, TypeScript -> dist/, the C process launcher ----
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies only (tsx is one: TypeScript function nodes)
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY examples ./examples
COPY schema ./schema
# /work is the shared working directory (node directories, logs, summaries,
# crash records). A named volume mounted here starts as a copy of this
# directory, so it is writable by the node user.
RUN mkdir -p /work && chown node:node /work
USER node
EXPOSE 3000
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["help"]
