import type { ComponentType } from 'react'
import type { Agent, ChannelItem, ConnectedInbox, Disconnected } from '../api.ts'
import type { I18n } from '../i18n.ts'

type T = I18n['t']

/**
 * What a Connect form gets: the organization's agents (at least one), what to do once connected,
 * and the kind's extra offers from GET /api/v1/channels (Slack: addToSlack).
 */
export type ConnectProps = { agents: Agent[]; onConnected: (inbox: ConnectedInbox) => void; offers?: Record<string, unknown> }

/**
 * How the admin web shows one kind of channel. Only `label` is required; without the rest the
 * pages show the generic texts (see fallback in index.ts).
 */
export type ChannelUi = {
  /** The channel's name, e.g. "Telegram". */
  label: (t: T) => string
  /** The title of the Connect form's section and the form; without them, the kind cannot be connected from the web. */
  connectTitle?: (t: T) => string
  Connect?: ComponentType<ConnectProps>
  /** The message once connected. */
  connected?: (t: T, inbox: ConnectedInbox) => string
  /** The channel's own details under its name in a list, e.g. the mode or a link. */
  Details?: ComponentType<{ channel: ChannelItem }>
  /** What keeps a connected channel from working (Meta refused its token), for the Status column; null when nothing does. */
  problem?: (t: T, channel: ChannelItem) => string | null
  /** The texts of the disconnect button, its confirmation and its result. */
  disconnect?: {
    label: (t: T) => string
    ariaLabel: (t: T, channel: ChannelItem) => string
    question: (t: T, channel: ChannelItem) => string
    done: (t: T, result: Disconnected, channel: ChannelItem) => string
  }
  /**
   * What the service's own consent page comes back with (Slack's "Add to Slack", Meta's "Connect
   * with Facebook"): the server redirects to #/channels?connected=<kind>[&count=<n>], or
   * ?<errorParam>=<message>. Without it: `<kind>Error` and the generic texts.
   */
  install?: {
    /** The parameter a failure comes back in; several kinds may share one (Messenger and Instagram: metaError). */
    errorParam?: string
    /** The notice once connected; count: how many accounts were connected, when the server says. */
    done?: (t: T, count: number | null) => string
    failed?: (t: T, message: string) => string
  }
  /** A line under the link code on the Organization page: how to send the command link with the code in this channel. */
  linkHint?: (t: T, code: string) => string
}
