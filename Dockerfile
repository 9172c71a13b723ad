# syntax=docker/dockerfile:1
# One image for every ig-router process; docker-compose.yml sets the command of each service.
# The build stage compiles TypeScript with the dev dependencies, and the runtime stage holds
# only the production dependencies and the compiled output, and runs as the unprivileged `node`.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# npm ci needs the package.json of every workspace listed in the root package.json, and the
# bin file of @ig-router/cli, which it links into node_modules/.bin.
COPY package.json package-lock.json .npmrc ./
COPY libs/core/package.json libs/core/
COPY libs/testkit/package.json libs/testkit/
COPY services/gateway/package.json services/gateway/
COPY services/router/package.json services/router/
COPY services/sender/package.json services/sender/
COPY services/cli/package.json services/cli/
COPY services/cli/bin services/cli/bin
# Install scripts only fetch the embedded PostgreSQL binaries of the local stack, unused here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json ./
COPY libs libs
COPY services services
COPY infra/local infra/local
COPY examples/auto-reply examples/auto-reply
# The root tsconfig.json also references examples/demo, a development tool that is not
# copied, so the build names the projects the image runs.
RUN npx tsc -b libs/core libs/testkit infra/local services/gateway services/router services/sender services/cli examples/auto-reply

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
COPY services/cli/bin services/cli/bin
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/libs/core/dist libs/core/dist
COPY --from=build /app/libs/testkit/dist libs/testkit/dist
COPY --from=build /app/services/gateway/dist services/gateway/dist
COPY --from=build /app/services/router/dist services/router/dist
COPY --from=build /app/services/sender/dist services/sender/dist
COPY --from=build /app/services/cli/dist services/cli/dist
COPY --from=build /app/infra/local/dist infra/local/dist
COPY --from=build /app/examples/auto-reply/dist examples/auto-reply/dist
USER node
EXPOSE 3000 9102 9103
CMD ["node", "services/gateway/dist/main.js"]
