import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { api, startTestApp } from '../support/test-app.ts'

describe('nothing is lost across a restart with the in-process queue', () => {
  let dir: string
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('a message stored but not yet answered is answered after the restart', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-recovery-'))
    const env = { DATA_DIR: dir, WEBCHAT_REPLY_TIMEOUT_MS: '200' }

    // An HTTP-only process: it stores and enqueues, but nothing consumes before it stops.
    const first = await startTestApp({ env, role: 'server' })
    const signup = await api(first, '/api/v1/auth/signup', { body: { organizationName: 'Restart Inc', name: 'Owner', email: 'owner@restart.example', password: 'a long enough password' } })
    expect(signup.status).toBe(201)
    const created = await api(first, '/api/v1/agents', { token: signup.json.token, body: { name: 'Restart agent' } })
    const key = created.json.webchat.key
    const source = await api(first, '/api/v1/knowledge/sources', { token: signup.json.token, body: { title: 'Hours', content: '# Hours\n\nThe shop opens at 9 am and closes at 6 pm on weekdays.' } })
    expect(source.json.source.status).toBe('queued')
    const sent = await api(first, `/api/v1/webchat/${key}/messages`, { body: { sessionId: 'restart-session-1', text: 'When does the shop open on weekdays?' } })
    expect(sent.status).toBe(202)
    expect(sent.json.pending).toBe(true)
    await first.close()

    const second = await startTestApp({ env, role: 'all' })
    try {
      expect(second.logs.text()).toContain('picked up work left from before the restart')
      let messages: { author: string; text: string }[] = []
      for (let i = 0; i < 200 && messages.length < 2; i++) {
        messages = (await api(second, `/api/v1/webchat/${key}/messages?sessionId=restart-session-1`)).json.messages
        if (messages.length < 2) await new Promise((r) => setTimeout(r, 50))
      }
      expect(messages.map((m) => m.author)).toEqual(['contact', 'agent'])
      // the source queued before the restart is indexed too
      for (let i = 0; i < 200; i++) {
        const sources = (await api(second, '/api/v1/knowledge/sources', { token: (await api(second, '/api/v1/auth/login', { body: { email: 'owner@restart.example', password: 'a long enough password' } })).json.token })).json.sources
        if (sources[0]?.status === 'ready') break
        await new Promise((r) => setTimeout(r, 50))
      }
      // A new question is answered from it (read back: the reply may come after the 200 ms the request waits).
      await api(second, `/api/v1/webchat/${key}/messages`, { body: { sessionId: 'restart-session-2', text: 'When does the shop open on weekdays?' } })
      let answer: { author: string; text: string } | undefined
      for (let i = 0; i < 200 && !answer; i++) {
        const thread: { author: string; text: string }[] = (await api(second, `/api/v1/webchat/${key}/messages?sessionId=restart-session-2`)).json.messages
        answer = thread.find((m) => m.author === 'agent')
        if (!answer) await new Promise((r) => setTimeout(r, 50))
      }
      expect(answer?.text).toContain('9 am')
    } finally {
      await second.close()
    }
  }, 60_000)
})
