import type { IncomingMessage, ServerResponse } from 'node:http'
import type { InstallProvider, Installation, InstallURLOptions, StateStore } from '@slack/oauth'
import { AppError } from '../../core/errors.ts'
import type { Agent, Inbox, Logger, Store } from '../../core/ports.ts'
import type { SecretBox } from '../../core/security/secrets.ts'
import { BOT_SCOPES } from './manifest.ts'
import { installationKey, settingsOf, type SlackCredentials, type SlackSettings } from './settings.ts'
import { slackError, slackLogger, type SlackChannel } from './slack-channel.ts'

// Bot tokens are xoxb-…; signing secrets are the app's (Basic Information → App Credentials).
export const BOT_TOKEN = /^xoxb-[\w-]{10,250}$/
export const SIGNING_SECRET = /^[A-Za-z0-9]{16,128}$/
const STATE_TTL_MS = 10 * 60_000

export const requestUrlOf = (publicUrl: string, inboxId?: string) => `${publicUrl.replace(/\/$/, '')}/webhooks/slack${inboxId ? `/${inboxId}` : ''}`
export const redirectUrlOf = (publicUrl: string) => `${publicUrl.replace(/\/$/, '')}/slack/oauth/callback`

/** Who started "Add to Slack": carried, sealed, in the OAuth state and read back at the callback. */
type InstallIntent = { organizationId: string; agentId: string; userId: string }

/**
 * Connecting Slack: a business's own app (bot token + signing secret, checked with auth.test), or
 * this installation's app added to a workspace with "Add to Slack" (OAuth v2 through @slack/oauth,
 * the state sealed with the installation's key and bound to the browser by a cookie). Either way one
 * workspace and app is one inbox, found again by its key when the same app is connected again.
 */
