const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** The public chat page: one HTML document, no build step, works without any framework. */
export function renderChatPage(input: { key: string; agentName: string }): string {
  const name = escapeHtml(input.agentName)
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${name} · Switchboard</title>
<style>
  :root { color-scheme: light; --fg: #1b1f24; --muted: #57606a; --accent: #0b57d0; --bg: #f6f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); display: flex; flex-direction: column; height: 100vh; }
  header { padding: 12px 16px; background: #fff; border-bottom: 1px solid #d0d7de; }
  header h1 { font-size: 18px; margin: 0; }
  header p { margin: 0; color: var(--muted); font-size: 14px; }
  main { flex: 1; overflow-y: auto; padding: 16px; }
  .msg { max-width: 720px; margin: 0 0 12px; padding: 10px 14px; border-radius: 12px; background: #fff; border: 1px solid #d0d7de; white-space: pre-wrap; }
  .msg.contact { margin-left: auto; background: #ddf4ff; border-color: #54aeff; }
  .msg.operator { border-color: #1a7f37; }
  .msg .who { font-size: 12px; color: var(--muted); display: block; }
  .sources { margin-top: 8px; font-size: 14px; color: var(--muted); }
  .sources li { margin: 2px 0; }
  form { display: flex; gap: 8px; padding: 12px 16px; background: #fff; border-top: 1px solid #d0d7de; }
  input { flex: 1; font: inherit; padding: 10px; border: 1px solid #8c959f; border-radius: 8px; }
  button { font: inherit; padding: 10px 18px; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
  button:disabled { opacity: .6; }
  :focus-visible { outline: 3px solid #fb8f44; outline-offset: 2px; }
  .status { color: var(--muted); font-size: 14px; min-height: 1.5em; padding: 0 16px; }
</style>
</head>
<body>
<header><h1>${name}</h1><p>Answers come from this business's knowledge base, with their sources. Write "talk to a person" to reach the team.</p></header>
<main id="log" aria-live="polite" aria-label="Conversation"></main>
<div class="status" id="status" role="status"></div>
<form id="form">
  <label for="text" style="position:absolute;left:-9999px">Your message</label>
  <input id="text" name="text" autocomplete="off" maxlength="4000" placeholder="Ask a question…" required>
  <button id="send" type="submit">Send</button>
</form>
<script>
(() => {
  const key = ${JSON.stringify(input.key)};
  const base = '/api/v1/webchat/' + encodeURIComponent(key) + '/messages';
  const stored = localStorage.getItem('sb-session-' + key);
  const sessionId = stored || ('web-' + crypto.randomUUID());
  localStorage.setItem('sb-session-' + key, sessionId);
  const log = document.getElementById('log'), form = document.getElementById('form'), input = document.getElementById('text');
  const button = document.getElementById('send'), status = document.getElementById('status');
  const seen = new Set();
  let lastSeq = 0;
  let inFlight = false;
  const who = { contact: 'You', agent: ${JSON.stringify(input.agentName)}, operator: 'Team', system: 'Switchboard' };
  function render(m) {
    if (m.id && seen.has(m.id)) return;
    if (m.id) seen.add(m.id);
    if (m.seq) lastSeq = Math.max(lastSeq, m.seq);
    const div = document.createElement('div');
    div.className = 'msg ' + m.author;
    const w = document.createElement('span'); w.className = 'who'; w.textContent = who[m.author] || m.author; div.appendChild(w);
    div.appendChild(document.createTextNode(m.text));
    if (m.sources && m.sources.length) {
      const ul = document.createElement('ul'); ul.className = 'sources'; ul.setAttribute('aria-label', 'Sources');
      for (const s of m.sources) { const li = document.createElement('li'); li.textContent = 'Source: ' + s.title; li.title = s.snippet; ul.appendChild(li); }
      div.appendChild(ul);
    }
    log.appendChild(div); log.scrollTop = log.scrollHeight;
  }
  async function poll() {
    try {
      const res = await fetch(base + '?sessionId=' + encodeURIComponent(sessionId) + (lastSeq ? '&after=' + lastSeq : ''));
      if (res.ok) (await res.json()).messages.forEach(render);
    } catch {}
  }
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value.trim(); if (!text) return;
    const messageId = crypto.randomUUID();
    inFlight = true; render({ author: 'contact', text }); input.value = ''; button.disabled = true; status.textContent = 'Thinking…';
    try {
      // The answer streams in as server-sent events: 'delta' while it is written, then 'message' and 'done'.
      const res = await fetch(base, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Accept': 'text/event-stream' }, body: JSON.stringify({ sessionId, text, messageId }) });
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => ({}));
        status.textContent = body.error ? body.error.message : 'Something went wrong';
      } else {
        const reader = res.body.getReader(); const decoder = new TextDecoder();
        let buffer = '', live = null, done = null;
        for (;;) {
          const { value, done: end } = await reader.read(); if (end) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf('\\n\\n')) >= 0) {
            const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
            const event = (/^event: (.+)$/m.exec(block) || [])[1], data = JSON.parse((/^data: (.+)$/m.exec(block) || [, 'null'])[1]);
            if (event === 'accepted') seen.add(data.messageId);
            if (event === 'delta') {
              if (!live) { live = document.createElement('div'); live.className = 'msg agent'; log.appendChild(live); status.textContent = ''; }
              live.textContent += data.text; log.scrollTop = log.scrollHeight;
            }
            if (event === 'message') { if (live) live.remove(); live = null; render(data); }
            if (event === 'done') done = data;
          }
        }
        if (live) live.remove();
        status.textContent = done && done.pending ? 'Still working on it; the answer will appear here.' : done && done.state === 'handoff' ? 'A person from the team will reply here.' : '';
      }
    } catch { status.textContent = 'Cannot reach the server; check your connection and try again.'; }
    finally { button.disabled = false; input.focus(); await poll(); inFlight = false; }
  });
  poll();
  setInterval(() => { if (!inFlight) poll(); }, 4000);
})();
</script>
</body>
</html>`
}
