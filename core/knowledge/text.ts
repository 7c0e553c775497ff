import type { FtsLanguage } from '../ports.ts'

const STOPWORDS = new Set(
  (
    'a an and are as at be by can could did do does for from had has have how i if in into is it its me my of on or our ' +
    'please so than that the their them then there these they this to us was we were what when where which who why will ' +
    'with would you your about any some tell know want need get use using via also just should may might must not no yes ' +
    'и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот от меня еще ' +
    'нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж вам ведь там потом ' +
    'себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтобы без будто чего раз тоже себе под ' +
    'будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда ' +
    'зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего них какая много ' +
    'разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно всю между ' +
    'как какие каков сколько почему'
  ).split(/\s+/),
)

/** Lower-cased word tokens (letters and digits, any script). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
}

/** Content words of a question: no stop words, no one-letter tokens. */
export function keywords(text: string): string[] {
  return [...new Set(words(text).filter((w) => w.length > 1 && !STOPWORDS.has(w)))]
}

/**
 * A crude stem good enough for matching inflections in English and Russian: drop an English
 * plural "s", then keep the first 5 letters.
 */
export function stem(word: string): string {
  const w = word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word
  return w.length > 5 ? w.slice(0, 5) : w
}

export function detectLanguage(text: string): FtsLanguage {
  const letters = text.match(/\p{L}/gu) ?? []
  if (letters.length === 0) return 'simple'
  const cyrillic = letters.filter((c) => /[\u0400-\u04FF]/.test(c)).length
  return cyrillic / letters.length > 0.3 ? 'russian' : 'english'
}

/** Share of the question's keywords (by stem) that occur in the passage. */
export function keywordCoverage(question: string, passage: string): number {
  const q = keywords(question).map(stem)
  if (q.length === 0) return 0
  const p = new Set(words(passage).map(stem))
  return q.filter((w) => p.has(w)).length / q.length
}

export function sentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+(?=[\p{Lu}\p{N}`"«(])/u)
    .map((s) => s.trim())
    .filter(Boolean)
}

/** "Title › Section" for a passage, without repeating the title when the first heading is the title. */
export function passageLabel(p: { title: string; heading: string }): string {
  const parts = p.heading ? p.heading.split(' › ') : []
  if (parts[0]?.trim().toLowerCase() === p.title.trim().toLowerCase()) parts.shift()
  return [p.title, ...parts].join(' › ')
}
