import { z } from 'zod'
import type { Inbox } from '../../core/ports.ts'

/** What the sealed credentials of a Slack inbox hold: the bot token, and the app's signing secret when the business brought its own app. */
export const slackCredentials = z.object({ botToken: z.string().min(1), signingSecret: z.string().min(1).optional() })
export type SlackCredentials = z.infer<typeof slackCredentials>

/** Non-secret settings of a Slack inbox (Inbox.settings), read with this schema, never cast. */
export const slackSettings = z.object({
  /** `app`: the business's own Slack app (bot token and signing secret given); `oauth`: this installation's app added with "Add to Slack". */
  install: z.enum(['app', 'oauth']),
  teamId: z.string(),
  teamName: z.string().optional(),
  appId: z.string(),
  /** The bot's user id (U...): mentions of it address the bot, messages from it are its own. */
  botUserId: z.string(),
  botId: z.string().optional(),
  /** How events arrive: HTTP to the Request URL, or Socket Mode (SLACK_APP_TOKEN, development). */
  mode: z.enum(['webhook', 'socket']),
  /** The channel where handoffs go for operators, when chosen (/switchboard operators here). */
  deskChannelId: z.string().optional(),
})
export type SlackSettings = z.infer<typeof slackSettings>

/** The inbox's Slack settings; null when they do not fit the schema. */
export const settingsOf = (inbox: Inbox): SlackSettings | null => {
  const parsed = slackSettings.safeParse(inbox.settings)
  return parsed.success ? parsed.data : null
}

/** One workspace and app is one inbox: its public key finds it when events arrive without an inbox id (OAuth installs, Socket Mode). */
export const installationKey = (teamId: string, appId: string) => `slack:${teamId}:${appId}`

export const DEFAULT_API_URL = 'https://slack.com/api/'
