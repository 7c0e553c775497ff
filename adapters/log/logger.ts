import pino from 'pino'
import type { Logger } from '../../core/ports.ts'

/** Paths that may carry secrets anywhere in a log line; pino replaces them before writing. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-telegram-bot-api-secret-token"]',
  'encryptionKey',
  'secret',
  '*.secret',
]

export function createLogger(input: { level: string; destination?: pino.DestinationStream }): Logger & pino.Logger {
  return pino(
    {
      level: input.level,
      base: { service: 'switchboard' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    input.destination,
  )
}
