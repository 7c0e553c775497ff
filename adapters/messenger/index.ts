import { z } from 'zod'
import { defineChannel } from '../channel-module.ts'
import { createMetaChannel } from '../meta/channel.ts'
import { META_FILE_HOSTS, metaConfig } from '../meta/config.ts'
import { createMetaConnector, pageOps } from '../meta/connect.ts'
import { MESSENGER_TEXT_LIMIT } from '../meta/format.ts'
import { createGraphClient } from '../meta/graph.ts'

/**
 * Facebook Messenger: the customers of a Facebook Page. Meta posts to POST /webhooks/messenger/{inboxId}
 * (checked first with a GET and the inbox's verify token); replies go through the Send API with the
 * page access token, within Messenger's messaging windows.
 */
export const messenger = defineChannel({
  kind: 'messenger',
  label: 'Messenger',
  config: z.object({ ...metaConfig }),
  connect: z.object({ pageId: z.string().trim().min(1).max(64), pageAccessToken: z.string().trim().min(20).max(1000), appSecret: z.string().trim().min(1).max(200), verifyToken: z.string().trim().max(200).optional() }).strict(),

  create(deps) {
    const graph = createGraphClient({ baseUrl: deps.config.META_GRAPH_URL, version: deps.config.META_GRAPH_VERSION, ...(deps.sleep ? { sleep: deps.sleep } : {}) })
    const flavor = { kind: 'messenger' as const, label: 'Messenger', object: 'page' as const, graph, textLimit: MESSENGER_TEXT_LIMIT, metadata: true, fileHosts: META_FILE_HOSTS, graphOrigin: new URL(deps.config.META_GRAPH_URL).origin }
    const channel = createMetaChannel({ flavor, store: deps.store, secrets: deps.secrets, logger: deps.logger, humanAgent: deps.config.META_HUMAN_AGENT, notifyAdmins: deps.notifyAdmins, ...(deps.redis ? { redis: deps.redis } : {}) })
    const connector = createMetaConnector({ flavor, store: deps.store, secrets: deps.secrets, channel, ops: pageOps(graph), publicUrl: deps.publicUrl, logger: deps.logger, checkChannelCap: deps.checkChannelCap })
    return {
      adapter: channel,
      connect: ({ organizationId, agent, input }) => connector.connect({ organizationId, agent, accountId: input.pageId, accessToken: input.pageAccessToken, appSecret: input.appSecret, ...(input.verifyToken ? { verifyToken: input.verifyToken } : {}) }),
      disconnect: ({ inbox }) => connector.disconnect(inbox),
      summary: connector.summary,
    }
  },
})
