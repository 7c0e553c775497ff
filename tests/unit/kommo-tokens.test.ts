import { describe, expect, it } from 'vitest'
import { AppError } from '../../core/errors.ts'
import { createOAuthClient, createTokenManager, type KommoTokens, type TokenStore } from '../../adapters/kommo/tokens.ts'

const CLIENT_SECRET = 'integration-secret-0123456789'
const HOUR = 3600_000
const access = (n: number) => `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJhY2Nlc3MtJHtufSJ9.signature-of-access-token-${n}`
const refresh = (n: number) => `def50200${String(n).padStart(4, '0')}${'0123456789abcdef'.repeat(4)}`

/**
 * Kommo's oauth2/access_token as documented: every refresh token works once (the pair it returns
 * replaces it); a spent or unknown one is refused 401 with problem JSON, hint "Token has been revoked".
 */
function fakeKommoOAuth(opts: { failWith?: Error; delayMs?: number } = {}) {
  let issued = 0
  const live = new Set([refresh(0)])
  const bodies: Record<string, string>[] = []
  const urls: string[] = []
  const fetch = (async (url: string | URL | Request, init?: RequestInit) => {
    urls.push(String(url))
    const body = JSON.parse(String(init?.body)) as Record<string, string>
    bodies.push(body)
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs))
    if (opts.failWith) throw opts.failWith
    const json = (status: number, value: unknown) => new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } })
    const presented = body.grant_type === 'refresh_token' ? body.refresh_token! : body.code!
    if (body.grant_type === 'refresh_token' && !live.has(presented)) {
      return json(401, { hint: 'Token has been revoked', title: 'Некорректный запрос', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson', status: 401, detail: 'В запросе отсутствует ряд параметров или параметры невалидны' })
    }
    if (body.grant_type === 'authorization_code' && presented !== 'good-code') {
      return json(400, { hint: 'Authorization code has expired', title: 'Некорректный запрос', type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson', status: 400, detail: 'В запросе отсутствует ряд параметров или параметры невалидны' })
    }
    live.delete(presented)
    issued++
    live.add(refresh(issued))
    return json(200, { token_type: 'Bearer', expires_in: 86400, server_time: 1751621727, access_token: access(issued), refresh_token: refresh(issued) })
  }) as typeof globalThis.fetch
  return { fetch, bodies, urls, refreshes: () => bodies.filter((b) => b.grant_type === 'refresh_token').length }
}

/** The caller's store: tokens in memory, a lock that serializes like a row lock would, and a log of what happened in which order. */
function memoryStore(initial: KommoTokens, opts: { saveDelayMs?: number; failSave?: boolean } = {}) {
  let tokens = initial
  const log: string[] = []
  const brokenReasons: string[] = []
  let tail: Promise<unknown> = Promise.resolve()
  const store: TokenStore = {
    read: async () => ({ ...tokens }),
    async withRefreshLock(fn) {
      const run = tail.then(() => fn({ ...tokens }))
      tail = run.catch(() => undefined)
      return run
    },
    async save(next) {
      if (opts.saveDelayMs) await new Promise((r) => setTimeout(r, opts.saveDelayMs))
      if (opts.failSave) throw new Error('database unavailable')
      tokens = next
      log.push(`saved ${next.accessToken}`)
    },
    async broken(reason) {
      brokenReasons.push(reason)
    },
  }
  return { store, log, brokenReasons, current: () => tokens }
}

function clock(at = Date.UTC(2026, 0, 1)) {
  let t = at
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms), ms: () => t }
}

const oauthFor = (fetch: typeof globalThis.fetch, now?: () => Date) =>
  createOAuthClient({ apiUrlFor: (s) => `https://${s}.kommo.com`, clientId: 'client-uuid', clientSecret: CLIENT_SECRET, redirectUri: 'https://switchboard.example/kommo/oauth/callback', fetch, now })

