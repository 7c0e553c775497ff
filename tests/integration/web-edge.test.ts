import { parse } from 'node-html-parser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

/** The CSP header as directive name → its sources. */
const directives = (csp: string | null) => new Map((csp ?? '').split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...sources]) => [name!, sources.join(' ')]))

const HOSTILE_NAMES = ['</script><script>alert(1)</script>', `Bob's "best" <!-- & </script ><img src=x onerror=alert(2)>`, '<\u2028\u2029>\\u003c']

describe('sessions at the edge: one parser decides bearer or cookie', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp()
    org = await createOrg(t, { name: 'Edge' })
  })
  afterAll(async () => t?.close())

  const agentPath = () => `/api/v1/agents/${org.agentId}`
  const agentName = async () => (await api(t, agentPath(), { token: org.token })).json.agent.name

  it('refuses a malformed Authorization header with 401 instead of using the cookie without its CSRF token', async () => {
    const cookie = `sb_session=${org.token}`
    const before = await agentName()
    for (const authorization of ['Bearer a b', 'Bearer', 'Basic dXNlcjpwYXNz', '']) {
      const write = await api(t, agentPath(), { method: 'PATCH', body: { name: 'Renamed by a forged request' }, headers: { cookie, authorization } })
      expect(write.status, authorization).toBe(401)
      expect(write.json.error.code).toBe('unauthorized')
      expect((await api(t, '/api/v1/me', { headers: { cookie, authorization } })).status).toBe(401)
    }
    expect(await agentName()).toBe(before)

    // Each way alone still works: the cookie with its CSRF token, the bearer token without.
    const { csrfToken } = (await api(t, '/api/v1/me', { headers: { cookie } })).json
    expect((await api(t, agentPath(), { method: 'PATCH', body: { name: 'Edge helper' }, headers: { cookie } })).status).toBe(403)
    expect((await api(t, agentPath(), { method: 'PATCH', body: { name: 'Edge helper' }, headers: { cookie, 'x-csrf-token': csrfToken } })).status).toBe(200)
    expect((await api(t, agentPath(), { method: 'PATCH', body: { name: 'Edge assistant' }, token: org.token })).status).toBe(200)
    expect((await api(t, '/api/v1/me', { token: org.token })).json.csrfToken).toBeUndefined()
  })

  it('answers a malformed session cookie with 401, not 500', async () => {
    for (const cookie of ['sb_session=%E0%A4%A', 'sb_session=%', 'sb_session=', 'other=1; sb_session=%zz']) {
      const me = await api(t, '/api/v1/me', { headers: { cookie } })
      expect(me.status, cookie).toBe(401)
      expect(me.json.error.code).toBe('unauthorized')
      expect((await api(t, agentPath(), { method: 'PATCH', body: { name: 'x' }, headers: { cookie } })).status).toBe(401)
    }
    expect(t.logs.text()).not.toContain('URI malformed')
  })

  it('sets the session cookie for /api only, SameSite=Strict, and clears it there (and at the old path) on sign-out', async () => {
    const login = await api(t, '/api/v1/auth/login', { body: { email: org.email, password: org.password } })
    const setCookie = login.headers.get('set-cookie')!
    expect(setCookie).toMatch(/^sb_session=[\w-]{40,};/)
    expect(setCookie).toMatch(/; Path=\/api(;|$)/)
    expect(setCookie).toMatch(/; HttpOnly/)
    expect(setCookie).toMatch(/; SameSite=Strict/)
    const cookie = `sb_session=${/sb_session=([^;]+)/.exec(setCookie)![1]}`
    const out = await api(t, '/api/v1/auth/logout', { method: 'POST', headers: { cookie, 'x-csrf-token': login.json.csrfToken } })
    expect(out.status).toBe(204)
    const cleared = out.headers.getSetCookie()
    expect(cleared.map((c) => /Path=([^;]+)/.exec(c)?.[1]).sort()).toEqual(['/', '/api'])
    for (const c of cleared) expect(c).toMatch(/^sb_session=; .*Expires=Thu, 01 Jan 1970/)
    expect((await api(t, '/api/v1/me', { headers: { cookie } })).status).toBe(401)
  })

  it('refuses cookie requests made from a chat page or another site with 403; bearer clients are unaffected', async () => {
    const cookie = `sb_session=${org.token}`
    const fromChat = { cookie, referer: `${t.url}/chat/${org.webchatKey}` }
    const me = await api(t, '/api/v1/me', { headers: fromChat })
    expect(me.status).toBe(403)
    expect(me.json.error.code).toBe('forbidden')
    expect((await api(t, '/api/v1/agents', { headers: fromChat })).status).toBe(403)
    expect((await api(t, '/api/v1/me', { headers: { cookie, 'sec-fetch-site': 'same-site' } })).status).toBe(403)
    expect((await api(t, '/api/v1/me', { headers: { cookie, 'sec-fetch-site': 'cross-site' } })).status).toBe(403)

    expect((await api(t, '/api/v1/me', { headers: { cookie, referer: `${t.url}/admin/`, 'sec-fetch-site': 'same-origin' } })).status).toBe(200)
    expect((await api(t, '/api/v1/me', { token: org.token, headers: { referer: `${t.url}/chat/${org.webchatKey}` } })).status).toBe(200)
    // The chat page's own API needs no session and keeps working from the page.
    expect((await api(t, `/api/v1/webchat/${org.webchatKey}`, { headers: fromChat })).status).toBe(200)
  })

  it('renders a hostile agent name on the chat page as inert text: no script but the page file and its JSON data', async () => {
    for (const name of HOSTILE_NAMES) {
      expect((await api(t, agentPath(), { method: 'PATCH', body: { name }, token: org.token })).status).toBe(200)
      const page = await api(t, `/chat/${org.webchatKey}`)
      expect(page.status).toBe(200)
      const root = parse(page.text)
      const scripts = root.querySelectorAll('script')
      expect(scripts.map((s) => s.getAttribute('type') ?? s.getAttribute('src'))).toEqual(['application/json', expect.stringMatching(/^\/chat\/assets\/chat\.js\?v=\w+$/)])
      const [data, external] = scripts as [(typeof scripts)[0], (typeof scripts)[0]]
      // The page's own words (in the agent's or the browser's language) travel as data too.
      expect(JSON.parse(data.textContent)).toEqual({ key: org.webchatKey, agentName: name, messagesUrl: `/api/v1/webchat/${org.webchatKey}/messages`, texts: expect.objectContaining({ you: 'You', thinking: 'Thinking…' }) })
      expect(data.rawText).not.toMatch(/</)
      expect(external.rawText).toBe('')
      expect(root.querySelectorAll('img, [onerror], style, [style]')).toEqual([])
      expect(root.querySelector('h1')!.text).toBe(name)
      expect(root.querySelector('title')!.text).toBe(`${name} · Switchboard`)
    }
  })

  it('serves the chat page with a strict CSP and its script and styles as cacheable files', async () => {
    const page = await api(t, `/chat/${org.webchatKey}`)
    const csp = directives(page.headers.get('content-security-policy'))
    expect(Object.fromEntries(csp)).toEqual({
      'default-src': "'none'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'base-uri': "'none'",
      'form-action': "'none'",
      'object-src': "'none'",
      'frame-ancestors': "'self'",
    })
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe')
    expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    expect(page.headers.get('referrer-policy')).toBe('same-origin')
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)

    const root = parse(page.text)
    for (const [url, type, needle] of [
      [root.querySelector('script[src]')!.getAttribute('src')!, /^text\/javascript/, "getElementById('chat-config')"],
      [root.querySelector('link[rel=stylesheet]')!.getAttribute('href')!, /^text\/css/, '.msg.contact'],
    ] as const) {
      const asset = await api(t, url)
      expect(asset.status, url).toBe(200)
      expect(asset.headers.get('content-type')).toMatch(type)
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      expect(asset.text).toContain(needle)
    }
    expect((await api(t, '/chat/assets/missing.js')).status).toBe(404)
    expect((await api(t, '/chat/no-such-chat-key')).status).toBe(404)
  })

  it('sends hardening headers on the API, health checks and admin web, without HSTS outside production', async () => {
    const me = await api(t, '/api/v1/me')
    expect(me.status).toBe(401)
    expect(me.headers.get('content-type')).toMatch(/^application\/json/)
    expect(me.headers.get('x-content-type-options')).toBe('nosniff')
    expect(me.headers.get('cache-control')).toBe('no-store')
    expect(me.headers.get('x-frame-options')).toBe('DENY')
    expect(directives(me.headers.get('content-security-policy')).get('default-src')).toBe("'none'")
    expect(me.headers.get('strict-transport-security')).toBeNull()

    const health = await api(t, '/healthz')
    expect(health.json).toEqual({ status: 'ok' })
    expect(health.headers.get('x-content-type-options')).toBe('nosniff')
    expect(health.headers.get('strict-transport-security')).toBeNull()
    expect((await api(t, '/readyz')).json).toMatchObject({ status: 'ready' })

    const admin = await api(t, '/admin/')
    const adminCsp = directives(admin.headers.get('content-security-policy'))
    expect(adminCsp.get('default-src')).toBe("'self'")
    expect(adminCsp.get('style-src')).toBe("'self' 'unsafe-inline'")
    expect(adminCsp.get('frame-ancestors')).toBe("'none'")
    expect(admin.headers.get('x-frame-options')).toBe('DENY')
    expect(admin.headers.get('referrer-policy')).toBe('no-referrer')
    expect(admin.headers.get('x-content-type-options')).toBe('nosniff')
    expect(admin.headers.get('strict-transport-security')).toBeNull()
  })
})

