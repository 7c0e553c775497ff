import { z } from 'zod'
import type { MfaService } from '../../core/security/mfa.ts'
import { csrfTokenOf, type AuthService } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { setRateLimitHeaders } from '../../adapters/http/rate-limit.ts'
import { SESSION_COOKIE, sessionCookieOptions } from './routes.ts'

const code = z.string().trim().regex(/^\d{6}$/, 'six digits from the authenticator app')
const recoveryCode = z.string().trim().min(8).max(40)
const secondFactor = z
  .object({ code: code.optional(), recoveryCode: recoveryCode.optional() })
  .strict()
  .refine((v) => Boolean(v.code) !== Boolean(v.recoveryCode), { message: 'send either code (six digits) or recoveryCode' })

/**
 * Multi-factor sign-in in the HTTP API: the second step of signing in, and the signed-in user's
 * own enrolment (scan a QR code, confirm with a code, keep the recovery codes), turning it off,
 * and the organization's "require MFA for admins".
 */
export function registerMfaRoutes(deps: { api: ReturnType<typeof createApi>; auth: AuthService; mfa: MfaService; secureCookies: boolean }) {
  const { api, auth, mfa } = deps

  api.route({
    method: 'post',
    path: '/api/v1/auth/login/mfa',
    tag: 'auth',
    summary: 'Second step of signing in with MFA: the mfaToken from /auth/login and a code from the authenticator app or a recovery code (each works once); 5 wrong codes a minute get 429',
    auth: 'none',
    body: z.object({ mfaToken: z.string().min(20).max(2000), code: code.optional(), recoveryCode: recoveryCode.optional() }).strict().refine((v) => Boolean(v.code) !== Boolean(v.recoveryCode), { message: 'send either code (six digits) or recoveryCode' }),
    responses: { 200: 'Signed in', 401: 'The code is wrong or used already, or the sign-in expired', 429: 'Too many wrong codes (Retry-After, RateLimit headers)' },
    handler: async ({ body, req, res }) => {
      const session = await auth.completeMfaSignIn({ ...body, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
      res.cookie(SESSION_COOKIE, session.token, { ...sessionCookieOptions(deps.secureCookies), expires: session.expiresAt })
      return {
        token: session.token,
        csrfToken: csrfTokenOf(session.token),
        expiresAt: session.expiresAt,
        organizationId: session.principal.organizationId,
        role: session.principal.role,
        ...(session.principal.mfaEnrollmentRequired ? { mfaEnrollmentRequired: true } : {}),
      }
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/auth/mfa',
    tag: 'auth',
    summary: "The signed-in user's MFA: on or off, recovery codes left, and whether the organization requires it of admins",
    auth: 'session',
    handler: async ({ principal }) => mfa.status(principal),
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/mfa/enrol',
    tag: 'auth',
    summary: 'Start enrolling: a new TOTP secret, its otpauth:// URL and a QR code of it (SVG data URL) for the authenticator app; confirm with /auth/mfa/enrol/confirm',
    auth: 'session',
    responses: { 200: 'The secret to scan', 409: 'MFA is on already' },
    handler: async ({ principal, res }) => {
      const { secret, otpauthUrl } = await mfa.startEnrolment(principal)
      const { default: QRCode } = await import('qrcode') // only enrolment draws a QR code
      const svg = await QRCode.toString(otpauthUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
      res.setHeader('Cache-Control', 'no-store')
      return { secret, otpauthUrl, qrCode: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` }
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/mfa/enrol/confirm',
    tag: 'auth',
    summary: 'Finish enrolling with a code from the app: MFA is on, and the ten recovery codes are returned this once',
    auth: 'session',
    body: z.object({ code }).strict(),
    responses: { 200: 'On; the recovery codes', 422: 'Wrong code', 409: 'Not started, or on already', 429: 'Too many wrong codes' },
    handler: async ({ principal, body, req, res }) => {
      res.setHeader('Cache-Control', 'no-store')
      return mfa.confirmEnrolment(principal, { code: body.code, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/mfa/disable',
    tag: 'auth',
    summary: 'Turn MFA off with a code from the app or a recovery code',
    auth: 'session',
    body: secondFactor,
    responses: { 204: 'Off', 422: 'Wrong code or none', 409: 'MFA is not on', 429: 'Too many wrong codes' },
    handler: async ({ principal, body, req, res }) => {
      await mfa.disable(principal, { ...body, ip: req.ip, onLimits: (statuses) => setRateLimitHeaders(res, statuses) })
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/mfa/recovery-codes',
    tag: 'auth',
    summary: 'Replace the recovery codes (the old ones stop working) with a code from the app; the new ones are returned this once',
    auth: 'session',
    body: z.object({ code }).strict(),
    handler: async ({ principal, body, req, res }) => {
      res.setHeader('Cache-Control', 'no-store')
      return mfa.regenerateRecoveryCodes(principal, { code: body.code, ip: req.ip })
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/organization/mfa',
    tag: 'auth',
    summary: 'Require MFA of the organization\'s owners and admins (admin; turning it on needs MFA on one\'s own account). Admins without it are sent to enrolment and get 403 mfa_enrollment_required elsewhere',
    auth: 'session',
    body: z.object({ requireForAdmins: z.boolean() }).strict(),
    responses: { 200: 'Saved', 403: 'Not an admin', 409: 'Turn on MFA for your own account first' },
    handler: async ({ principal, body }) => mfa.setRequiredForAdmins(principal, body.requireForAdmins),
  })
}
