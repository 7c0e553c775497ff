import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../adapters/log/logger.ts'
import { createRedisNotifier } from '../../adapters/queue/redis-notifier.ts'
import { createLiveEvents } from '../../core/conversation/live-events.ts'
import { api, createOrg, startTestApp, TELEGRAM_DOC, waitFor, type TestApp, type TestOrg } from '../support/test-app.ts'
import { openSse } from '../support/sse.ts'
import { redisForTests, uniquePrefix } from '../support/redis.ts'

const bearer = (o: TestOrg) => ({ authorization: `Bearer ${o.token}` })
const ask = (t: TestApp, o: TestOrg, sessionId: string, text: string) => api(t, `/api/v1/webchat/${o.webchatKey}/messages`, { body: { sessionId, text } })

describe('live events: GET /api/v1/events', () => {
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { LIVE_HEARTBEAT_MS: '50', LIVE_STREAMS_PER_SESSION: '2', LIVE_STREAMS_PER_ORGANIZATION: '3' } })
    a = await createOrg(t, { name: 'Acme', docs: [TELEGRAM_DOC] })
    b = await createOrg(t, { name: 'Bolt', docs: [TELEGRAM_DOC] })
  })
  afterAll(async () => t?.close())

  it('needs a session, and answers as an event stream under the usual security headers', async () => {
    expect((await api(t, '/api/v1/events')).status).toBe(401)
    const stream = await openSse(`${t.url}/api/v1/events`, bearer(a))
    try {
      expect(stream.res.status).toBe(200)
      expect(stream.res.headers.get('content-type')).toMatch(/^text\/event-stream/)
      expect(stream.res.headers.get('cache-control')).toMatch(/no-store/)
      expect(stream.res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(stream.res.headers.get('content-encoding')).toBeNull()
      const ready = await stream.next('ready')
      expect(ready.data).toEqual({ resync: false })
      // Heartbeats: comment lines while nothing happens.
      await stream.until(() => stream.comments() >= 2)
    } finally {
      stream.close()
    }
  })

  it("delivers an organization's conversations, messages and handoffs to its own streams only", async () => {
    const sa = await openSse(`${t.url}/api/v1/events`, bearer(a))
    const sb = await openSse(`${t.url}/api/v1/events`, bearer(b))
    try {
      await Promise.all([sa.next('ready'), sb.next('ready')])
      const first = await ask(t, a, 'live-a-1', 'How do I connect a Telegram bot?')
      expect(first.status).toBe(200)
      const conversationA = first.json.conversationId as string
      const created = await sa.next('conversation.created', (d) => d.conversationId === conversationA)
      expect(created.data).toMatchObject({ agentId: a.agentId })
      expect(created.id).toBeTruthy()
      await sa.next('message.created', (d) => d.conversationId === conversationA && d.author === 'contact')
      await sa.next('message.created', (d) => d.conversationId === conversationA && d.author === 'agent')

      const handoff = await ask(t, a, 'live-a-1', 'I want to talk to a person')
      expect(handoff.json.state).toBe('handoff')
      const opened = await sa.next('handoff.opened', (d) => d.conversationId === conversationA)
      expect(opened.data.reason).toBe('customer_request')
      expect((await api(t, `/api/v1/conversations/${conversationA}/take`, { method: 'POST', token: a.token })).status).toBe(200)
      const me = (await api(t, '/api/v1/me', { token: a.token })).json
      expect((await sa.next('handoff.taken', (d) => d.conversationId === conversationA)).data.operatorUserId).toBe(me.userId)
      expect((await api(t, `/api/v1/conversations/${conversationA}/reply`, { body: { text: 'Hello, Ann here' }, token: a.token })).status).toBe(201)
      await sa.next('message.created', (d) => d.conversationId === conversationA && d.author === 'operator')
      expect((await api(t, `/api/v1/conversations/${conversationA}/release`, { method: 'POST', token: a.token })).status).toBe(200)
      expect((await sa.next('handoff.released', (d) => d.conversationId === conversationA)).data.why).toBe('released')

      // B's own event arrives after all of A's were published: had any of A's been sent to B, it would be there by now.
      const other = await ask(t, b, 'live-b-1', 'How do I connect a Telegram bot?')
      await sb.next('message.created', (d) => d.conversationId === other.json.conversationId && d.author === 'agent')
      const seenByB = JSON.stringify(sb.events)
      expect(seenByB).not.toContain(conversationA)
      expect(sb.events.some((e) => e.event.startsWith('handoff.'))).toBe(false)
      expect(JSON.stringify(sa.events)).not.toContain(other.json.conversationId)
      // Events name what changed; the text is read through the API.
      expect(JSON.stringify(sa.events)).not.toContain('Telegram bot')
    } finally {
      sa.close()
      sb.close()
    }
  })

  it('reports indexing progress of knowledge sources', async () => {
    const stream = await openSse(`${t.url}/api/v1/events`, bearer(a))
    try {
      await stream.next('ready')
      const added = await api(t, '/api/v1/knowledge/sources', { body: { title: 'Returns', content: '# Returns\n\nYou can return any item within 30 days.' }, token: a.token })
      expect(added.status).toBe(202)
      const sourceId = added.json.source.id as string
      const ready = await stream.next('source.progress', (d) => d.sourceId === sourceId && d.status === 'ready')
      expect(ready.data.progress).toBe(100)
      const figures = stream.events.filter((e) => e.event === 'source.progress' && e.data.sourceId === sourceId && typeof e.data.progress === 'number').map((e) => e.data.progress as number)
      expect(figures.length).toBeGreaterThan(1)
      expect([...figures].sort((x, y) => x - y)).toEqual(figures)
    } finally {
      stream.close()
    }
  })

  it('tells a reconnecting browser to reload what it shows (Last-Event-ID)', async () => {
    const stream = await openSse(`${t.url}/api/v1/events`, { ...bearer(a), 'last-event-id': 'mq0x-0001-abcdef' })
    try {
      expect((await stream.next('ready')).data).toEqual({ resync: true })
    } finally {
      stream.close()
    }
  })

  it('accepts the session cookie, like the rest of the admin API', async () => {
    const login = await api(t, '/api/v1/auth/login', { body: { email: a.email, password: a.password }, headers: { 'x-forwarded-for': '10.9.0.1' } })
    const cookie = `sb_session=${/sb_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]}`
    const stream = await openSse(`${t.url}/api/v1/events`, { cookie })
    try {
      expect(stream.res.status).toBe(200)
      await stream.next('ready')
    } finally {
      stream.close()
    }
  })

  it('caps streams per session (the oldest is replaced) and per organization (429), and forgets closed ones', async () => {
    await waitFor(async () => t.app.liveStreams.count(a.organizationId) === 0)
    const s1 = await openSse(`${t.url}/api/v1/events`, bearer(a))
    await s1.next('ready')
    const s2 = await openSse(`${t.url}/api/v1/events`, bearer(a))
    await s2.next('ready')
    // A third stream of the same session (LIVE_STREAMS_PER_SESSION=2) closes the oldest.
    const s3 = await openSse(`${t.url}/api/v1/events`, bearer(a))
    await s3.next('ready')
    await s1.next('replaced')
    await s1.until(() => s1.ended())
    expect(s2.ended()).toBe(false)
    await waitFor(async () => t.app.liveStreams.count(a.organizationId) === 2)

    // Another session of the organization: the organization's cap is 3.
    const login = await api(t, '/api/v1/auth/login', { body: { email: a.email, password: a.password }, headers: { 'x-forwarded-for': '10.9.0.2' } })
    const other = { authorization: `Bearer ${login.json.token}` }
    const s4 = await openSse(`${t.url}/api/v1/events`, other)
    await s4.next('ready')
    const refused = await openSse(`${t.url}/api/v1/events`, other)
    expect(refused.res.status).toBe(429)
    expect(((await refused.res.json()) as { error: { code: string } }).error.code).toBe('too_many_streams')
    expect(refused.res.headers.get('retry-after')).toBe('30')

    // A closed connection is forgotten: room for a new one.
    s4.close()
    await waitFor(async () => t.app.liveStreams.count(a.organizationId) === 2)
    const s5 = await openSse(`${t.url}/api/v1/events`, other)
    expect(s5.res.status).toBe(200)
    await s5.next('ready')
    for (const s of [s2, s3, s5]) s.close()
    await waitFor(async () => t.app.liveStreams.count(a.organizationId) === 0)
  })
})

