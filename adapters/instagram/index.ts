import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'
import type { Inbox } from '../../core/ports.ts'
import { defineChannel } from '../channel-module.ts'
import { createMetaChannel } from '../meta/channel.ts'
import { instagramLoginConfig, META_FILE_HOSTS, metaConfig } from '../meta/config.ts'
import { createMetaConnector, instagramOps } from '../meta/connect.ts'
import { INSTAGRAM_TEXT_LIMIT } from '../meta/format.ts'
import { createGraphClient, isExpiredToken, MetaApiError, metaAppError } from '../meta/graph.ts'
import { instagramLogin, mountMetaOAuth, withAppWebhook } from '../meta/oauth.ts'
import { metaCredentials, settingsOf } from '../meta/settings.ts'

/** Long-lived Instagram tokens last 60 days; they are refreshed when fewer than this many days are left. */
const REFRESH_WITHIN_MS = 10 * 24 * 3600_000
const REFRESH_EVERY_MS = 12 * 3600_000

/**
 * Instagram: the direct messages of an Instagram professional account, with Instagram Login
 * (graph.instagram.com, instagram_business_manage_messages). An account connected with its own
 * token and app secret posts to POST /webhooks/instagram/{inboxId}; accounts connected with
 * "Connect with Instagram" (this installation's app: INSTAGRAM_APP_ID/SECRET or META_APP_ID/SECRET,
 * META_VERIFY_TOKEN) all post to the app's one address, POST /webhooks/instagram. Replies go through
 * the account's /messages with its token, which is refreshed before it expires.
 */
