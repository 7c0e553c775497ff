/* global document, localStorage, crypto, fetch, TextDecoder, setInterval */
// The web chat page's script. The page passes its data in <script id="chat-config" type="application/json">.
(() => {
  const { key, agentName, messagesUrl: base, texts } = JSON.parse(document.getElementById('chat-config').textContent)
  const stored = localStorage.getItem('sb-session-' + key)
  const sessionId = stored || 'web-' + crypto.randomUUID()
  localStorage.setItem('sb-session-' + key, sessionId)
  const log = document.getElementById('log')
  const form = document.getElementById('form')
  const input = document.getElementById('text')
  const button = document.getElementById('send')
  const status = document.getElementById('status')
  const seen = new Set()
  let lastSeq = 0
  let inFlight = false
  const who = { contact: texts.you, agent: agentName, operator: texts.team, system: agentName }

  function render(m) {
    if (m.id && seen.has(m.id)) return
    if (m.id) seen.add(m.id)
    if (m.seq) lastSeq = Math.max(lastSeq, m.seq)
    const div = document.createElement('div')
    div.className = 'msg ' + m.author
    const w = document.createElement('span')
    w.className = 'who'
    w.textContent = who[m.author] || m.author
    div.appendChild(w)
    div.appendChild(document.createTextNode(m.text))
    if (m.sources && m.sources.length) {
      const ul = document.createElement('ul')
      ul.className = 'sources'
      ul.setAttribute('aria-label', texts.sources)
      for (const s of m.sources) {
        const li = document.createElement('li')
        li.textContent = texts.source.replace('{title}', () => s.title)
        li.title = s.snippet
        ul.appendChild(li)
      }
      div.appendChild(ul)
    }
    log.appendChild(div)
    log.scrollTop = log.scrollHeight
  }

  async function poll() {
    try {
      const res = await fetch(base + '?sessionId=' + encodeURIComponent(sessionId) + (lastSeq ? '&after=' + lastSeq : ''))
      if (res.ok) (await res.json()).messages.forEach(render)
    } catch {
      // offline for a moment: the next poll tries again
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const text = input.value.trim()
    if (!text) return
    const messageId = crypto.randomUUID()
    inFlight = true
    render({ author: 'contact', text })
    input.value = ''
    button.disabled = true
    status.textContent = texts.thinking
    try {
      // The answer streams in as server-sent events: 'delta' while it is written, then 'message' and 'done'.
      const res = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' }, body: JSON.stringify({ sessionId, text, messageId }) })
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => ({}))
        status.textContent = body.error ? body.error.message : texts.error
      } else {
        const reader = res.body.getReader()
        const decoder = new TextDecoder()
        let buffer = ''
        let live = null
        let done = null
        for (;;) {
          const { value, done: end } = await reader.read()
          if (end) break
          buffer += decoder.decode(value, { stream: true })
          let cut
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut)
            buffer = buffer.slice(cut + 2)
            const event = (/^event: (.+)$/m.exec(block) || [])[1]
            const data = JSON.parse((/^data: (.+)$/m.exec(block) || [undefined, 'null'])[1])
            if (event === 'accepted') seen.add(data.messageId)
            if (event === 'delta') {
              if (!live) {
                live = document.createElement('div')
                live.className = 'msg agent'
                log.appendChild(live)
                status.textContent = ''
              }
              live.textContent += data.text
              log.scrollTop = log.scrollHeight
            }
            if (event === 'message') {
              if (live) live.remove()
              live = null
              render(data)
            }
            if (event === 'done') done = data
          }
        }
        if (live) live.remove()
        status.textContent = done && done.pending ? texts.stillWorking : done && done.state === 'handoff' ? texts.personWillReply : ''
      }
    } catch {
      status.textContent = texts.offline
    } finally {
      button.disabled = false
      input.focus()
      await poll()
      inFlight = false
    }
  })

  poll()
  setInterval(() => {
    if (!inFlight) poll()
  }, 4000)
})()