describe('live events across processes (Redis pub/sub)', async () => {
  const redisUrl = await redisForTests()
  let t: TestApp
  let a: TestOrg
  let b: TestOrg
  beforeAll(async () => {
    if (!redisUrl) return
    t = await startTestApp({ env: { REDIS_URL: redisUrl, REDIS_PREFIX: uniquePrefix('live') } })
    a = await createOrg(t, { name: 'Acme' })
    b = await createOrg(t, { name: 'Bolt' })
  })
  afterAll(async () => t?.close())

  it.skipIf(!redisUrl)("a stream hears events another process publishes, and only its organization's", async () => {
    // Another process (a worker) publishing through its own Redis connection.
    const logger = createLogger({ level: 'silent' })
    const notifier = createRedisNotifier({ redisUrl: redisUrl!, prefix: t.app.config.REDIS_PREFIX, logger })
    const worker = createLiveEvents({ notifier, logger })
    const sa = await openSse(`${t.url}/api/v1/events`, bearer(a))
    const sb = await openSse(`${t.url}/api/v1/events`, bearer(b))
    try {
      await Promise.all([sa.next('ready'), sb.next('ready')])
      await worker.publish(a.organizationId, { type: 'handoff.opened', conversationId: 'conversation-of-a', handoffId: 'h-a', reason: 'customer_request' })
      await worker.publish(b.organizationId, { type: 'handoff.opened', conversationId: 'conversation-of-b', handoffId: 'h-b', reason: 'customer_request' })
      await sa.next('handoff.opened', (d) => d.conversationId === 'conversation-of-a')
      await sb.next('handoff.opened', (d) => d.conversationId === 'conversation-of-b')
      expect(JSON.stringify(sb.events)).not.toContain('conversation-of-a')
      expect(JSON.stringify(sa.events)).not.toContain('conversation-of-b')
    } finally {
      sa.close()
      sb.close()
      await notifier.close()
    }
  })
})
