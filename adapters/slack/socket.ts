import type { SocketModeClient } from '@slack/socket-mode'
import type { Ingress } from '../../core/conversation/ingress.ts'
import type { Logger } from '../../core/ports.ts'
import { storableJson } from '../../core/security/storable-text.ts'
import { slackLogger, type SlackChannel } from './slack-channel.ts'

/**
 * Socket Mode, for development without a public address (SLACK_APP_TOKEN, an app-level xapp-
 * token with connections:write): Slack sends the app's events, commands and button presses over
 * a WebSocket instead of HTTP, the way Telegram falls back to long polling. Each envelope is
 * routed to its workspace's inbox, normalized and stored like a webhook, then acknowledged; an
 * envelope not acknowledged is sent again by Slack, and the redelivery is a no-op.
 */
export function createSocketMode(deps: { appToken: string; apiUrl: string; channel: SlackChannel; ingress: Ingress; logger: Logger }) {
  let client: SocketModeClient | undefined

  // The package (about 11 MB of memory with its WebSocket client) is loaded when Socket Mode starts, not by every process.
  async function connect(): Promise<SocketModeClient> {
    const { SocketModeClient } = await import('@slack/socket-mode')
    const made = new SocketModeClient({ appToken: deps.appToken, clientOptions: { slackApiUrl: deps.apiUrl }, logger: slackLogger(deps.logger) })
    made.on('slack_event', onEvent)
    return made
  }

  async function onEvent({ ack, body, type, retry_num }: { ack: () => Promise<void>; body: unknown; type: string; retry_num?: number }) {
    try {
      const payload = storableJson(body)
      const inbox = await deps.channel.locate!({ headers: {}, rawBody: Buffer.alloc(0), query: {} }, payload)
      if (!inbox) {
        deps.logger.warn({ type }, 'Socket Mode: an envelope for a workspace or app no inbox has; acknowledged and dropped')
        await ack()
        return
      }
      await deps.ingress.receive(inbox, await deps.channel.normalize(payload, inbox))
      await ack()
    } catch (error) {
      // Not acknowledged: Slack sends it again.
      deps.logger.warn({ err: (error as Error).message, type, retry: retry_num ?? 0 }, 'Socket Mode: envelope not handled')
    }
  }

  let stopped = false
  return {
    // Not awaited: the app starts (and serves HTTP) while Slack is unreachable; the client keeps retrying by itself.
    start: async () => {
      stopped = false
      const started = (client ??= await connect())
      void started.start().then(
        async () => {
          // Stopped while still connecting: the connection made since is closed again.
          if (stopped) await started.disconnect().catch(() => undefined)
          else deps.logger.info('Slack Socket Mode connected')
        },
        (error: unknown) => {
          if (!stopped) deps.logger.error({ err: (error as Error).message }, 'Slack Socket Mode could not connect (SLACK_APP_TOKEN)')
        },
      )
    },
    stop: async () => {
      stopped = true
      await client?.disconnect().catch(() => undefined)
    },
  }
}
