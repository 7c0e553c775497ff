import { randomBytes, randomUUID } from 'node:crypto'

export const newId = (): string => randomUUID()

/** URL-safe random token, e.g. for web chat keys and session tokens. */
export const newToken = (bytes = 24): string => randomBytes(bytes).toString('base64url')
