import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isLanguage, say, type Language, type MessageKey } from '../../core/language/index.ts'

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/**
 * JSON that is inert inside <script type="application/json">: with `<` escaped no `</script>` or
 * `<!--` can end or bend the element, whatever the agent is called.
 */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)

export type ChatAsset = { path: string; url: string; type: string; body: Buffer }

function loadAsset(name: string, type: string): ChatAsset {
  const body = readFileSync(new URL(`./assets/${name}`, import.meta.url))
  // The content's hash in the page's link lets browsers keep the file for good and still get a new one after an upgrade.
  const version = createHash('sha256').update(body).digest('hex').slice(0, 12)
  return { path: `/chat/assets/${name}`, url: `/chat/assets/${name}?v=${version}`, type, body }
}

/** The chat page's script and styles: static files, so the page needs no inline code and its CSP no 'unsafe-inline'. */
export const chatAssets = { script: loadAsset('chat.js', 'text/javascript'), styles: loadAsset('chat.css', 'text/css') }

/** Whether a URL (a Referer) is a web chat page, whose scripts must never act with an admin session. */
export const isChatPageUrl = (url: string): boolean => {
  try {
    return new URL(url).pathname.startsWith('/chat/')
  } catch {
    return false
  }
}

/**
 * The language of the chat page: the agent's fixed language, else the first of the visitor's
 * browser languages (Accept-Language, by preference) that Switchboard speaks, else English.
 */
export function chatPageLanguage(input: { setting: string; acceptLanguage?: string }): Language {
  if (isLanguage(input.setting)) return input.setting
  const wanted = (input.acceptLanguage ?? '')
    .split(',')
    .map((part, order) => {
      const [tag = '', ...params] = part.trim().split(';')
      const q = Number(params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean) ?? 1)
      return { base: tag.toLowerCase().split('-')[0]!, q: Number.isFinite(q) ? q : 0, order }
    })
    .filter((l) => l.q > 0)
    .sort((a, b) => b.q - a.q || a.order - b.order)
  return (wanted.find((l) => isLanguage(l.base))?.base as Language | undefined) ?? 'en'
}

/** The texts the page's script shows (status lines, labels), in the page's language. */
const SCRIPT_TEXTS: Record<string, MessageKey> = { you: 'chatYou', team: 'chatTeam', sources: 'chatSources', source: 'chatSource', thinking: 'chatThinking', stillWorking: 'chatStillWorking', personWillReply: 'chatPersonWillReply', error: 'chatError', offline: 'chatOffline' }

/** The public chat page: one HTML document, no build step, works without any framework. */
export function renderChatPage(input: { key: string; agentName: string; language?: Language }): string {
  const name = escapeHtml(input.agentName)
  const lang = input.language ?? 'en'
  const text = (key: MessageKey) => escapeHtml(say(lang, key))
  const texts = Object.fromEntries(Object.entries(SCRIPT_TEXTS).map(([k, key]) => [k, say(lang, key)]))
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${name} · Switchboard</title>
<link rel="stylesheet" href="${chatAssets.styles.url}">
<script id="chat-config" type="application/json">${scriptJson({ key: input.key, agentName: input.agentName, messagesUrl: `/api/v1/webchat/${encodeURIComponent(input.key)}/messages`, texts })}</script>
<script src="${chatAssets.script.url}" defer></script>
</head>
<body>
<header><h1>${name}</h1><p>${text('chatIntro')}</p></header>
<main id="log" aria-live="polite" aria-label="${text('chatConversation')}"></main>
<div class="status" id="status" role="status"></div>
<form id="form">
  <label for="text" class="visually-hidden">${text('chatInputLabel')}</label>
  <input id="text" name="text" autocomplete="off" maxlength="4000" placeholder="${text('chatPlaceholder')}" required>
  <button id="send" type="submit">${text('chatSend')}</button>
</form>
</body>
</html>`
}
