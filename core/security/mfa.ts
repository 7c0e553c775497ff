import { createHash, randomInt } from 'node:crypto'
import type * as Otplib from 'otplib'
import { AppError, forbidden } from '../errors.ts'
import type { RateLimiter, Role, Store } from '../ports.ts'
import { reserve, type RateLimitStatus, type RatePolicy } from './rate-limits.ts'
import type { SecretBox } from './secrets.ts'

/**
 * Multi-factor sign-in with TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, the authenticator
 * apps' defaults) through otplib, and ten one-time recovery codes.
 * - The secret is sealed with the SecretBox; it is shown once, while enrolling.
 * - A code is accepted one step either side of now (clock drift); the step of the last accepted
 *   code is stored and no code of that step or an earlier one is accepted again (no replay). The
 *   comparison is otplib's constant-time one.
 * - Recovery codes are stored as SHA-256 (salted with the user id) and each works once.
 * - Code attempts are counted per user (MFA_ATTEMPT_LIMIT a minute) and per IP address; a right
 *   code gives its attempt back.
 * - An organization can require MFA of its owners and admins: until they enrol, the API answers
 *   them 403 `mfa_enrollment_required` everywhere but the enrolment routes (see mfaGate).
 */

export const MFA_ATTEMPT_LIMIT = 5
const MFA_WINDOW_MS = 60_000
const CHALLENGE_TTL_MS = 5 * 60_000
export const RECOVERY_CODE_COUNT = 10
const TOLERANCE_SECONDS = 30
const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'

/** otplib loads with the first MFA call: most processes never enrol or check a code. */
let otplib: Promise<typeof Otplib> | undefined
const totp = () => (otplib ??= import('otplib'))

export type MfaUser = { id: string; email: string; secret: string | null; pendingSecret: string | null; enabledAt: Date | null; lastTimeStep: number | null }

/** What MFA needs from the database (adapters/db/mfa-store.ts). Users are global; the organization setting is per organization. */
export type MfaStore = {
  get(userId: string): Promise<MfaUser | null>
  setPending(userId: string, sealed: string | null): Promise<void>
  /** Turns MFA on with that secret, at that step, with these recovery codes (the old ones deleted); false when the pending secret changed meanwhile. */
  enable(input: { userId: string; pendingSecret: string; timeStep: number; codeHashes: string[]; at: Date }): Promise<boolean>
  /** Stores the step when it is later than the stored one, atomically; false = that step or a later one was used already. */
  advanceTimeStep(userId: string, timeStep: number): Promise<boolean>
  /** Marks an unused recovery code used, atomically; false = no such unused code. */
  useRecoveryCode(userId: string, codeHash: string, at: Date): Promise<boolean>
  recoveryCodesLeft(userId: string): Promise<number>
  replaceRecoveryCodes(userId: string, codeHashes: string[]): Promise<void>
  /** Removes the secret, the pending secret and the recovery codes. */
  disable(userId: string): Promise<void>
  /** Organization.settings.requireMfaForAdmins. */
  organizationRequires(organizationId: string): Promise<boolean>
  setOrganizationRequires(organizationId: string, value: boolean): Promise<void>
}

export type MfaPrincipal = { userId: string; organizationId: string; role: Role }
export type SecondFactor = { code?: string; recoveryCode?: string }

const isAdmin = (role: Role) => role === 'owner' || role === 'admin'
const tooMany = () => new AppError('too_many_attempts', 'Too many wrong codes; wait a minute and try again', 429)
/** 401 while signing in; 422 for a signed-in person (whose session is fine: a 401 would mean "sign in again"). */
const wrongCode = (status: 401 | 422) => new AppError('invalid_code', 'The code is wrong, expired or used already', status)
const normalizeRecovery = (code: string) => code.toLowerCase().replace(/[^a-z0-9]/g, '')
export const recoveryCodeHash = (userId: string, code: string) => createHash('sha256').update(`mfa-recovery:${userId}:${normalizeRecovery(code)}`).digest('hex')

