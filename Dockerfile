# The suite's image: the production build (scripts/build.ts: one minified bundle of the TypeScript sources and their
# dependencies, the services in lazily loaded chunks), which needs ~50 MiB less memory than running the sources.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY lib ./lib
COPY mixins ./mixins
COPY services ./services
COPY scripts ./scripts
COPY moleculer.config.ts ./
RUN node scripts/build.ts dist

FROM node:24-slim
# glibc's allocator with fixed thresholds: by default it raises them after large frees and then keeps more of what
# the process freed (docs/performance.md: -10 MiB at rest, in A/B runs). npm start sets the same.
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=3000 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
# Runtime dependencies only, for what the bundle leaves out: the MongoDB adapter (with MONGO_URI) and moleculer-repl.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY images ./images

RUN mkdir -p /data /app/.sandbox && chown -R node:node /data /app/.sandbox
USER node

EXPOSE 3000 3030
# The bundle directly, not through npm, so that SIGTERM reaches it and the broker stops gracefully. A small V8 young
# generation, and an old generation collected once it has grown by half of what was live, keep RSS down during bursts
# of work (docs/operations.md, "Memory"), at some CPU cost.
CMD ["node", "--max-semi-space-size=4", "--heap-growing-percent=50", "dist/start.js"]
