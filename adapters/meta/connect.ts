import { randomBytes } from 'node:crypto'
import { AppError } from '../../core/errors.ts'
import type { Agent, Inbox, Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import type { InboxSummary } from '../channel-module.ts'
import { MetaApiError, metaAppError, type GraphClient } from './graph.ts'
import type { MetaChannel, MetaFlavor } from './channel.ts'
import { settingsOf, type MetaCredentials, type MetaSettings } from './settings.ts'

// Meta app secrets are 32 hexadecimal characters (App Dashboard → App settings → Basic).
export const APP_SECRET = /^[0-9a-f]{32}$/i
const VERIFY_TOKEN = /^[\x21-\x7e]{8,100}$/

export const webhookUrlOf = (publicUrl: string, kind: string, inboxId: string) => `${publicUrl.replace(/\/$/, '')}/webhooks/${kind}/${inboxId}`

/** How one kind of Meta account is checked, subscribed and unsubscribed. */
export type MetaAccountOps = {
  /** The account behind the token, checked against the id given: its id and display name. */
  identify(input: { accountId: string; token: string }): Promise<{ accountId: string; accountName?: string; appId?: string }>
  /** Subscribes the app to the account's messaging webhooks. */
  subscribe(input: { accountId: string; token: string }): Promise<void>
  unsubscribe(input: { accountId: string; token: string }): Promise<void>
}

/**
 * Connecting a Facebook Page (Messenger) or an Instagram professional account: the token checked
 * with the Graph API, the app subscribed to the account's webhooks, the token and the app secret
 * sealed; the answer carries the webhook URL and the verify token to paste into Meta's dashboard.
 * One account is one inbox, found again by its key when connected again (a broken one is mended).
 */
export function createMetaConnector(deps: {
  flavor: Pick<MetaFlavor, 'kind' | 'label'>
  store: Store
  secrets: SecretBox
  channel: MetaChannel
  ops: MetaAccountOps
  publicUrl?: string
  logger: Logger
  checkChannelCap: (organizationId: string) => Promise<void>
}) {
  const { store, flavor } = deps
  const keyOf = (accountId: string) => `${flavor.kind}:${accountId}`

  async function connect(input: { organizationId: string; agent: Agent; accountId: string; accessToken: string; appSecret: string; verifyToken?: string }): Promise<Inbox> {
    if (!deps.publicUrl) throw new AppError('validation_failed', `${flavor.label} delivers messages by webhook only: set PUBLIC_URL (the address Meta can reach)`, 422)
    const given = input.accountId.trim()
    const token = input.accessToken.trim()
    const appSecret = input.appSecret.trim()
    if (!/^\d{5,40}$/.test(given)) throw new AppError('validation_failed', `That is not a ${flavor.kind === 'messenger' ? 'Page' : 'Instagram account'} id (digits only)`, 422)
    if (!APP_SECRET.test(appSecret)) throw new AppError('validation_failed', 'That is not a Meta app secret (32 hexadecimal characters, under App settings → Basic)', 422)
    if (input.verifyToken !== undefined && !VERIFY_TOKEN.test(input.verifyToken)) throw new AppError('validation_failed', 'The verify token is 8 to 100 visible characters, without spaces', 422)
    const who = await deps.ops.identify({ accountId: given, token })
    // Webhooks name the account by the id Meta returned (Instagram's user_id, not the app-scoped id).
    const accountId = who.accountId
    const existing = await store.inboxes.findByPublicKey(keyOf(accountId))
    if (existing && existing.organizationId !== input.organizationId) throw new AppError('conflict', `This ${flavor.label} account is already connected to another organization`, 409)
    try {
      await deps.ops.subscribe({ accountId, token })
    } catch (error) {
      throw metaAppError('subscribed_apps', error)
    }
    const previous = existing ? settingsOf(existing) : null
    const settings: MetaSettings = {
      accountId,
      ...(who.accountName ? { accountName: who.accountName } : {}),
      ...(who.appId ? { appId: who.appId } : {}),
      verifyToken: input.verifyToken ?? previous?.verifyToken ?? randomBytes(18).toString('base64url'),
    }
    const credentials = deps.secrets.seal(JSON.stringify({ accessToken: token, appSecret } satisfies MetaCredentials))
    const name = who.accountName ?? accountId
    const inbox = existing
      ? (await store.inboxes.update(input.organizationId, existing.id, { name, settings, credentials }))!
      : await (async () => {
          await deps.checkChannelCap(input.organizationId)
          return store.inboxes.create({ organizationId: input.organizationId, agentId: input.agent.id, channel: flavor.kind, name, publicKey: keyOf(accountId), settings, credentials })
        })()
    deps.logger.info({ inboxId: inbox.id, accountId }, `${flavor.label} account connected`)
    return inbox
  }

  async function disconnect(inbox: Inbox): Promise<{ warning?: string }> {
    const s = settingsOf(inbox)
    if (!s) return {}
    try {
      await deps.ops.unsubscribe({ accountId: s.accountId, token: await deps.channel.tokenOf(inbox) })
      return {}
    } catch (error) {
      const warning = metaAppError('subscribed_apps', error).message
      deps.logger.warn({ inboxId: inbox.id, err: warning }, `${flavor.label}: could not unsubscribe the app; disconnecting anyway`)
      return { warning }
    }
  }

  function summary(inbox: Inbox): InboxSummary {
    const s = settingsOf(inbox)
    return {
      inboxId: inbox.id,
      kind: inbox.channel,
      agentId: inbox.agentId,
      name: inbox.name,
      purpose: inbox.purpose,
      mode: 'webhook',
      webhookUrl: deps.publicUrl ? webhookUrlOf(deps.publicUrl, flavor.kind, inbox.id) : null,
      details: { accountId: s?.accountId ?? null, accountName: s?.accountName ?? null, appId: s?.appId ?? null, verifyToken: s?.verifyToken ?? null, tokenExpiresAt: s?.tokenExpiresAt ?? null, broken: s?.broken ?? null },
    }
  }

  return { connect, disconnect, summary }
}

/** Messenger: a Facebook Page and its page access token on graph.facebook.com. */
export function pageOps(graph: GraphClient): MetaAccountOps {
  return {
    async identify({ accountId, token }) {
      let page: { id?: string; name?: string }
      try {
        page = await graph.call<{ id?: string; name?: string }>({ method: 'GET', path: `/${accountId}`, token, query: { fields: 'id,name' } })
      } catch (error) {
        // 100: the Page does not exist or this token cannot see it.
        if (error instanceof MetaApiError && error.code === 100) throw new AppError('validation_failed', `This token cannot read Page ${accountId}: is it that Page's access token?`, 422)
        throw metaAppError('Reading the Page', error)
      }
      if (page.id !== accountId) throw new AppError('validation_failed', 'That token is not for this Page', 422)
      // The app the token belongs to: its own echoes are recognised by it (best effort).
      const app = await graph.call<{ id?: string }>({ method: 'GET', path: '/app', token }).catch(() => null)
      return { accountId, accountName: page.name, ...(app?.id ? { appId: app.id } : {}) }
    },
    async subscribe({ accountId, token }) {
      await graph.call({ method: 'POST', path: `/${accountId}/subscribed_apps`, token, query: { subscribed_fields: 'messages,messaging_postbacks,message_echoes' } })
    },
    async unsubscribe({ accountId, token }) {
      await graph.call({ method: 'DELETE', path: `/${accountId}/subscribed_apps`, token })
    },
  }
}

/** Instagram: a professional account with an Instagram Login token on graph.instagram.com. */
export function instagramOps(graph: GraphClient): MetaAccountOps {
  return {
    async identify({ accountId, token }) {
      let me: { user_id?: string | number; id?: string; username?: string }
      try {
        me = await graph.call<typeof me>({ method: 'GET', path: '/me', token, query: { fields: 'user_id,username' } })
      } catch (error) {
        throw metaAppError('Reading the Instagram account', error)
      }
      // The professional account id (user_id) is what webhooks name; the app-scoped id is accepted as a way to say the same account.
      if (String(me.user_id ?? '') !== accountId && String(me.id ?? '') !== accountId) throw new AppError('validation_failed', 'That token is not for this Instagram account', 422)
      return { accountId: me.user_id !== undefined ? String(me.user_id) : accountId, ...(me.username ? { accountName: `@${me.username}` } : {}) }
    },
    async subscribe({ token }) {
      await graph.call({ method: 'POST', path: '/me/subscribed_apps', token, query: { subscribed_fields: 'messages,messaging_postbacks' } })
    },
    async unsubscribe({ token }) {
      await graph.call({ method: 'DELETE', path: '/me/subscribed_apps', token })
    },
  }
}
