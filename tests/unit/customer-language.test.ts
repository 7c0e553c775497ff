import { describe, expect, it } from 'vitest'
import { CATALOGUE, chooseLanguage, conversationLanguage, detectLanguage, LANGUAGES, say, SWITCH_LETTERS } from '../../core/language/index.ts'
import { handoffChoice, wantsHuman } from '../../core/conversation/steps.ts'
import { chatPageLanguage, renderChatPage } from '../../adapters/webchat/page.ts'
import { createExtractiveAnswerer } from '../../adapters/local-ai/extractive-answerer.ts'
import type { Agent, Passage } from '../../core/ports.ts'

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('the catalogue of messages to customers', () => {
  it('has every message in every language, none empty, with the same placeholders as English', () => {
    const keys = Object.keys(CATALOGUE.en).sort()
    expect(keys.length).toBeGreaterThan(15)
    for (const language of LANGUAGES) {
      expect(Object.keys(CATALOGUE[language]).sort()).toEqual(keys)
      for (const key of keys) {
        const text = CATALOGUE[language][key as keyof typeof CATALOGUE.en]
        expect(text.trim(), `${language}.${key}`).not.toBe('')
        expect(placeholders(text), `${language}.${key}`).toEqual(placeholders(CATALOGUE.en[key as keyof typeof CATALOGUE.en]))
      }
    }
  })

  it('the Russian texts are Russian and the English ones English', () => {
    for (const [key, text] of Object.entries(CATALOGUE.ru)) expect(detectLanguage(text.replace(/\{\w+\}/g, ''), { minLetters: 2 })?.language, key).toBe('ru')
    for (const [key, text] of Object.entries(CATALOGUE.en)) expect(detectLanguage(text.replace(/\{\w+\}/g, ''), { minLetters: 2 })?.language, key).toBe('en')
  })

  it('fills placeholders, and a text is never cut short by what fills it', () => {
    expect(say('ru', 'welcome', { agent: 'Помощник $& {agent}' })).toBe('Здравствуйте! Я Помощник $& {agent}. Задайте любой вопрос, и я отвечу по нашей базе знаний со ссылками на источники.')
    expect(say('en', 'quoteFrom', { source: 'Prices' })).toBe('From "Prices":')
  })

  it('the phrase every language tells customers to write for a person, and the button label, ask for a person', () => {
    expect(wantsHuman('позовите человека')).toBe(true)
    expect(wantsHuman('talk to a person')).toBe(true)
    for (const language of LANGUAGES) expect(wantsHuman(handoffChoice(language).label), language).toBe(true)
    expect(handoffChoice('ru')).toEqual({ id: 'handoff', label: 'Позвать человека' })
  })
})

describe('telling the customer’s language', () => {
  it('Cyrillic is Russian, Latin is English; links, e-mails, mentions and code do not count', () => {
    expect(detectLanguage('Здравствуйте, сколько стоит доставка?')?.language).toBe('ru')
    expect(detectLanguage('How much is delivery?')?.language).toBe('en')
    expect(detectLanguage('посмотрите https://example.com/some/long/english/path?query=words и ответьте')?.language).toBe('ru')
    expect(detectLanguage('пишите на support@example-company.com')?.language).toBe('ru')
    expect(detectLanguage('@acme_support_bot `npm install something` привет')?.language).toBe('ru')
  })

  it('too little to tell: no letters, a "ok", an evenly mixed text', () => {
    expect(detectLanguage('12345 !!! 👍')).toBeNull()
    expect(detectLanguage('ok')).toBeNull()
    expect(detectLanguage('abcd абвг')).toBeNull()
  })

  it('a fixed agent language always wins', () => {
    expect(chooseLanguage({ setting: 'en', remembered: 'ru', text: 'Здравствуйте, сколько стоит доставка?' })).toEqual({ language: 'en', remember: null })
    expect(chooseLanguage({ setting: 'ru', remembered: null, text: 'How much is delivery?' })).toEqual({ language: 'ru', remember: null })
    expect(conversationLanguage({ setting: 'en', remembered: 'ru' })).toBe('en')
  })

  it('auto: the first clear message sets the conversation’s language; a short one keeps it', () => {
    expect(chooseLanguage({ setting: 'auto', remembered: null, text: 'Привет' })).toEqual({ language: 'ru', remember: 'ru' })
    expect(chooseLanguage({ setting: 'auto', remembered: null, text: 'ok' })).toEqual({ language: 'en', remember: null })
    expect(chooseLanguage({ setting: 'auto', remembered: 'ru', text: 'ok' })).toEqual({ language: 'ru', remember: null })
    expect(chooseLanguage({ setting: 'auto', remembered: 'ru', text: 'iPhone 15 Pro' })).toEqual({ language: 'ru', remember: null })
    expect(chooseLanguage({ setting: 'auto', remembered: 'ru', text: '' })).toEqual({ language: 'ru', remember: null })
    expect(conversationLanguage({ setting: 'auto', remembered: 'ru' })).toBe('ru')
    expect(conversationLanguage({ setting: 'auto', remembered: null })).toBe('en')
  })

  it('auto: a whole sentence in another language changes it', () => {
    const sentence = 'Actually, could you answer me in English please?'
    expect(detectLanguage(sentence)!.letters).toBeGreaterThanOrEqual(SWITCH_LETTERS)
    expect(chooseLanguage({ setting: 'auto', remembered: 'ru', text: sentence })).toEqual({ language: 'en', remember: 'en' })
    expect(chooseLanguage({ setting: 'auto', remembered: 'en', text: 'А можно по-русски, пожалуйста?' })).toEqual({ language: 'ru', remember: 'ru' })
  })
})

