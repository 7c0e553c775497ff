import { createHash, createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAmojoClient } from '../../adapters/kommo/chat-client.ts'
import { hookSignatureValid, rfc2822, signAmojoRequest, stringToSign } from '../../adapters/kommo/chat-signature.ts'
import { startFakeAmojo, type FakeAmojo } from '../support/fake-amojo.ts'
import type { Logger } from '../../core/ports.ts'

const CHANNEL = 'f90ba33d-c9d9-44da-b76c-c349b0ecbe41'
const SECRET = '5a44c5dff55f3c15a4cce8d7c4cc27e207c7e189'
const ACCOUNT = 'af9945ff-1490-4cad-807d-945c15d88bec'

function recordingLogger() {
  const lines: { level: string; obj: unknown; msg?: string }[] = []
  const logger: Logger = {
    debug: (obj, msg) => void lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void lines.push({ level: 'error', obj, msg }),
    child: () => logger,
  }
  return { logger, lines }
}

describe('Kommo chats: signing', () => {
  it('signs METHOD, Content-MD5, Content-Type, Date and path, as the documentation’s PHP example does', () => {
    const body = Buffer.from(JSON.stringify({ account_id: ACCOUNT, title: 'ScopeTitle', hook_api_version: 'v2' }))
    const date = new Date('2020-10-05T15:11:21Z')
    const headers = signAmojoRequest({ secret: SECRET, method: 'post', path: `/v2/origin/custom/${CHANNEL}/connect`, body, date })
    const md5 = createHash('md5').update(body).digest('hex')
    expect(headers['Date']).toBe('Mon, 05 Oct 2020 15:11:21 +0000')
    expect(headers['Content-Type']).toBe('application/json')
    expect(headers['Content-MD5']).toBe(md5)
    // Computed independently, exactly as hash_hmac('sha1', implode("\n", [...]), $secret).
    const expected = createHmac('sha1', SECRET).update(`POST\n${md5}\napplication/json\nMon, 05 Oct 2020 15:11:21 +0000\n/v2/origin/custom/${CHANNEL}/connect`).digest('hex')
    expect(headers['X-Signature']).toBe(expected)
    expect(headers['X-Signature']).toMatch(/^[0-9a-f]{40}$/)
    expect(stringToSign({ method: 'get', contentMd5: 'm', contentType: 't', date: 'd', path: '/p' })).toBe('GET\nm\nt\nd\n/p')
    expect(rfc2822(new Date('2026-01-02T03:04:05Z'))).toBe('Fri, 02 Jan 2026 03:04:05 +0000')
  })

  it('checks a hook’s X-Signature over the raw bytes, in any hex case; anything else is refused', () => {
    const raw = Buffer.from('{"account_id":"x","time":1}')
    const good = createHmac('sha1', SECRET).update(raw).digest('hex')
    expect(hookSignatureValid({ secret: SECRET, rawBody: raw, signature: good })).toBe(true)
    expect(hookSignatureValid({ secret: SECRET, rawBody: raw, signature: good.toUpperCase() })).toBe(true)
    expect(hookSignatureValid({ secret: SECRET, rawBody: Buffer.from('{"account_id":"x", "time":1}'), signature: good })).toBe(false)
    expect(hookSignatureValid({ secret: SECRET, rawBody: raw, signature: undefined })).toBe(false)
    expect(hookSignatureValid({ secret: SECRET, rawBody: raw, signature: good.slice(0, 39) })).toBe(false)
    expect(hookSignatureValid({ secret: undefined, rawBody: raw, signature: good })).toBe(false)
  })
})

describe('Kommo chats: the client against a fake amojo that checks signatures', () => {
  let amojo: FakeAmojo
  beforeAll(async () => {
    amojo = await startFakeAmojo({ channelId: CHANNEL, secret: SECRET })
  })
  afterAll(async () => amojo?.close())

  it('connects, sends a message with non-ASCII text, reports a delivery status, disconnects', async () => {
    const { logger } = recordingLogger()
    const client = createAmojoClient({ baseUrl: amojo.url, channelId: CHANNEL, secret: SECRET, logger })
    const { scopeId } = await client.connect({ accountId: ACCOUNT, title: 'Switchboard' })
    expect(scopeId).toBe(`${CHANNEL}_${ACCOUNT}`)
    const sent = await client.send({
      scopeId,
      payload: { timestamp: 1639604761, msec_timestamp: 1639604761694, msgid: 'sb-1', conversation_id: 'sb-c1', sender: { id: 'sb-u1', name: 'Вася клиент', profile: { phone: '+79151112233' } }, message: { type: 'text', text: 'Привет — “quotes” and emoji 🎉' }, silent: false },
    })
    expect(sent.ref_id).toBe('sb-1')
    expect(amojo.messages(scopeId)[0]!.payload.message.text).toBe('Привет — “quotes” and emoji 🎉')
    await client.deliveryStatus({ scopeId, msgid: 'ext-1', status: -1, errorCode: 905, error: 'Not delivered' })
    expect(amojo.statuses.at(-1)).toMatchObject({ msgid: 'ext-1', body: { status_code: -1, error_code: 905, error: 'Not delivered' } })
    await client.disconnect({ accountId: ACCOUNT })
    expect(amojo.scopes.get(scopeId)!.connected).toBe(false)
  })

  it('a wrong secret gets 403: a logged error naming the method, no secret in it, tried once', async () => {
    const { logger, lines } = recordingLogger()
    const client = createAmojoClient({ baseUrl: amojo.url, channelId: CHANNEL, secret: 'wrong-secret-0000000000000000000000000000', logger })
    const before = amojo.calls.length
    await expect(client.connect({ accountId: ACCOUNT, title: 'x' })).rejects.toMatchObject({ code: 'kommo_chat_refused' })
    expect(amojo.calls.length).toBe(before + 1)
    const error = lines.find((l) => l.level === 'error')!
    expect(error.obj).toMatchObject({ method: 'connect', status: 403 })
    expect(JSON.stringify(lines)).not.toContain('wrong-secret')
    expect(JSON.stringify(lines)).not.toContain(SECRET)
  })

  it('a Date 20 minutes off is refused like a bad signature; an unknown channel is 404', async () => {
    const { logger } = recordingLogger()
    const late = createAmojoClient({ baseUrl: amojo.url, channelId: CHANNEL, secret: SECRET, logger, now: () => new Date(Date.now() - 20 * 60_000) })
    await expect(late.connect({ accountId: ACCOUNT, title: 'x' })).rejects.toMatchObject({ code: 'kommo_chat_refused' })
    const other = createAmojoClient({ baseUrl: amojo.url, channelId: '00000000-0000-0000-0000-000000000000', secret: SECRET, logger })
    await expect(other.connect({ accountId: ACCOUNT, title: 'x' })).rejects.toMatchObject({ code: 'kommo_chat_not_found' })
  })

  it('a 5xx is a provider error (for the job to retry)', async () => {
    const { logger } = recordingLogger()
    const client = createAmojoClient({ baseUrl: amojo.url, channelId: CHANNEL, secret: SECRET, logger })
    amojo.failNext(503)
    await expect(client.connect({ accountId: ACCOUNT, title: 'x' })).rejects.toMatchObject({ code: 'provider_error', status: 502 })
  })
})
