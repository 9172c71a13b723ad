# One image for every ig-router service; docker-compose.yml picks the entry point per service.
# syntax=docker/dockerfile:1

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY libs/core/package.json libs/core/
COPY libs/testkit/package.json libs/testkit/
COPY services/gateway/package.json services/gateway/
COPY services/router/package.json services/router/
COPY services/sender/package.json services/sender/
COPY services/cli/package.json services/cli/
# Install scripts are not needed to compile; the embedded PostgreSQL binaries stay unused here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY libs libs
COPY services services
COPY infra/local infra/local
RUN npx tsc -b

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY libs/core/package.json libs/core/
COPY libs/testkit/package.json libs/testkit/
COPY services/gateway/package.json services/gateway/
COPY services/router/package.json services/router/
COPY services/sender/package.json services/sender/
COPY services/cli/package.json services/cli/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/libs/core/dist libs/core/dist
COPY --from=build /app/libs/testkit/dist libs/testkit/dist
COPY --from=build /app/services/gateway/dist services/gateway/dist
COPY --from=build /app/services/router/dist services/router/dist
COPY --from=build /app/services/sender/dist services/sender/dist
COPY --from=build /app/services/cli/dist services/cli/dist
COPY --from=build /app/services/cli/bin services/cli/bin
COPY --from=build /app/infra/local/dist infra/local/dist
USER node
CMD ["node", "services/gateway/dist/main.js"]
