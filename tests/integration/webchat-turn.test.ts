import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, TELEGRAM_DOC, BILLING_DOC, type TestApp, type TestOrg } from '../support/test-app.ts'

describe('web chat turn end to end (PGlite, in-process queue)', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp()
    org = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC, BILLING_DOC] })
  })
  afterAll(async () => t?.close())

  const send = (body: Record<string, unknown>, key = org.webchatKey) => api(t, `/api/v1/webchat/${key}/messages`, { body })

  it('answers a question with text quoted from the knowledge base and its source', async () => {
    const res = await send({ sessionId: 'session-quote-1', text: 'How do I connect a Telegram bot?' })
    expect(res.status).toBe(200)
    expect(res.json.conversationId).toEqual(expect.any(String))
    expect(res.json.messages).toHaveLength(1)
    const [reply] = res.json.messages
    expect(reply.text).toContain('@BotFather')
    expect(reply.text).toContain('Connecting a Telegram bot')
    expect(reply.sources[0]).toEqual({ title: 'Channels › Connecting a Telegram bot', snippet: expect.stringContaining('BotFather') })
  })

  it('says plainly when the knowledge base has nothing relevant', async () => {
    const res = await send({ sessionId: 'session-unknown-1', text: 'What is the boiling point of mercury?' })
    expect(res.status).toBe(200)
    expect(res.json.messages[0].text).toMatch(/could not find anything about that/)
    expect(res.json.messages[0].sources).toEqual([])
  })

  it('keeps the conversation: a second question in the same session lands in the same conversation, in order', async () => {
    const first = await send({ sessionId: 'session-history-1', text: 'How many responses does the Basic plan include?' })
    const second = await send({ sessionId: 'session-history-1', text: 'How do I connect a Telegram bot?' })
    expect(second.json.conversationId).toBe(first.json.conversationId)
    expect(first.json.messages[0].text).toContain('5,000 responses')
    const history = await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=session-history-1`)
    expect(history.json.messages.map((m: { author: string }) => m.author)).toEqual(['contact', 'agent', 'contact', 'agent'])
  })

  it('a redelivered message (same messageId) gets the same single reply', async () => {
    const body = { sessionId: 'session-dedupe-1', text: 'How do I connect a Telegram bot?', messageId: 'client-msg-1' }
    const [a, b] = await Promise.all([send(body), send(body)])
    const c = await send(body)
    expect(a.json.messages[0].id).toBe(b.json.messages[0].id)
    expect(c.json.messages[0].id).toBe(a.json.messages[0].id)
    const history = await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=session-dedupe-1`)
    expect(history.json.messages).toHaveLength(2)
  })

  it('a retry without messageId (same text within the dedupe window) is not answered twice', async () => {
    const body = { sessionId: 'session-dedupe-2', text: 'What does the Pro plan include?' }
    const a = await send(body)
    const b = await send(body)
    expect(b.json.messages[0].id).toBe(a.json.messages[0].id)
    const history = await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=session-dedupe-2`)
    expect(history.json.messages).toHaveLength(2)
  })

  it('turns of one conversation run in order even when sent at once', async () => {
    const expected: Record<string, string> = {
      'How do I connect a Telegram bot?': '@BotFather',
      'What does the Pro plan include?': '15,000',
      'Where is the web chat page?': '/chat/{key}',
      'How many responses does the Basic plan include?': '5,000',
    }
    const texts = Object.keys(expected)
    await Promise.all(texts.map((text, i) => send({ sessionId: 'session-order-1', text, messageId: `order-${i}` })))
    const history = await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=session-order-1`)
    const messages = history.json.messages as { author: string; text: string }[]
    const questions = messages.filter((m) => m.author === 'contact')
    const answers = messages.filter((m) => m.author === 'agent')
    expect(questions).toHaveLength(4)
    expect(answers).toHaveLength(4)
    // the k-th answer stored answers the k-th question received: one at a time, in order
    questions.forEach((q, k) => expect(answers[k]!.text).toContain(expected[q.text]))
  })

  it('a customer who asks for a person gets a handoff; the bot stays silent until an operator releases it', async () => {
    const sessionId = 'session-handoff-1'
    const ask = await send({ sessionId, text: 'I want to talk to a person please' })
    expect(ask.json.messages[0].text).toMatch(/asked a person from our team/)
    expect(ask.json.state).toBe('handoff')
    const conversationId = ask.json.conversationId

    const handoffs = await api(t, '/api/v1/handoffs?status=open', { token: org.token })
    expect(handoffs.json.handoffs.map((h: { conversationId: string }) => h.conversationId)).toContain(conversationId)

    const silent = await send({ sessionId, text: 'Hello? How do I connect a Telegram bot?' })
    expect(silent.status).toBe(200)
    expect(silent.json.messages).toEqual([])

    const reply = await api(t, `/api/v1/conversations/${conversationId}/reply`, { token: org.token, body: { text: 'Hi, this is Maria. How can I help?' } })
    expect(reply.status).toBe(201)
    const history = await api(t, `/api/v1/webchat/${org.webchatKey}/messages?sessionId=${sessionId}`)
    expect(history.json.messages.at(-1)).toMatchObject({ author: 'operator', text: 'Hi, this is Maria. How can I help?' })

    expect((await api(t, `/api/v1/conversations/${conversationId}/release`, { token: org.token, body: {} })).status).toBe(200)
    const back = await send({ sessionId, text: 'How do I connect a Telegram bot?' })
    expect(back.json.messages[0].author).toBe('agent')
    expect(back.json.messages[0].text).toContain('@BotFather')
  })

  it('records one used response per answered message', async () => {
    const before = (await api(t, '/api/v1/usage', { token: org.token })).json.responses
    await send({ sessionId: 'session-usage-1', text: 'What does the Pro plan include?' })
    const after = (await api(t, '/api/v1/usage', { token: org.token })).json.responses
    expect(after).toBe(before + 1)
  })

  it('serves the chat page for a web chat key', async () => {
    const res = await fetch(`${t.url}/chat/${org.webchatKey}`)
    expect(res.status).toBe(200)
    const html = await res.text()
    expect(html).toContain('Acme assistant')
    expect(html).toContain(`/api/v1/webchat/`)
  })
})