function newRecoveryCodes(): string[] {
  const codes = new Set<string>()
  while (codes.size < RECOVERY_CODE_COUNT) {
    let raw = ''
    for (let i = 0; i < 12; i++) raw += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]
    codes.add(`${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`)
  }
  return [...codes]
}

/** The paths an admin who must enrol may still call: who am I, enrolment, sign-out. */
const ENROLMENT_PATHS = [/^\/api\/v1\/me$/, /^\/api\/v1\/auth\/mfa(\/.*)?$/, /^\/api\/v1\/auth\/logout$/]

/** 403 `mfa_enrollment_required` for an admin of an organization that requires MFA, outside the enrolment routes. */
export function mfaGate(principal: { mfaEnrollmentRequired?: boolean } | null, path: string): void {
  if (!principal?.mfaEnrollmentRequired) return
  if (ENROLMENT_PATHS.some((p) => p.test(path))) return
  throw new AppError('mfa_enrollment_required', 'Your organization requires multi-factor sign-in for admins: turn it on under Security (POST /api/v1/auth/mfa/enrol) first', 403)
}

export function createMfaService(deps: {
  store: MfaStore
  secrets: SecretBox
  limiter?: RateLimiter
  audit?: Pick<Store['audit'], 'record'>
  clock?: { now(): Date }
  /** The name authenticator apps show. */
  issuer?: string
}) {
  const { store, secrets } = deps
  const now = () => deps.clock?.now() ?? new Date()
  const issuer = deps.issuer ?? 'Switchboard'

  async function userOf(userId: string): Promise<MfaUser> {
    const user = await store.get(userId)
    if (!user) throw new AppError('not_found', 'User not found', 404)
    return user
  }

  /** The step of a valid TOTP code for that sealed secret not used before, else null. */
  async function totpStep(sealed: string, code: string, lastTimeStep: number | null): Promise<number | null> {
    const token = code.replace(/\s+/g, '')
    if (!/^\d{6}$/.test(token)) return null
    const { verifySync } = await totp()
    try {
      const result = verifySync({ secret: secrets.open(sealed), token, epoch: Math.floor(now().getTime() / 1000), epochTolerance: TOLERANCE_SECONDS, ...(lastTimeStep !== null ? { afterTimeStep: lastTimeStep } : {}) })
      return result.valid && 'timeStep' in result ? result.timeStep : null
    } catch {
      // e.g. a stored step ahead of the clock (the clock went back): no code is accepted until it catches up.
      return null
    }
  }

  /** Counts one attempt per user and per address; runs `check`; gives the attempt back when it succeeds. */
  async function attempt<T>(input: { userId: string; ip?: string; onLimits?: (s: RateLimitStatus[]) => void; signingIn?: boolean }, check: () => Promise<T | null>): Promise<T> {
    const policies: RatePolicy[] = [{ name: 'mfa-account', key: `mfa:user:${input.userId}`, limit: MFA_ATTEMPT_LIMIT, windowMs: MFA_WINDOW_MS }]
    if (input.ip) policies.push({ name: 'mfa-ip', key: `mfa:ip:${input.ip}`, limit: MFA_ATTEMPT_LIMIT * 4, windowMs: MFA_WINDOW_MS })
    const reservation = deps.limiter ? await reserve(deps.limiter, policies) : { allowed: true, statuses: [], refund: async () => undefined }
    try {
      if (!reservation.allowed) throw tooMany()
      const result = await check()
      if (result === null) throw wrongCode(input.signingIn ? 401 : 422)
      await reservation.refund()
      return result
    } finally {
      input.onLimits?.(reservation.statuses)
    }
  }

  /** Checks a TOTP code or a recovery code of an enrolled user (each at most once). */
  async function checkSecondFactor(user: MfaUser, factor: SecondFactor): Promise<'totp' | 'recovery' | null> {
    if (!user.secret || !user.enabledAt) return null
    if (factor.code) {
      const step = await totpStep(user.secret, factor.code, user.lastTimeStep)
      return step !== null && (await store.advanceTimeStep(user.id, step)) ? 'totp' : null
    }
    if (factor.recoveryCode && normalizeRecovery(factor.recoveryCode).length >= 8) {
      return (await store.useRecoveryCode(user.id, recoveryCodeHash(user.id, factor.recoveryCode), now())) ? 'recovery' : null
    }
    return null
  }

  async function status(principal: MfaPrincipal) {
    const [user, requiredByOrganization] = await Promise.all([userOf(principal.userId), store.organizationRequires(principal.organizationId)])
    const enabled = Boolean(user.secret && user.enabledAt)
    return {
      enabled,
      enabledAt: user.enabledAt,
      recoveryCodesLeft: enabled ? await store.recoveryCodesLeft(user.id) : 0,
      requiredByOrganization,
      /** This user must enrol before using the API. */
      enrollmentRequired: requiredByOrganization && isAdmin(principal.role) && !enabled,
    }
  }

  /** A new secret to scan (replaces an unconfirmed one). 409 when MFA is on already. */
  async function startEnrolment(principal: MfaPrincipal): Promise<{ secret: string; otpauthUrl: string }> {
    const user = await userOf(principal.userId)
    if (user.enabledAt) throw new AppError('mfa_enabled', 'Multi-factor sign-in is on already: turn it off first to enrol another device', 409)
    const { generateSecret, generateURI } = await totp()
    const secret = generateSecret()
    await store.setPending(user.id, secrets.seal(secret))
    return { secret, otpauthUrl: generateURI({ issuer, label: user.email, secret }) }
  }

  /** Confirms the scanned secret with a code from the app; returns the recovery codes, shown this once. */
  async function confirmEnrolment(principal: MfaPrincipal, input: { code: string; ip?: string; onLimits?: (s: RateLimitStatus[]) => void }): Promise<{ recoveryCodes: string[] }> {
    const user = await userOf(principal.userId)
    if (user.enabledAt) throw new AppError('mfa_enabled', 'Multi-factor sign-in is on already', 409)
    if (!user.pendingSecret) throw new AppError('mfa_not_started', 'Start the enrolment first (POST /api/v1/auth/mfa/enrol)', 409)
    const pending = user.pendingSecret
    const recoveryCodes = newRecoveryCodes()
    await attempt({ userId: user.id, ...(input.ip ? { ip: input.ip } : {}), ...(input.onLimits ? { onLimits: input.onLimits } : {}) }, async () => {
      const step = await totpStep(pending, input.code, null)
      if (step === null) return null
      return (await store.enable({ userId: user.id, pendingSecret: pending, timeStep: step, codeHashes: recoveryCodes.map((c) => recoveryCodeHash(user.id, c)), at: now() })) ? true : null
    })
    await deps.audit?.record({ organizationId: principal.organizationId, actorUserId: user.id, action: 'auth.mfa_enabled' })
    return { recoveryCodes }
  }

  /** Turns MFA off with a current code or a recovery code. */
  async function disable(principal: MfaPrincipal, input: SecondFactor & { ip?: string; onLimits?: (s: RateLimitStatus[]) => void }): Promise<void> {
    const user = await userOf(principal.userId)
    if (!user.enabledAt) throw new AppError('mfa_not_enabled', 'Multi-factor sign-in is not on', 409)
    await attempt({ userId: user.id, ...(input.ip ? { ip: input.ip } : {}), ...(input.onLimits ? { onLimits: input.onLimits } : {}) }, () => checkSecondFactor(user, input))
    await store.disable(user.id)
    await deps.audit?.record({ organizationId: principal.organizationId, actorUserId: user.id, action: 'auth.mfa_disabled' })
  }

  /** New recovery codes (the old ones stop working), with a current code. */
  async function regenerateRecoveryCodes(principal: MfaPrincipal, input: { code: string; ip?: string }): Promise<{ recoveryCodes: string[] }> {
    const user = await userOf(principal.userId)
    if (!user.enabledAt) throw new AppError('mfa_not_enabled', 'Multi-factor sign-in is not on', 409)
    await attempt({ userId: user.id, ...(input.ip ? { ip: input.ip } : {}) }, () => checkSecondFactor(user, { code: input.code }))
    const recoveryCodes = newRecoveryCodes()
    await store.replaceRecoveryCodes(user.id, recoveryCodes.map((c) => recoveryCodeHash(user.id, c)))
    await deps.audit?.record({ organizationId: principal.organizationId, actorUserId: user.id, action: 'auth.mfa_recovery_codes_replaced' })
    return { recoveryCodes }
  }

  const isEnabled = async (userId: string) => Boolean((await store.get(userId))?.enabledAt)

  /** After the right password of an enrolled user: a sealed, short-lived proof of it, exchanged for a session with a code. */
  function challenge(userId: string, organizationId: string): { mfaToken: string; expiresAt: Date } {
    const expiresAt = new Date(now().getTime() + CHALLENGE_TTL_MS)
    return { mfaToken: secrets.seal(JSON.stringify({ p: 'mfa-signin', u: userId, o: organizationId, e: expiresAt.getTime() })), expiresAt }
  }

  /** The second step of signing in: the challenge and a TOTP code or a recovery code. */
  async function verifyChallenge(input: SecondFactor & { mfaToken: string; ip?: string; onLimits?: (s: RateLimitStatus[]) => void }): Promise<{ userId: string; organizationId: string; method: 'totp' | 'recovery' }> {
    let claims: { p?: string; u?: string; o?: string; e?: number }
    try {
      claims = JSON.parse(secrets.open(input.mfaToken)) as typeof claims
    } catch {
      throw new AppError('invalid_mfa_token', 'This sign-in has expired: enter your email and password again', 401)
    }
    if (claims.p !== 'mfa-signin' || !claims.u || !claims.o || typeof claims.e !== 'number' || claims.e <= now().getTime()) {
      throw new AppError('invalid_mfa_token', 'This sign-in has expired: enter your email and password again', 401)
    }
    const user = await userOf(claims.u)
    const method = await attempt({ userId: user.id, signingIn: true, ...(input.ip ? { ip: input.ip } : {}), ...(input.onLimits ? { onLimits: input.onLimits } : {}) }, () => checkSecondFactor(user, input))
    if (method === 'recovery') await deps.audit?.record({ organizationId: claims.o, actorUserId: user.id, action: 'auth.mfa_recovery_code_used' })
    return { userId: user.id, organizationId: claims.o, method }
  }

  /** Whether this member must enrol before using the API (an owner or admin of an organization that requires MFA). */
  async function enrolmentRequired(principal: MfaPrincipal): Promise<boolean> {
    if (!isAdmin(principal.role)) return false
    if (!(await store.organizationRequires(principal.organizationId))) return false
    return !(await isEnabled(principal.userId))
  }

  /** The organization's "require MFA for admins" (owner or admin; turning it on needs MFA on one's own account). */
  async function setRequiredForAdmins(principal: MfaPrincipal, value: boolean): Promise<{ requiredByOrganization: boolean }> {
    if (!isAdmin(principal.role)) throw forbidden('This needs the admin role or higher')
    if (value && !(await isEnabled(principal.userId))) throw new AppError('mfa_not_enabled', 'Turn on multi-factor sign-in for your own account first, so that you are not locked out', 409)
    await store.setOrganizationRequires(principal.organizationId, value)
    await deps.audit?.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'organization.mfa_requirement_changed', data: { requireMfaForAdmins: value } })
    return { requiredByOrganization: value }
  }

  return { status, startEnrolment, confirmEnrolment, disable, regenerateRecoveryCodes, isEnabled, challenge, verifyChallenge, enrolmentRequired, setRequiredForAdmins }
}

export type MfaService = ReturnType<typeof createMfaService>