describe('the web chat page’s language', () => {
  it('the agent’s fixed language, else the browser’s first language Switchboard speaks, else English', () => {
    expect(chatPageLanguage({ setting: 'ru', acceptLanguage: 'en-US,en;q=0.9' })).toBe('ru')
    expect(chatPageLanguage({ setting: 'auto', acceptLanguage: 'ru-RU,ru;q=0.9,en-US;q=0.8' })).toBe('ru')
    expect(chatPageLanguage({ setting: 'auto', acceptLanguage: 'de-DE,de;q=0.9,ru;q=0.5,en;q=0.7' })).toBe('en')
    expect(chatPageLanguage({ setting: 'auto', acceptLanguage: 'ru;q=0, en' })).toBe('en')
    expect(chatPageLanguage({ setting: 'auto', acceptLanguage: 'fr' })).toBe('en')
    expect(chatPageLanguage({ setting: 'auto' })).toBe('en')
  })

  it('renders its words in that language', () => {
    const page = renderChatPage({ key: 'k'.repeat(12), agentName: 'Помощник', language: 'ru' })
    expect(page).toContain('<html lang="ru">')
    expect(page).toContain('placeholder="Задайте вопрос…"')
    expect(page).toContain('>Отправить</button>')
    expect(page).toContain('"thinking":"Думаю…"')
    expect(page).not.toContain('Ask a question')
  })
})

describe('the offline answerer speaks the conversation’s language', () => {
  const agent: Agent = { id: 'a', organizationId: 'o', name: 'Guide', instructions: '', model: null, temperature: 0.2, maxTokens: 600, providerKeyId: null, fallbacks: [], responseDelayMs: 0, language: 'auto', createdAt: new Date(), updatedAt: new Date() }
  const passage: Passage = { chunkId: 'c1', sourceId: 's1', title: 'Доставка', heading: '', text: 'Доставка по Москве стоит 300 рублей. Заказ привозят на следующий день.', score: 0.03, ftsRank: 1, vectorRank: 1, similarity: 0.5, bm25: 4.2, collectionId: null }
  const answerer = createExtractiveAnswerer()

  it('frames a quote and says it found nothing in Russian', async () => {
    const found = await answerer.answer({ agent, question: 'Сколько стоит доставка по Москве?', history: [], passages: [passage], relevant: true, language: 'ru' })
    expect(found.text).toBe('Из «Доставка»:\n\n> Доставка по Москве стоит 300 рублей.')
    const nothing = await answerer.answer({ agent, question: 'Какая погода?', history: [], passages: [], relevant: false, language: 'ru' })
    expect(nothing.text).toBe(say('ru', 'notFound'))
  })

  it('in English when the conversation is English', async () => {
    const found = await answerer.answer({ agent, question: 'Сколько стоит доставка по Москве?', history: [], passages: [passage], relevant: true, language: 'en' })
    expect(found.text.startsWith('From "Доставка":')).toBe(true)
  })
})
