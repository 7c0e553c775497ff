import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSecretBox } from '../../core/security/secrets.ts'
import { hashPassword, verifyPassword } from '../../core/security/passwords.ts'
import { createLogger } from '../../adapters/log/logger.ts'
import { logCapture } from '../support/test-app.ts'

const key = () => randomBytes(32).toString('hex')

describe('secrets at rest', () => {
  it('seals with AES-256-GCM and opens again; the envelope does not contain the plaintext', () => {
    const box = createSecretBox(key())
    const token = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw'
    const sealed = box.seal(token)
    expect(sealed).toMatch(/^v1\.[\w-]{8}\./)
    expect(sealed).not.toContain(token)
    expect(box.seal(token)).not.toBe(sealed) // fresh IV each time
    expect(box.open(sealed)).toBe(token)
  })

  it('detects tampering and a wrong key without revealing anything', () => {
    const box = createSecretBox(key())
    const sealed = box.seal('secret value')
    const parts = sealed.split('.')
    parts[4] = Buffer.from('forged').toString('base64url')
    expect(() => box.open(parts.join('.'))).toThrow(/integrity check/)
    expect(() => createSecretBox(key()).open(sealed)).toThrow(/cannot be decrypted/)
  })

  it('reads envelopes sealed under a previous key after rotation', () => {
    const oldKey = key()
    const sealed = createSecretBox(oldKey).seal('rotate me')
    const rotated = createSecretBox(key(), [oldKey])
    expect(rotated.open(sealed)).toBe('rotate me')
    expect(rotated.open(rotated.seal('new')).toString()).toBe('new')
  })
})

describe('passwords', () => {
  it('hashes with scrypt and verifies only the right password', async () => {
    const hash = await hashPassword('hunter2 hunter2')
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(await verifyPassword('hunter2 hunter2', hash)).toBe(true)
    expect(await verifyPassword('hunter3 hunter3', hash)).toBe(false)
  })
})

describe('logs', () => {
  it('redacts secrets by configuration', () => {
    const logs = logCapture()
    const logger = createLogger({ level: 'info', destination: logs.destination })
    logger.info({ password: 'p4ssw0rd', token: 'tok-123', credentials: 'cred-xyz', req: { headers: { authorization: 'Bearer abc.def', cookie: 'sb_session=zzz' } }, inbox: { apiKey: 'sk-live-1' } }, 'event')
    const text = logs.text()
    for (const secret of ['p4ssw0rd', 'tok-123', 'cred-xyz', 'Bearer abc.def', 'sb_session=zzz', 'sk-live-1']) expect(text).not.toContain(secret)
    expect(text).toContain('[redacted]')
  })
})

describe('provider keys after a rotation', () => {
  it('are re-sealed under the current key and still open to the same value', async () => {
    const { createProviderKeyService } = await import('../../core/llm/provider-keys.ts')
    const oldKey = key()
    const rows = new Map<string, { secret: string; keyId: string }>()
    const sealedOld = createSecretBox(oldKey).seal('sk-live-rotate-me-9999')
    rows.set('k1', { secret: sealedOld, keyId: sealedOld.split('.')[1]! })
    const store = {
      providerKeys: {
        list: async () => [...rows.entries()].map(([id, r]) => ({ id, organizationId: 'o', name: id, provider: 'openai', baseUrl: null, keyId: r.keyId, last4: '9999', createdAt: new Date() })),
        getSealed: async (_o: string, id: string) => ({ id, secret: rows.get(id)!.secret }),
        reseal: async (_o: string, id: string, input: { secret: string; keyId: string }) => void rows.set(id, input),
      },
    }
    const current = createSecretBox(key(), [oldKey])
    const service = createProviderKeyService({ store: store as never, secrets: current })
    expect(await service.reseal('o')).toBe(1)
    expect(rows.get('k1')!.keyId).toBe(current.keyId)
    expect(current.open(rows.get('k1')!.secret)).toBe('sk-live-rotate-me-9999')
    expect(await service.reseal('o')).toBe(0)
  })
})
