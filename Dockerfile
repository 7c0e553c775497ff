# Switchboard: one image for the HTTP server (default command) and the worker.
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so they are cached while the code changes.
# Install scripts are skipped: nothing Switchboard uses needs them.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm cache clean --force

COPY . .
# Generate the Prisma client and build the admin web; DATA_DIR must exist for the demo credentials file.
RUN npm run generate && npm run build:web && mkdir -p data && chown node:node data

USER node
EXPOSE 3000
CMD ["npx", "tsx", "bots/server.ts"]
