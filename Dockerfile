# syntax=docker/dockerfile:1
# DCI Gateway: runs what `npm start` runs in development, against PostgreSQL via DATABASE_URL.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    DATA_DIR=/var/lib/dci-gateway
WORKDIR /app
RUN groupadd --system dci && useradd --system --gid dci --home-dir /app dci \
 && mkdir -p /var/lib/dci-gateway && chown dci:dci /var/lib/dci-gateway
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY schemas ./schemas
COPY src ./src
USER dci
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# Production needs DATABASE_URL, SIGNING_KEY and DATA_KEY (mounted files); there is no demo partner.
# The command of `npm start`, run without npm and a shell in between: docker stop's SIGTERM goes to PID 1, and npm
# passes it to its `sh -c`, which dies without passing it on, so the server never shut down gracefully.
CMD ["node_modules/.bin/tsx", "src/main.ts"]
