import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { validMetaSignature, verifyChallenge } from '../../adapters/meta/signature.ts'

const secret = 'app-secret-123'
const body = Buffer.from('{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}')
const sign = (raw: Buffer, key = secret) => `sha256=${createHmac('sha256', key).update(raw).digest('hex')}`

describe('validMetaSignature', () => {
  it('accepts a published HMAC-SHA256 test vector', () => {
    // HMAC_SHA256("key", "The quick brown fox jumps over the lazy dog"), the example on Wikipedia's HMAC page.
    const header = 'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8'
    expect(validMetaSignature(Buffer.from('The quick brown fox jumps over the lazy dog'), header, 'key')).toBe(true)
  })

  it('accepts the signature of the raw body, in upper-case hex and from an array header', () => {
    expect(validMetaSignature(body, sign(body), secret)).toBe(true)
    expect(validMetaSignature(body, `sha256=${sign(body).slice(7).toUpperCase()}`, secret)).toBe(true)
    expect(validMetaSignature(body, [sign(body)], secret)).toBe(true)
  })

  it('refuses another secret and a tampered body', () => {
    expect(validMetaSignature(body, sign(body, 'other-secret'), secret)).toBe(false)
    const tampered = Buffer.from(body.toString().replace('"1"', '"2"'))
    expect(validMetaSignature(tampered, sign(body), secret)).toBe(false)
    // The same JSON serialised again with other spacing is other bytes.
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 1))
    expect(validMetaSignature(reserialised, sign(body), secret)).toBe(false)
  })

  it('refuses missing and malformed headers, and an empty secret', () => {
    const hex = sign(body).slice(7)
    for (const header of [undefined, '', [], hex, `sha1=${hex}`, `sha256=${hex.slice(2)}`, `sha256=${hex}00`, `sha256=${'z'.repeat(64)}`, 'sha256=']) {
      expect(validMetaSignature(body, header as string | string[] | undefined, secret)).toBe(false)
    }
    expect(validMetaSignature(body, sign(body, ''), '')).toBe(false)
  })
})

describe('verifyChallenge', () => {
  const query = (token: unknown, mode: unknown = 'subscribe', challenge: unknown = '1158201444') => ({ 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': challenge })

  it('answers the challenge when the mode is subscribe and the token matches', () => {
    expect(verifyChallenge(query('my-verify-token'), 'my-verify-token')).toBe('1158201444')
  })

  it('refuses a wrong token, another mode, no challenge and an unset verify token', () => {
    expect(verifyChallenge(query('wrong'), 'my-verify-token')).toBeNull()
    expect(verifyChallenge(query('my-verify-token-longer'), 'my-verify-token')).toBeNull()
    expect(verifyChallenge(query('my-verify-token', 'unsubscribe'), 'my-verify-token')).toBeNull()
    expect(verifyChallenge(query('my-verify-token', 'subscribe', ''), 'my-verify-token')).toBeNull()
    expect(verifyChallenge(query(undefined), 'my-verify-token')).toBeNull()
    expect(verifyChallenge(query(''), '')).toBeNull()
    expect(verifyChallenge({}, 'my-verify-token')).toBeNull()
  })

  it('takes the first value of repeated parameters', () => {
    expect(verifyChallenge(query(['my-verify-token', 'x'], ['subscribe'], ['42', '43']), 'my-verify-token')).toBe('42')
    expect(verifyChallenge(query(['x', 'my-verify-token']), 'my-verify-token')).toBeNull()
  })

  it('reads dotted keys a query parser nested', () => {
    expect(verifyChallenge({ hub: { mode: 'subscribe', verify_token: 't', challenge: 'c' } }, 't')).toBe('c')
  })

  it('ignores values that are not strings', () => {
    expect(verifyChallenge(query({ toString: () => 'my-verify-token' }), 'my-verify-token')).toBeNull()
  })
})