export const instagram = defineChannel({
  kind: 'instagram',
  label: 'Instagram',
  config: z.object({
    ...metaConfig,
    ...instagramLoginConfig,
    /** The Graph API of Instagram Login: Meta's, or a local fake in tests. */
    INSTAGRAM_GRAPH_URL: z.preprocess(blankToUndefined, z.string().trim().regex(/^https?:\/\//, 'expected a URL starting with http:// or https://').default('https://graph.instagram.com').transform((u) => u.replace(/\/$/, ''))),
  }),
  connect: z.object({ accountId: z.string().trim().min(1).max(64), accessToken: z.string().trim().min(20).max(1000), appSecret: z.string().trim().min(1).max(200), verifyToken: z.string().trim().max(200).optional() }).strict(),

  create(deps) {
    const { store, logger } = deps
    const graph = createGraphClient({ baseUrl: deps.config.INSTAGRAM_GRAPH_URL, version: deps.config.META_GRAPH_VERSION, ...(deps.sleep ? { sleep: deps.sleep } : {}) })
    const measure = (s: string) => Buffer.byteLength(s, 'utf8')
    const flavor = { kind: 'instagram' as const, label: 'Instagram', object: 'instagram' as const, graph, textLimit: INSTAGRAM_TEXT_LIMIT, measure, metadata: false, fileHosts: META_FILE_HOSTS, graphOrigin: new URL(deps.config.INSTAGRAM_GRAPH_URL).origin }
    const { config } = deps
    // Instagram Login has its own app id and secret (Instagram → API setup with Instagram login); the Meta app's by default.
    const appId = config.INSTAGRAM_APP_ID ?? config.META_APP_ID
    const appSecret = config.INSTAGRAM_APP_SECRET ?? config.META_APP_SECRET
    const channel = createMetaChannel({ flavor, store, secrets: deps.secrets, logger, humanAgent: config.META_HUMAN_AGENT, notifyAdmins: deps.notifyAdmins, app: { appSecret, verifyToken: config.META_VERIFY_TOKEN }, ...(deps.redis ? { redis: deps.redis } : {}) })
    const connector = createMetaConnector({ flavor, store, secrets: deps.secrets, channel, ops: instagramOps(graph), publicUrl: deps.publicUrl, logger, checkChannelCap: deps.checkChannelCap })

    // "Connect with Instagram": offered when the app's id, secret and verify token and PUBLIC_URL are set.
    const app = appId && appSecret && config.META_VERIFY_TOKEN && deps.publicUrl ? { appId, appSecret, verifyToken: config.META_VERIFY_TOKEN } : undefined
    const routes = mountMetaOAuth({
      kind: 'instagram',
      label: 'Instagram',
      provider: app ? instagramLogin({ graph, graphUrl: config.INSTAGRAM_GRAPH_URL, apiUrl: config.INSTAGRAM_API_URL, authorizeUrl: config.INSTAGRAM_AUTHORIZE_URL, appId: app.appId, appSecret: app.appSecret }) : undefined,
      needs: 'INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET (or META_APP_ID and META_APP_SECRET), META_VERIFY_TOKEN and PUBLIC_URL',
      publicUrl: deps.publicUrl,
      connectBody: (account) => ({ accountId: account.accountId, accessToken: account.accessToken, appSecret: app!.appSecret, verifyToken: app!.verifyToken }),
      // The long-lived token's expiry: refreshed 10 days before.
      async connected(inbox, account) {
        const s = settingsOf(inbox)
        if (s && account.tokenExpiresAt) await store.inboxes.update(inbox.organizationId, inbox.id, { settings: { ...inbox.settings, tokenExpiresAt: account.tokenExpiresAt } })
      },
      api: deps.api,
      channels: deps.channels,
      store,
      secrets: deps.secrets,
      logger,
    })

    /** Refreshes one inbox's long-lived token (ig_refresh_token) and stores the new one sealed; a refused token marks the inbox broken. */
    async function refresh(inbox: Inbox, now = new Date()): Promise<'refreshed' | 'fresh' | 'broken' | 'failed'> {
      const s = settingsOf(inbox)
      if (!s || s.broken) return 'broken'
      if (s.tokenExpiresAt && new Date(s.tokenExpiresAt).getTime() - now.getTime() > REFRESH_WITHIN_MS) return 'fresh'
      const envelope = await store.inboxes.credentials(inbox.id)
      const credentials = envelope ? metaCredentials.safeParse(JSON.parse(deps.secrets.open(envelope))) : null
      if (!credentials?.success) return 'failed'
      try {
        // This endpoint takes the token as a parameter (https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token).
        const fresh = await graph.call<{ access_token?: string; expires_in?: number }>({ method: 'GET', path: '/refresh_access_token', query: { grant_type: 'ig_refresh_token', access_token: credentials.data.accessToken } })
        if (!fresh.access_token) return 'failed'
        const expiresAt = new Date(now.getTime() + (fresh.expires_in ?? 60 * 24 * 3600) * 1000).toISOString()
        await store.inboxes.update(inbox.organizationId, inbox.id, { settings: { ...s, tokenExpiresAt: expiresAt }, credentials: deps.secrets.seal(JSON.stringify({ ...credentials.data, accessToken: fresh.access_token })) })
        logger.info({ inboxId: inbox.id, expiresAt }, 'Instagram token refreshed')
        return 'refreshed'
      } catch (error) {
        const appError = metaAppError('refresh_access_token', error)
        if (error instanceof MetaApiError && isExpiredToken(error)) {
          await channel.markBroken(inbox, appError.message)
          return 'broken'
        }
        logger.warn({ inboxId: inbox.id, err: appError.message }, 'Instagram token not refreshed; tried again later')
        return 'failed'
      }
    }
    /** Every Instagram inbox whose token expires within 10 days (or whose expiry is not known yet). */
    async function refreshTokens(now = new Date()) {
      const results: Record<string, string> = {}
      for (const inbox of await store.inboxes.listByChannel('instagram')) results[inbox.id] = await refresh(inbox, now)
      return results
    }
    let timer: NodeJS.Timeout | undefined

    return {
      adapter: Object.assign(channel, { refreshTokens }),
      routes,
      offers: () => ({ oauth: Boolean(app) }),
      connect: ({ organizationId, agent, input }) => connector.connect({ organizationId, agent, accountId: input.accountId, accessToken: input.accessToken, appSecret: input.appSecret, ...(input.verifyToken ? { verifyToken: input.verifyToken } : {}) }),
      disconnect: ({ inbox }) => connector.disconnect(inbox),
      summary: withAppWebhook(connector.summary, { kind: 'instagram', publicUrl: deps.publicUrl, verifyToken: config.META_VERIFY_TOKEN }),
      /** The scheduled refresh, in processes that receive traffic. */
      async start() {
        if (!deps.receives) return
        const run = () => void refreshTokens().catch((error: unknown) => logger.warn({ err: (error as Error).message }, 'Instagram token refresh failed'))
        timer = setInterval(run, REFRESH_EVERY_MS)
        timer.unref()
        setTimeout(run, 30_000).unref()
      },
      async stop() {
        if (timer) clearInterval(timer)
      },
    }
  },
})
