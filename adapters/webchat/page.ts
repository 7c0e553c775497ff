import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

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

/** The public chat page: one HTML document, no build step, works without any framework. */
export function renderChatPage(input: { key: string; agentName: string }): string {
  const name = escapeHtml(input.agentName)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${name} · Switchboard</title>
<link rel="stylesheet" href="${chatAssets.styles.url}">
<script id="chat-config" type="application/json">${scriptJson({ key: input.key, agentName: input.agentName, messagesUrl: `/api/v1/webchat/${encodeURIComponent(input.key)}/messages` })}</script>
<script src="${chatAssets.script.url}" defer></script>
</head>
<body>
<header><h1>${name}</h1><p>Answers come from this business's knowledge base, with their sources. Write "talk to a person" to reach the team.</p></header>
<main id="log" aria-live="polite" aria-label="Conversation"></main>
<div class="status" id="status" role="status"></div>
<form id="form">
  <label for="text" class="visually-hidden">Your message</label>
  <input id="text" name="text" autocomplete="off" maxlength="4000" placeholder="Ask a question…" required>
  <button id="send" type="submit">Send</button>
</form>
</body>
</html>`
}
