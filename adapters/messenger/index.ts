import { z } from 'zod'
import { defineChannel } from '../channel-module.ts'
import { createMetaChannel } from '../meta/channel.ts'
import { META_FILE_HOSTS, metaConfig } from '../meta/config.ts'
import { createMetaConnector, pageOps } from '../meta/connect.ts'
import { MESSENGER_TEXT_LIMIT } from '../meta/format.ts'
import { createGraphClient } from '../meta/graph.ts'
import { facebookLogin, mountMetaOAuth, withAppWebhook } from '../meta/oauth.ts'

/**
 * Facebook Messenger: the customers of a Facebook Page. A Page connected with its own token and app
 * secret posts to POST /webhooks/messenger/{inboxId} (checked first with a GET and the inbox's verify
 * token); Pages connected with "Connect with Facebook" (this installation's app: META_APP_ID,
 * META_APP_SECRET, META_VERIFY_TOKEN) all post to the app's one address, POST /webhooks/messenger.
 * Replies go through the Send API with the page access token, within Messenger's messaging windows.
 */
export const messenger = defineChannel({
  kind: 'messenger',
  label: 'Messenger',
  config: z.object({ ...metaConfig }),
  connect: z.object({ pageId: z.string().trim().min(1).max(64), pageAccessToken: z.string().trim().min(20).max(1000), appSecret: z.string().trim().min(1).max(200), verifyToken: z.string().trim().max(200).optional() }).strict(),

  create(deps) {
    const { config } = deps
    const graph = createGraphClient({ baseUrl: config.META_GRAPH_URL, version: config.META_GRAPH_VERSION, ...(deps.sleep ? { sleep: deps.sleep } : {}) })
    const flavor = { kind: 'messenger' as const, label: 'Messenger', object: 'page' as const, graph, textLimit: MESSENGER_TEXT_LIMIT, metadata: true, fileHosts: META_FILE_HOSTS, graphOrigin: new URL(config.META_GRAPH_URL).origin }
    const channel = createMetaChannel({
      flavor,
      store: deps.store,
      secrets: deps.secrets,
      logger: deps.logger,
      humanAgent: config.META_HUMAN_AGENT,
      notifyAdmins: deps.notifyAdmins,
      app: { appSecret: config.META_APP_SECRET, verifyToken: config.META_VERIFY_TOKEN },
      ...(deps.redis ? { redis: deps.redis } : {}),
    })
    const connector = createMetaConnector({ flavor, store: deps.store, secrets: deps.secrets, channel, ops: pageOps(graph), publicUrl: deps.publicUrl, logger: deps.logger, checkChannelCap: deps.checkChannelCap })

    // "Connect with Facebook": offered when the app's id, secret and verify token and PUBLIC_URL are set.
    const app = config.META_APP_ID && config.META_APP_SECRET && config.META_VERIFY_TOKEN && deps.publicUrl ? { appId: config.META_APP_ID, appSecret: config.META_APP_SECRET, verifyToken: config.META_VERIFY_TOKEN } : undefined
    const routes = mountMetaOAuth({
      kind: 'messenger',
      label: 'Facebook',
      provider: app ? facebookLogin({ graph, dialogUrl: config.META_DIALOG_URL, version: config.META_GRAPH_VERSION, appId: app.appId, appSecret: app.appSecret }) : undefined,
      needs: 'META_APP_ID, META_APP_SECRET, META_VERIFY_TOKEN and PUBLIC_URL',
      publicUrl: deps.publicUrl,
      connectBody: (page) => ({ pageId: page.accountId, pageAccessToken: page.accessToken, appSecret: app!.appSecret, verifyToken: app!.verifyToken }),
      api: deps.api,
      channels: deps.channels,
      store: deps.store,
      secrets: deps.secrets,
      logger: deps.logger,
    })

    return {
      adapter: channel,
      routes,
      offers: () => ({ oauth: Boolean(app) }),
      connect: ({ organizationId, agent, input }) => connector.connect({ organizationId, agent, accountId: input.pageId, accessToken: input.pageAccessToken, appSecret: input.appSecret, ...(input.verifyToken ? { verifyToken: input.verifyToken } : {}) }),
      disconnect: ({ inbox }) => connector.disconnect(inbox),
      summary: withAppWebhook(connector.summary, { kind: 'messenger', publicUrl: deps.publicUrl, verifyToken: config.META_VERIFY_TOKEN }),
    }
  },
})