async function failure(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise
  } catch (e) {
    expect(e).toBeInstanceOf(AppError)
    return e as AppError
  }
  throw new Error('expected a failure')
}

describe('createOAuthClient', () => {
  it('exchanges a code with the documented JSON body and dates the expiry from its own clock', async () => {
    const kommo = fakeKommoOAuth()
    const time = clock()
    const tokens = await oauthFor(kommo.fetch, time.now).exchangeCode('acme', 'good-code')
    expect(kommo.urls).toEqual(['https://acme.kommo.com/oauth2/access_token'])
    expect(kommo.bodies[0]).toEqual({ client_id: 'client-uuid', client_secret: CLIENT_SECRET, grant_type: 'authorization_code', code: 'good-code', redirect_uri: 'https://switchboard.example/kommo/oauth/callback' })
    expect(tokens).toEqual({ accessToken: access(1), refreshToken: refresh(1), expiresAt: new Date(time.ms() + 86400_000) })
  })

  it('answers a refused code with crm_unauthorized 422, saying why and never the code or the secret', async () => {
    const kommo = fakeKommoOAuth()
    const e = await failure(oauthFor(kommo.fetch).exchangeCode('acme', 'stale-code-123456'))
    expect(e).toMatchObject({ code: 'crm_unauthorized', status: 422 })
    expect(e.message).toContain('Authorization code has expired')
    expect(e.message).toMatch(/20 minutes/)
    expect(e.message).not.toContain('stale-code-123456')
    expect(e.message).not.toContain(CLIENT_SECRET)
  })

  it('answers no answer with crm_unreachable and a bad subdomain without calling anyone', async () => {
    const down = fakeKommoOAuth({ failWith: new TypeError('fetch failed') })
    expect(await failure(oauthFor(down.fetch).refresh('acme', refresh(0)))).toMatchObject({ code: 'crm_unreachable', status: 502 })
    const kommo = fakeKommoOAuth()
    expect(await failure(oauthFor(kommo.fetch).exchangeCode('evil.example/x', 'good-code'))).toMatchObject({ code: 'validation_failed' })
    expect(kommo.urls).toHaveLength(0)
  })
})

