import { AppError, forbidden, notFound } from '../errors.ts'
import { newToken } from '../ids.ts'
import type { Mailer, RateLimiter, Role, Store } from '../ports.ts'
import { hashPassword, hashToken, verifyPassword } from '../security/passwords.ts'
import { reserve, type RateLimitStatus, type RatePolicy, type Reservation } from '../security/rate-limits.ts'
import type { MfaService, SecondFactor } from '../security/mfa.ts'

/** `mfaEnrollmentRequired`: an owner or admin of an organization that requires MFA, not enrolled yet (see core/security/mfa.ts mfaGate). */
export type Principal = { userId: string; organizationId: string; role: Role; mfaEnrollmentRequired?: boolean }

/** What signing in needs of MFA (core/security/mfa.ts). */
export type SignInMfa = Pick<MfaService, 'isEnabled' | 'challenge' | 'verifyChallenge' | 'enrolmentRequired'>
/** The right password of an account with MFA: exchange mfaToken and a code for a session (completeMfaSignIn). */
export type MfaChallenge = { mfaRequired: true; mfaToken: string; expiresAt: Date }
export type SignedIn = { token: string; csrfToken: string; principal: Principal; expiresAt: Date }
export const isMfaChallenge = (result: SignedIn | MfaChallenge): result is MfaChallenge => 'mfaRequired' in result

const SESSION_TTL_MS = 30 * 24 * 3600 * 1000
const RESET_TTL_MS = 60 * 60 * 1000
const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000
/** Failed sign-ins allowed per account and per IP address in one window. */
export const SIGN_IN_LIMIT = 5
export const SIGN_IN_WINDOW_MS = 60_000
/** Reset links sent to one account in an hour, whoever asks, unless the installation says otherwise. */
export const RESETS_PER_ACCOUNT = 3
const RESET_WINDOW_MS = 3_600_000
const SIGN_UP_WINDOW_MS = 3_600_000
const RANK: Record<Role, number> = { member: 0, operator: 1, admin: 2, owner: 3 }
export const ROLES: Role[] = ['owner', 'admin', 'operator', 'member']

export function hasRole(principal: Principal, atLeast: Role): boolean {
  return RANK[principal.role] >= RANK[atLeast]
}

export function requireRole(principal: Principal, atLeast: Role): void {
  if (!hasRole(principal, atLeast)) throw forbidden(`This needs the ${atLeast} role or higher`)
}

/** The CSRF token of a session: derived from the session token, so it needs no storage and dies with the session. */
export const csrfTokenOf = (sessionToken: string): string => hashToken(`csrf:${sessionToken}`).slice(0, 43)

const tooMany = (message: string) => new AppError('too_many_attempts', message, 429)

/** Told where the caller's rate limits stand, so the HTTP layer can answer with RateLimit headers. */
export type OnLimits = (statuses: RateLimitStatus[]) => void

const unlimited: Reservation = { allowed: true, statuses: [], refund: async () => undefined }

