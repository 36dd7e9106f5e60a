# The suite's image: Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
FROM node:24-slim

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=3000

WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only: the `node` devDependency (Node 24 for npm scripts on older hosts) is not needed here.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY lib ./lib
COPY mixins ./mixins
COPY services ./services
COPY scripts ./scripts
COPY images ./images
COPY moleculer.config.ts ./

RUN mkdir -p /data /app/.sandbox && chown -R node:node /data /app/.sandbox
USER node

EXPOSE 3000 3030
# The runner directly, not through npm, so that SIGTERM reaches it and the broker stops gracefully. A small V8 young
# generation keeps RSS down (docs/performance.md: 369 -> 253 MiB at 1,000 deployments, no visible cost in time).
CMD ["node", "--max-semi-space-size=4", "scripts/start.ts"]
