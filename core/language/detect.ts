/**
 * Which language a customer writes in, told by its script: Cyrillic letters are Russian, Latin
 * letters English. Addresses, e-mails, mentions and code are left out first, so a Russian sentence
 * with a link is still Russian. Dependency-free and deterministic; enough for choosing the language
 * of Switchboard's own messages (the model answers in the customer's language by itself).
 * (core/knowledge/text.ts has its own, looser test: which full-text configuration indexes a passage.)
 */
import type { Language } from './messages.ts'

export type Detection = { language: Language; letters: number; share: number }

const NOISE = [
  /\bhttps?:\/\/\S+/giu,
  /\bwww\.\S+/giu,
  /\S+@\S+\.\S+/gu,
  /(?:^|\s)[@#/][\p{L}\p{N}_]+/gu,
  /`[^`]*`/gu,
]

/** The language of a text, or null when it has too few letters of one script to tell (a "ok", a number, an emoji). */
export function detectLanguage(text: string, input: { minLetters?: number } = {}): Detection | null {
  let clean = text
  for (const pattern of NOISE) clean = clean.replace(pattern, ' ')
  let cyrillic = 0
  let latin = 0
  for (const ch of clean) {
    if (/\p{Script=Cyrillic}/u.test(ch)) cyrillic++
    else if (/\p{Script=Latin}/u.test(ch)) latin++
  }
  const letters = cyrillic + latin
  if (letters === 0) return null
  const language: Language = cyrillic >= latin ? 'ru' : 'en'
  const count = language === 'ru' ? cyrillic : latin
  const share = count / letters
  // A mixed text counts only when one script clearly leads.
  if (count < (input.minLetters ?? 3) || share < 0.6) return null
  return { language, letters: count, share }
}

/** Letters a text needs before it may change the language a conversation already has: a "ok" or a product name must not. */
export const SWITCH_LETTERS = 12

/**
 * The language of Switchboard's messages in a conversation. A fixed agent language always wins.
 * With "auto" the customer's message decides; a short or mixed one keeps the conversation's
 * language, and a conversation's language changes only on a message with enough letters.
 * `remember` is what to store on the conversation (null: keep what is stored).
 */
export function chooseLanguage(input: { setting: string; remembered: Language | null; text: string; fallback?: Language }): { language: Language; remember: Language | null } {
  if (input.setting !== 'auto' && isLanguage(input.setting)) return { language: input.setting, remember: null }
  const detected = detectLanguage(input.text)
  if (!input.remembered) return detected ? { language: detected.language, remember: detected.language } : { language: input.fallback ?? 'en', remember: null }
  if (detected && detected.language !== input.remembered && detected.letters >= SWITCH_LETTERS && detected.share >= 0.8) return { language: detected.language, remember: detected.language }
  return { language: input.remembered, remember: null }
}

/** The language system messages of a conversation are in, outside a turn (a handoff that timed out). */
export function conversationLanguage(input: { setting: string; remembered: string | null }): Language {
  if (input.setting !== 'auto' && isLanguage(input.setting)) return input.setting
  return input.remembered && isLanguage(input.remembered) ? input.remembered : 'en'
}

export const isLanguage = (value: string): value is Language => value === 'en' || value === 'ru'