export function createSlackConnector(deps: {
  store: Store
  secrets: SecretBox
  channel: SlackChannel
  apiUrl: string
  publicUrl?: string
  /** Socket Mode (SLACK_APP_TOKEN): events come over a socket, no public address needed. */
  socketMode: boolean
  oauth?: { clientId: string; clientSecret: string }
  logger: Logger
  checkChannelCap: (organizationId: string) => Promise<void>
  /** Audited connection of an OAuth install, as the admin API connects. */
  connected: (inbox: Inbox, actorUserId: string) => Promise<void>
}) {
  const { store } = deps

  const mode = (): SlackSettings['mode'] => {
    if (deps.publicUrl) return 'webhook'
    if (deps.socketMode) return 'socket'
    throw new AppError('validation_failed', 'Slack needs PUBLIC_URL (the address Slack posts events to) or SLACK_APP_TOKEN for Socket Mode', 422)
  }

  /** Creates the inbox of a workspace's app, or updates it when that app is connected again (its operators' channel kept). */
  async function save(input: { organizationId: string; agentId: string; settings: Omit<SlackSettings, 'deskChannelId'>; credentials: SlackCredentials }): Promise<Inbox> {
    const key = installationKey(input.settings.teamId, input.settings.appId)
    const existing = await store.inboxes.findByPublicKey(key)
    if (existing && existing.organizationId !== input.organizationId) throw new AppError('conflict', 'This Slack app is already connected to another organization in this workspace', 409)
    if (existing && existing.channel !== 'slack') throw new AppError('conflict', 'This Slack app is already connected', 409)
    const credentials = deps.secrets.seal(JSON.stringify(input.credentials))
    const name = input.settings.teamName ? `Slack: ${input.settings.teamName}` : `Slack ${input.settings.teamId}`
    if (existing) {
      const kept = settingsOf(existing)?.deskChannelId
      const inbox = (await store.inboxes.update(input.organizationId, existing.id, { name, settings: { ...input.settings, ...(kept ? { deskChannelId: kept } : {}) }, credentials }))!
      deps.channel.forget(inbox.id)
      return inbox
    }
    await deps.checkChannelCap(input.organizationId)
    return store.inboxes.create({ organizationId: input.organizationId, agentId: input.agentId, channel: 'slack', name, publicKey: key, settings: input.settings, credentials })
  }

  /** The workspace, bot and app behind a bot token (auth.test; bots.info when auth.test does not name the app). */
  async function identify(token: string) {
    const client = await deps.channel.clientWith(token)
    let auth: Awaited<ReturnType<typeof client.auth.test>>
    try {
      auth = await client.auth.test()
    } catch (error) {
      throw slackError('auth.test', error)
    }
    if (!auth.team_id || !auth.user_id) throw new AppError('validation_failed', 'That token is not a Slack bot token (auth.test named no workspace or bot)', 422)
    let appId = auth.app_id
    if (!appId && auth.bot_id) {
      try {
        appId = (await client.bots.info({ bot: auth.bot_id })).bot?.app_id
      } catch (error) {
        throw slackError('bots.info', error)
      }
    }
    if (!appId) throw new AppError('validation_failed', 'Slack did not say which app this token belongs to; is it a bot token (xoxb-)?', 422)
    return { teamId: auth.team_id, teamName: auth.team, botUserId: auth.user_id, botId: auth.bot_id, appId }
  }

  /** A business's own app: the token checked with Slack, both secrets sealed. */
  async function connect(input: { organizationId: string; agent: Agent; botToken: string; signingSecret: string }): Promise<Inbox> {
    const botToken = input.botToken.trim()
    const signingSecret = input.signingSecret.trim()
    if (!BOT_TOKEN.test(botToken)) throw new AppError('validation_failed', 'That does not look like a bot token (it starts with xoxb-, under OAuth & Permissions of your Slack app)', 422)
    if (!SIGNING_SECRET.test(signingSecret)) throw new AppError('validation_failed', 'That does not look like a signing secret (letters and digits, under Basic Information → App Credentials)', 422)
    const how = mode()
    const who = await identify(botToken)
    const inbox = await save({ organizationId: input.organizationId, agentId: input.agent.id, settings: { install: 'app', mode: how, ...who }, credentials: { botToken, signingSecret } })
    deps.logger.info({ inboxId: inbox.id, teamId: who.teamId, appId: who.appId, mode: how }, 'Slack app connected')
    return inbox
  }

  /** Slack keeps nothing to delete for a bring-your-own app; an OAuth install is uninstalled from the workspace. */
  async function disconnect(inbox: Inbox): Promise<{ warning?: string }> {
    try {
      if (settingsOf(inbox)?.install === 'oauth' && deps.oauth) {
        const { client } = await deps.channel.clientFor(inbox)
        await client.apps.uninstall({ client_id: deps.oauth.clientId, client_secret: deps.oauth.clientSecret })
      }
      return {}
    } catch (error) {
      const warning = slackError('apps.uninstall', error).message
      deps.logger.warn({ inboxId: inbox.id, err: warning }, 'apps.uninstall failed; disconnecting anyway')
      return { warning }
    } finally {
      deps.channel.forget(inbox.id)
    }
  }

  // "Add to Slack": the state is sealed with the installation's key (any process can open it) and expires in 10 minutes.
  const stateStore: StateStore = {
    async generateStateParam(installOptions: InstallURLOptions, now: Date) {
      return deps.secrets.seal(JSON.stringify({ installOptions, at: now.getTime() }))
    },
    async verifyStateParam(now: Date, state: string) {
      let parsed: { installOptions?: InstallURLOptions; at?: unknown } | null
      try {
        parsed = JSON.parse(deps.secrets.open(state)) as typeof parsed
      } catch {
        parsed = null
      }
      // Without its time a state would never expire (NaN is never more than the TTL).
      if (!parsed?.installOptions || typeof parsed.at !== 'number') throw new AppError('unauthorized', 'The Slack sign-in came back with a state this server did not make', 401)
      if (now.getTime() - parsed.at > STATE_TTL_MS) throw new AppError('unauthorized', 'The Slack sign-in took longer than 10 minutes; start again', 401)
      return parsed.installOptions
    },
  }

  // @slack/oauth loads with the first "Add to Slack": only then is the installer made.
  const oauthReady = Boolean(deps.oauth && deps.publicUrl)
  let provider: Promise<InstallProvider> | undefined
  const installer = (): Promise<InstallProvider> | undefined => {
    const oauth = deps.oauth
    if (!oauth || !deps.publicUrl) return undefined
    provider ??= import('@slack/oauth').then(({ InstallProvider }) =>
      new InstallProvider({
        clientId: oauth.clientId,
        clientSecret: oauth.clientSecret,
        stateStore,
        directInstall: true,
        stateCookieName: 'switchboard-slack-oauth-state',
        clientOptions: { slackApiUrl: deps.apiUrl },
        logger: slackLogger(deps.logger),
        installationStore: {
          async storeInstallation(installation: Installation) {
            await install(installation)
          },
          async fetchInstallation(query) {
            const inbox = query.teamId ? (await store.inboxes.listByChannel('slack')).find((i) => settingsOf(i)?.teamId === query.teamId && settingsOf(i)?.install === 'oauth') : undefined
            if (!inbox) throw new Error('No Slack installation for that workspace')
            const { client, settings } = await deps.channel.clientFor(inbox)
            return { team: { id: settings.teamId, name: settings.teamName }, enterprise: undefined, user: { id: '', token: undefined, scopes: undefined }, bot: { token: client.token!, userId: settings.botUserId, id: settings.botId ?? '', scopes: BOT_SCOPES }, appId: settings.appId, isEnterpriseInstall: false }
          },
        },
      }),
    )
    return provider
  }

  /** The workspace's installation, from the OAuth callback: the inbox of the organization that started it. */
  async function install(installation: Installation): Promise<void> {
    let intent: InstallIntent
    try {
      intent = JSON.parse(installation.metadata ?? '') as InstallIntent
    } catch {
      throw new AppError('unauthorized', 'The Slack installation came back without who started it', 401)
    }
    const teamId = installation.team?.id
    if (!teamId || !installation.bot?.token || !installation.bot.userId || !installation.appId) throw new AppError('validation_failed', 'Slack installations into an Enterprise Grid organization as a whole are not supported; install into a workspace', 422)
    const agent = await store.agents.get(intent.organizationId, intent.agentId)
    if (!agent) throw new AppError('not_found', 'The agent chosen for Slack no longer exists', 404)
    const inbox = await save({
      organizationId: intent.organizationId,
      agentId: agent.id,
      settings: { install: 'oauth', mode: mode(), teamId, teamName: installation.team?.name, appId: installation.appId, botUserId: installation.bot.userId, botId: installation.bot.id },
      credentials: { botToken: installation.bot.token },
    })
    await deps.connected(inbox, intent.userId)
  }

  return {
    connect,
    disconnect,
    /** Whether "Add to Slack" is offered (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET and PUBLIC_URL set). */
    oauthReady: () => oauthReady,
    /** Sends the manager to Slack's consent page, with the state cookie set. */
    async startInstall(req: IncomingMessage, res: ServerResponse, intent: InstallIntent): Promise<void> {
      const installing = await installer()
      if (!installing) throw new AppError('not_found', '"Add to Slack" needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET and PUBLIC_URL', 404)
      await installing.handleInstallPath(req, res, undefined, { scopes: BOT_SCOPES, redirectUri: redirectUrlOf(deps.publicUrl!), metadata: JSON.stringify(intent) })
    },
    /** Slack's redirect back: the state checked, the code exchanged (oauth.v2.access), the installation stored; then back to the admin web. */
    async finishInstall(req: IncomingMessage, res: ServerResponse, back: { done: string; failed: (message: string) => string }): Promise<void> {
      const installing = await installer()
      if (!installing) throw new AppError('not_found', '"Add to Slack" is not configured here', 404)
      const redirect = (location: string) => {
        res.statusCode = 302
        res.setHeader('Location', location)
        res.end()
      }
      await installing.handleCallback(req, res, {
        successAsync: async () => redirect(back.done),
        failureAsync: async (error) => {
          deps.logger.warn({ err: error.message, code: error.code }, 'Slack installation failed')
          redirect(back.failed(error instanceof AppError ? error.message : /state/i.test(error.message) ? 'The Slack sign-in did not match this browser session; start again from the admin web' : 'Slack did not complete the installation'))
        },
      })
    },
  }
}

export type SlackConnector = ReturnType<typeof createSlackConnector>