describe('in production, with sites allowed to frame the chat', () => {
  let t: TestApp
  let org: TestOrg
  beforeAll(async () => {
    t = await startTestApp({ env: { NODE_ENV: 'production', ENCRYPTION_KEY: 'ab'.repeat(32), WEBCHAT_FRAME_ANCESTORS: "'self' https://shop.example.com https://*.example.org:8443" } })
    org = await createOrg(t, { name: 'Framed' })
  })
  afterAll(async () => t?.close())

  it('sends HSTS on every route and a secure cookie', async () => {
    for (const path of ['/api/v1/me', '/healthz', `/chat/${org.webchatKey}`, '/admin/']) {
      expect((await api(t, path)).headers.get('strict-transport-security'), path).toBe('max-age=31536000; includeSubDomains')
    }
    const login = await api(t, '/api/v1/auth/login', { body: { email: org.email, password: org.password } })
    expect(login.headers.get('set-cookie')).toMatch(/; Secure/)
  })

  it('lets the configured sites frame the chat page, through frame-ancestors alone', async () => {
    const page = await api(t, `/chat/${org.webchatKey}`)
    expect(directives(page.headers.get('content-security-policy')).get('frame-ancestors')).toBe("'self' https://shop.example.com https://*.example.org:8443")
    expect(page.headers.get('x-frame-options')).toBeNull()
    // Other routes are still never framed.
    expect((await api(t, '/api/v1/me')).headers.get('x-frame-options')).toBe('DENY')
  })
})
