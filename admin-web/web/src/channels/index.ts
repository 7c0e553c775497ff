// The admin web's channels: kind -> UI module, one line per channel. A channel's module and its
// texts are files in this folder (<kind>.tsx, <kind>.i18n.ts, listed in texts.ts too).
import type { ChannelUi } from './types.ts'
import { instagram } from './instagram.tsx'
import { messenger } from './messenger.tsx'
import { slack } from './slack.tsx'
import { telegram } from './telegram.tsx'
import { webchat } from './webchat.tsx'

export const channelUis: Record<string, ChannelUi> = {
  webchat,
  telegram,
  slack,
  messenger,
  instagram,
}

/** The UI of a kind; a kind this web does not know yet is shown by its name with the generic texts. */
export const channelUi = (kind: string): ChannelUi => (Object.hasOwn(channelUis, kind) ? channelUis[kind]! : { label: () => kind })

export type { ChannelUi, ConnectProps } from './types.ts'