export function createAuthService(deps: {
  store: Store
  clock?: { now(): Date }
  /** Counts failed sign-ins, reset requests and sign-ups; without one there is no limit. */
  limiter?: RateLimiter
  /** Organizations one IP address may create in an hour (0: no limit). */
  signUpsPerIpPerHour?: number
  /** Password reset links one account may be sent an hour (PASSWORD_RESET_RATE_PER_ACCOUNT); RESETS_PER_ACCOUNT when not given. */
  resetsPerAccountPerHour?: number
  /** Sends password reset and invitation links; without one they are not sent. */
  mailer?: Mailer
  /** Where the admin web is, for the links in mail, e.g. http://localhost:3000/admin/ */
  adminUrl?: string
  /** Multi-factor sign-in; without it, a password is enough. */
  mfa?: SignInMfa
}) {
  const { store } = deps
  const now = () => deps.clock?.now() ?? new Date()
  const adminUrl = deps.adminUrl ?? 'http://localhost:3000/admin/'
  const reserveAttempt = (policies: RatePolicy[]) => (deps.limiter ? reserve(deps.limiter, policies) : Promise.resolve(unlimited))

  /** Sign-up from an IP address (`ip`) is limited per hour; without `ip` (seeding, tests) it is not. */
  async function createOrganizationWithOwner(input: { organizationName: string; email: string; name: string; password: string; ip?: string; onLimits?: OnLimits }) {
    if (input.ip) {
      const attempt = await reserveAttempt([{ name: 'signup-ip', key: `signup:ip:${input.ip}`, limit: deps.signUpsPerIpPerHour ?? 10, windowMs: SIGN_UP_WINDOW_MS }])
      input.onLimits?.(attempt.statuses)
      if (!attempt.allowed) throw tooMany('Too many new organizations from this address; try again later')
    }
    const email = input.email.trim().toLowerCase()
    if (await store.users.findByEmail(email)) throw new AppError('email_taken', 'An account with this email already exists', 409)
    const organization = await store.organizations.create({ name: input.organizationName })
    const user = await store.users.create({ email, name: input.name, passwordHash: await hashPassword(input.password) })
    await store.users.addMembership({ organizationId: organization.id, userId: user.id, role: 'owner' })
    await store.audit.record({ organizationId: organization.id, actorUserId: user.id, action: 'organization.created', target: organization.id })
    return { organization, user }
  }

  async function startSession(userId: string, organizationId: string, role: Role) {
    const token = newToken(32)
    const expiresAt = new Date(now().getTime() + SESSION_TTL_MS)
    await store.sessions.create({ tokenHash: hashToken(token), userId, organizationId, expiresAt })
    return { token, expiresAt, csrfToken: csrfTokenOf(token), principal: { userId, organizationId, role } }
  }

  /**
   * Signs in. After SIGN_IN_LIMIT failures in a minute for the same account or from the same IP
   * address every attempt is refused with 429 until the window ends, even with the right password.
   */
  async function login(input: { email: string; password: string; ip?: string; onLimits?: OnLimits }): Promise<SignedIn | MfaChallenge> {
    const email = input.email.trim().toLowerCase()
    const perMinute = { limit: SIGN_IN_LIMIT, windowMs: SIGN_IN_WINDOW_MS }
    // The attempt is counted before the password is checked, so of many guesses sent at once only
    // SIGN_IN_LIMIT are ever checked. Only a wrong password keeps it counted.
    const attempt = await reserveAttempt([{ name: 'signin-account', key: `signin:account:${hashToken(email)}`, ...perMinute }, ...(input.ip ? [{ name: 'signin-ip', key: `signin:ip:${input.ip}`, ...perMinute }] : [])])
    let failed = false
    try {
      if (!attempt.allowed) throw tooMany('Too many failed sign-ins; wait a minute and try again')
      const user = await store.users.findByEmail(email)
      // Verify even when the user is unknown, so timing does not reveal which emails exist.
      const ok = await verifyPassword(input.password, user?.passwordHash ?? 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
      if (!user || !ok) {
        failed = true
        throw new AppError('invalid_credentials', 'Email or password is wrong', 401)
      }
      const membership = await store.users.membership(user.id)
      if (!membership) throw new AppError('no_organization', 'This account belongs to no organization', 403)
      // With MFA on, the password only earns a short-lived challenge; the code earns the session.
      if (deps.mfa && (await deps.mfa.isEnabled(user.id))) return { mfaRequired: true as const, ...deps.mfa.challenge(user.id, membership.organizationId) }
      const session = await startSession(user.id, membership.organizationId, membership.role)
      await store.audit.record({ organizationId: membership.organizationId, actorUserId: user.id, action: 'auth.login' })
      return withEnrolment(session)
    } finally {
      if (!failed) await attempt.refund()
      input.onLimits?.(attempt.statuses)
    }
  }

  /** The second step of signing in with MFA: the challenge from login and a TOTP code or a recovery code (used up). */
  async function completeMfaSignIn(input: SecondFactor & { mfaToken: string; ip?: string; onLimits?: OnLimits }): Promise<SignedIn> {
    if (!deps.mfa) throw new AppError('mfa_not_configured', 'Multi-factor sign-in is not available here', 404)
    const { userId, organizationId, method } = await deps.mfa.verifyChallenge(input)
    const membership = await store.users.membership(userId, organizationId)
    if (!membership) throw new AppError('no_organization', 'This account belongs to no organization', 403)
    const session = await startSession(userId, organizationId, membership.role)
    await store.audit.record({ organizationId, actorUserId: userId, action: 'auth.login', data: { mfa: method } })
    return withEnrolment(session)
  }

  async function withEnrolment(session: SignedIn): Promise<SignedIn> {
    if (deps.mfa && (await deps.mfa.enrolmentRequired(session.principal))) session.principal.mfaEnrollmentRequired = true
    return session
  }

  async function authenticate(token: string): Promise<Principal | null> {
    const session = await store.sessions.find(hashToken(token))
    if (!session || session.expiresAt <= now()) return null
    const membership = await store.users.membership(session.userId, session.organizationId)
    if (!membership) return null
    const principal: Principal = { userId: session.userId, organizationId: session.organizationId, role: membership.role }
    if (deps.mfa && (await deps.mfa.enrolmentRequired(principal))) principal.mfaEnrollmentRequired = true
    return principal
  }

  async function logout(token: string) {
    await store.sessions.delete(hashToken(token))
  }

  /** Sends a one-time link to set a new password. Says nothing about whether the email exists. */
  async function requestPasswordReset(input: { email: string; ip?: string; onLimits?: OnLimits }) {
    const email = input.email.trim().toLowerCase()
    // Per address, and per account so that many addresses cannot flood one mailbox. The account's
    // limit counts any email, known or not, so a 429 tells nothing about who has an account.
    const attempt = await reserveAttempt([
      ...(input.ip ? [{ name: 'reset-ip', key: `reset:ip:${input.ip}`, limit: SIGN_IN_LIMIT, windowMs: SIGN_IN_WINDOW_MS }] : []),
      { name: 'reset-account', key: `reset:account:${hashToken(email)}`, limit: deps.resetsPerAccountPerHour ?? RESETS_PER_ACCOUNT, windowMs: RESET_WINDOW_MS },
    ])
    input.onLimits?.(attempt.statuses)
    if (!attempt.allowed) throw tooMany('Too many reset requests; wait a while and try again')
    const user = await store.users.findByEmail(email)
    if (!user) return
    const token = newToken(32)
    await store.passwordResets.create({ tokenHash: hashToken(token), userId: user.id, expiresAt: new Date(now().getTime() + RESET_TTL_MS) })
    const link = `${adminUrl}#/reset?token=${token}`
    await deps.mailer?.send({ to: user.email, subject: 'Reset your Switchboard password', text: `Open this link within an hour to choose a new password:\n\n${link}\n\nIf you did not ask for it, ignore this message.` })
  }

  /** Uses a reset link once: sets the password, voids the account's other reset links and ends every session of the account. */
  async function resetPassword(input: { token: string; password: string }) {
    const userId = await store.passwordResets.consume(hashToken(input.token), now())
    if (!userId) throw new AppError('invalid_token', 'This link is invalid, expired or already used; ask for a new one', 400)
    await store.users.setPassword(userId, await hashPassword(input.password))
    await store.sessions.deleteForUser(userId)
    const membership = await store.users.membership(userId)
    if (membership) await store.audit.record({ organizationId: membership.organizationId, actorUserId: userId, action: 'auth.password_reset' })
  }

  // ---- members and invitations

  const assertCanManage = (principal: Principal, role: Role) => {
    requireRole(principal, 'admin')
    if (role === 'owner' && principal.role !== 'owner') throw forbidden('Only an owner can give or take the owner role')
  }

  async function setRole(principal: Principal, userId: string, role: Role) {
    const members = await store.members.list(principal.organizationId)
    const target = members.find((m) => m.userId === userId)
    if (!target) throw notFound('Member')
    if (userId === principal.userId) throw new AppError('own_role', 'You cannot change your own role', 409)
    assertCanManage(principal, target.role)
    assertCanManage(principal, role)
    await store.members.setRole(principal.organizationId, userId, role)
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'member.role_changed', target: userId, data: { role } })
  }

  async function removeMember(principal: Principal, userId: string) {
    const members = await store.members.list(principal.organizationId)
    const target = members.find((m) => m.userId === userId)
    if (!target) throw notFound('Member')
    if (userId === principal.userId) throw new AppError('own_membership', 'You cannot remove yourself', 409)
    assertCanManage(principal, target.role)
    await store.members.remove(principal.organizationId, userId)
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'member.removed', target: userId })
  }

  async function invite(principal: Principal, input: { email: string; role: Role }) {
    assertCanManage(principal, input.role)
    const email = input.email.trim().toLowerCase()
    if ((await store.members.list(principal.organizationId)).some((m) => m.email === email)) throw new AppError('already_member', 'This person is already a member', 409)
    const token = newToken(32)
    const invitation = await store.invitations.create({ organizationId: principal.organizationId, email, role: input.role, tokenHash: hashToken(token), invitedByUserId: principal.userId, expiresAt: new Date(now().getTime() + INVITATION_TTL_MS) })
    const organization = await store.organizations.get(principal.organizationId)
    const link = `${adminUrl}#/invitation?token=${token}`
    await deps.mailer?.send({ to: email, subject: `Join ${organization?.name ?? 'your team'} on Switchboard`, text: `You are invited to ${organization?.name ?? 'an organization'} on Switchboard as ${input.role}. Open this link within 7 days to accept:\n\n${link}` })
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'member.invited', target: invitation.id, data: { role: input.role } })
    return invitation
  }

  async function invitationInfo(token: string) {
    const invitation = await store.invitations.find(hashToken(token))
    if (!invitation || invitation.acceptedAt || invitation.expiresAt <= now()) throw new AppError('invalid_token', 'This invitation is invalid, expired or already used', 400)
    const organization = await store.organizations.get(invitation.organizationId)
    return { email: invitation.email, role: invitation.role, organizationName: organization?.name ?? '' }
  }

  /** Accepts an invitation once: creates the account with the invited email and role, and signs it in. */
  async function acceptInvitation(input: { token: string; name: string; password: string }) {
    const pending = await invitationInfo(input.token)
    if (await store.users.findByEmail(pending.email)) throw new AppError('email_taken', 'An account with this email already exists', 409)
    const invitation = await store.invitations.accept(hashToken(input.token), now())
    if (!invitation) throw new AppError('invalid_token', 'This invitation is invalid, expired or already used', 400)
    const user = await store.users.create({ email: invitation.email, name: input.name, passwordHash: await hashPassword(input.password) })
    await store.users.addMembership({ organizationId: invitation.organizationId, userId: user.id, role: invitation.role })
    await store.audit.record({ organizationId: invitation.organizationId, actorUserId: user.id, action: 'member.joined', target: invitation.id })
    return startSession(user.id, invitation.organizationId, invitation.role)
  }

  return { createOrganizationWithOwner, login, completeMfaSignIn, authenticate, logout, requestPasswordReset, resetPassword, setRole, removeMember, invite, invitationInfo, acceptInvitation }
}

export type AuthService = ReturnType<typeof createAuthService>
