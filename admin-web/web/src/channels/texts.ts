// Every channel's texts, merged into the dictionaries of i18n.ts: one line per channel.
// (The channels' UI modules are listed in index.ts; they use i18n.ts, so i18n.ts takes only the
// channels' text files, from here.)
import * as instagram from './instagram.i18n.ts'
import * as messenger from './messenger.i18n.ts'
import * as slack from './slack.i18n.ts'
import * as telegram from './telegram.i18n.ts'
import * as webchat from './webchat.i18n.ts'

const channels = {
  telegram,
  webchat,
  slack,
  messenger,
  instagram,
}

type Each = (typeof channels)[keyof typeof channels]
type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never
type Texts = Intersection<Each['en']>
export type ChannelTextKey = keyof Texts

const list: Each[] = Object.values(channels)
export const channelTexts = {
  en: Object.assign({}, ...list.map((c) => c.en)) as Texts,
  ru: Object.assign({}, ...list.map((c) => c.ru)) as Record<ChannelTextKey, string>,
}
/** Russian texts for the server's error codes of the channels (e.g. a token the messenger refused). */
export const channelErrorsRu: Record<string, string> = Object.assign({}, ...list.map((c) => c.errorsRu))
