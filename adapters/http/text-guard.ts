import type { NextFunction, Request, Response } from 'express'
import { AppError } from '../../core/errors.ts'
import { firstUnstorable, isStorableText, storableJson } from '../../core/security/storable-text.ts'

/**
 * Text PostgreSQL cannot store (NUL, unpaired surrogates) is dealt with here, before any route:
 * the API refuses it with 400 naming where it is, so the client can fix its request; a webhook
 * gets it cleaned, because its sender cannot change what a customer typed and would deliver a
 * refused update again and again. Webhook signatures stay checkable: req.rawBody is untouched.
 */
export function textGuard() {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (req.path.startsWith('/webhooks/')) {
      if (req.body !== undefined) req.body = storableJson(req.body)
      return next()
    }
    const at = firstUnstorable(req.body, 'body') ?? firstUnstorable(req.query, 'query') ?? (isStorableText(decodedPath(req.path)) ? null : 'the path')
    if (at) return next(new AppError('invalid_text', `${at} contains a NUL character or an unpaired surrogate; remove it and send the request again`, 400))
    next()
  }
}

function decodedPath(path: string): string {
  try {
    return decodeURIComponent(path)
  } catch {
    return path // malformed escapes are the router's to refuse
  }
}
