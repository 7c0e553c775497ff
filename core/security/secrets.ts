import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { AppError } from '../errors.ts'

/**
 * AES-256-GCM envelopes for secrets at rest: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url).
 * The key id lets old envelopes be read after the key is rotated: pass the previous keys too.
 */
export type SecretBox = {
  keyId: string
  seal(plaintext: string): string
  open(envelope: string): string
}

export function parseKey(raw: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(raw) ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'base64')
  if (key.length !== 32) throw new AppError('invalid_key', 'Encryption key must be 32 bytes', 500)
  return key
}

const keyIdOf = (key: Buffer) => createHash('sha256').update(key).digest('base64url').slice(0, 8)

export function createSecretBox(currentKey: string, previousKeys: string[] = []): SecretBox {
  const current = parseKey(currentKey)
  const keys = new Map<string, Buffer>([[keyIdOf(current), current]])
  for (const k of previousKeys) {
    const key = parseKey(k)
    keys.set(keyIdOf(key), key)
  }
  const keyId = keyIdOf(current)
  return {
    keyId,
    seal(plaintext) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', current, iv)
      const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      const tag = cipher.getAuthTag()
      return ['v1', keyId, iv.toString('base64url'), tag.toString('base64url'), data.toString('base64url')].join('.')
    },
    open(envelope) {
      const [version, id, iv, tag, data] = envelope.split('.')
      const key = id ? keys.get(id) : undefined
      if (version !== 'v1' || !key || !iv || !tag || data === undefined) {
        throw new AppError('secret_unreadable', 'A stored secret cannot be decrypted with the configured keys', 500)
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
        decipher.setAuthTag(Buffer.from(tag, 'base64url'))
        return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8')
      } catch {
        throw new AppError('secret_unreadable', 'A stored secret failed its integrity check', 500)
      }
    },
  }
}