describe('createTokenManager', () => {
  it('uses the stored token while it is fresh, and refreshes it inside the lock when it is about to expire', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const { store, current } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms() + 2 * HOUR) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    expect(await manager.accessToken()).toBe(access(0))
    expect(kommo.refreshes()).toBe(0)
    time.advance(2 * HOUR - 60_000) // a minute left: within the 5 minute skew
    expect(await manager.accessToken()).toBe(access(1))
    expect(kommo.bodies[0]).toMatchObject({ grant_type: 'refresh_token', refresh_token: refresh(0) })
    expect(current()).toEqual({ accessToken: access(1), refreshToken: refresh(1), expiresAt: new Date(time.ms() + 86400_000) })
  })

  it('rotates single-use refresh tokens: each refresh spends the newest one', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const { store } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms()) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    expect(await manager.accessToken()).toBe(access(1))
    time.advance(25 * HOUR)
    expect(await manager.accessToken()).toBe(access(2))
    time.advance(25 * HOUR)
    expect(await manager.accessToken()).toBe(access(3))
    expect(kommo.bodies.map((b) => b.refresh_token)).toEqual([refresh(0), refresh(1), refresh(2)])
  })

  it('refreshes once for two processes racing through the lock; both get the new token', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth({ delayMs: 20 })
    const { store, log } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms() - 1000) })
    const oauth = oauthFor(kommo.fetch, time.now)
    // Two managers on one store: two processes with the same connection.
    const one = createTokenManager({ subdomain: 'acme', store, oauth, now: time.now })
    const two = createTokenManager({ subdomain: 'acme', store, oauth, now: time.now })
    const got = await Promise.all([one.accessToken(), two.accessToken(), one.accessToken()])
    expect(got).toEqual([access(1), access(1), access(1)])
    expect(kommo.refreshes()).toBe(1)
    expect(log).toEqual([`saved ${access(1)}`])
  })

  it('saves the new pair before handing out the new token, and hands out nothing if it cannot be saved', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const slow = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms()) }, { saveDelayMs: 30 })
    const manager = createTokenManager({ subdomain: 'acme', store: slow.store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    const token = await manager.accessToken()
    slow.log.push(`used ${token}`)
    expect(slow.log).toEqual([`saved ${access(1)}`, `used ${access(1)}`])

    const failing = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms()) }, { failSave: true })
    const again = createTokenManager({ subdomain: 'acme', store: failing.store, oauth: oauthFor(fakeKommoOAuth().fetch, time.now), now: time.now })
    await expect(again.accessToken()).rejects.toThrow('database unavailable')
  })

  it('marks the connection broken when Kommo refuses the refresh token, and throws crm_unauthorized 422 without secrets', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const spent = refresh(99) // never issued (or already used)
    const { store, brokenReasons } = memoryStore({ accessToken: access(0), refreshToken: spent, expiresAt: new Date(time.ms()) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    const e = await failure(manager.accessToken())
    expect(e).toMatchObject({ code: 'crm_unauthorized', status: 422 })
    expect(e.message).toContain('Token has been revoked')
    expect(brokenReasons).toHaveLength(1)
    expect(brokenReasons[0]).toContain('Token has been revoked')
    for (const text of [e.message, brokenReasons[0]!]) {
      expect(text).not.toContain(spent)
      expect(text).not.toContain(access(0))
      expect(text).not.toContain(CLIENT_SECRET)
    }
  })

  it('does not mark the connection broken when Kommo cannot be reached', async () => {
    const time = clock()
    const { store, brokenReasons, current } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms()) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(fakeKommoOAuth({ failWith: new TypeError('fetch failed') }).fetch, time.now), now: time.now })
    expect(await failure(manager.accessToken())).toMatchObject({ code: 'crm_unreachable' })
    expect(brokenReasons).toEqual([])
    expect(current().refreshToken).toBe(refresh(0))
  })

  it('after a 401 refreshes a fresh-looking token, unless the refused one was already replaced', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const { store } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms() + 20 * HOUR) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    // Kommo refused access(0) (revoked early): refresh although it has 20 hours left.
    expect(await manager.accessToken({ force: true, seen: access(0) })).toBe(access(1))
    // A call that was refused with access(0) too, a moment later: access(1) is already there, no second refresh.
    expect(await manager.accessToken({ force: true, seen: access(0) })).toBe(access(1))
    expect(kommo.refreshes()).toBe(1)
  })

  it('never refreshes a long-lived token, and marks the connection broken when Kommo refuses it', async () => {
    const time = clock()
    const kommo = fakeKommoOAuth()
    const { store, brokenReasons } = memoryStore({ accessToken: access(7), expiresAt: new Date(time.ms() - HOUR) })
    const manager = createTokenManager({ subdomain: 'acme', store, oauth: oauthFor(kommo.fetch, time.now), now: time.now })
    expect(await manager.accessToken()).toBe(access(7))
    const e = await failure(manager.accessToken({ force: true, seen: access(7) }))
    expect(e).toMatchObject({ code: 'crm_unauthorized', status: 422 })
    expect(e.message).toMatch(/long-lived token/)
    expect(kommo.urls).toHaveLength(0)
    expect(brokenReasons).toHaveLength(1)
  })

  it('says the server is not configured (and breaks nothing) when a refresh is due without OAuth settings', async () => {
    const time = clock()
    const { store, brokenReasons } = memoryStore({ accessToken: access(0), refreshToken: refresh(0), expiresAt: new Date(time.ms()) })
    const manager = createTokenManager({ subdomain: 'acme', store, now: time.now })
    expect(await failure(manager.accessToken())).toMatchObject({ code: 'crm_not_configured', status: 503 })
    expect(brokenReasons).toEqual([])
  })
})
