import { AppError, forbidden, notFound } from '../errors.ts'
import { newToken } from '../ids.ts'
import type { Mailer, RateLimiter, Role, Store } from '../ports.ts'
import { hashPassword, hashToken, verifyPassword } from '../security/passwords.ts'

export type Principal = { userId: string; organizationId: string; role: Role }

const SESSION_TTL_MS = 30 * 24 * 3600 * 1000
const RESET_TTL_MS = 60 * 60 * 1000
const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000
/** Failed sign-ins allowed per account and per IP address in one window. */
export const SIGN_IN_LIMIT = 5
export const SIGN_IN_WINDOW_MS = 60_000
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

const tooMany = () => new AppError('too_many_attempts', 'Too many failed sign-ins; wait a minute and try again', 429)

export function createAuthService(deps: {
  store: Store
  clock?: { now(): Date }
  /** Counts failed sign-ins; without one there is no limit. */
  limiter?: RateLimiter
  /** Sends password reset and invitation links; without one they are not sent. */
  mailer?: Mailer
  /** Where the admin web is, for the links in mail, e.g. http://localhost:3000/admin/ */
  adminUrl?: string
}) {
  const { store } = deps
  const now = () => deps.clock?.now() ?? new Date()
  const adminUrl = deps.adminUrl ?? 'http://localhost:3000/admin/'

  async function createOrganizationWithOwner(input: { organizationName: string; email: string; name: string; password: string }) {
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
  async function login(input: { email: string; password: string; ip?: string }): Promise<{ token: string; csrfToken: string; principal: Principal; expiresAt: Date }> {
    const email = input.email.trim().toLowerCase()
    const keys = [`signin:account:${hashToken(email)}`, ...(input.ip ? [`signin:ip:${input.ip}`] : [])]
    if (deps.limiter) for (const key of keys) if ((await deps.limiter.count(key)) >= SIGN_IN_LIMIT) throw tooMany()
    const user = await store.users.findByEmail(email)
    // Verify even when the user is unknown, so timing does not reveal which emails exist.
    const ok = await verifyPassword(input.password, user?.passwordHash ?? 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
    if (!user || !ok) {
      if (deps.limiter) for (const key of keys) await deps.limiter.take(key, { limit: SIGN_IN_LIMIT, windowMs: SIGN_IN_WINDOW_MS })
      throw new AppError('invalid_credentials', 'Email or password is wrong', 401)
    }
    const membership = await store.users.membership(user.id)
    if (!membership) throw new AppError('no_organization', 'This account belongs to no organization', 403)
    const session = await startSession(user.id, membership.organizationId, membership.role)
    await store.audit.record({ organizationId: membership.organizationId, actorUserId: user.id, action: 'auth.login' })
    return session
  }

  async function authenticate(token: string): Promise<Principal | null> {
    const session = await store.sessions.find(hashToken(token))
    if (!session || session.expiresAt <= now()) return null
    const membership = await store.users.membership(session.userId, session.organizationId)
    if (!membership) return null
    return { userId: session.userId, organizationId: session.organizationId, role: membership.role }
  }

  async function logout(token: string) {
    await store.sessions.delete(hashToken(token))
  }

  /** Sends a one-time link to set a new password. Says nothing about whether the email exists. */
  async function requestPasswordReset(input: { email: string; ip?: string }) {
    if (deps.limiter && input.ip && !(await deps.limiter.take(`reset:ip:${input.ip}`, { limit: SIGN_IN_LIMIT, windowMs: SIGN_IN_WINDOW_MS }))) throw new AppError('too_many_attempts', 'Too many reset requests; wait a minute and try again', 429)
    const user = await store.users.findByEmail(input.email.trim().toLowerCase())
    if (!user) return
    const token = newToken(32)
    await store.passwordResets.create({ tokenHash: hashToken(token), userId: user.id, expiresAt: new Date(now().getTime() + RESET_TTL_MS) })
    const link = `${adminUrl}#/reset?token=${token}`
    await deps.mailer?.send({ to: user.email, subject: 'Reset your Switchboard password', text: `Open this link within an hour to choose a new password:\n\n${link}\n\nIf you did not ask for it, ignore this message.` })
  }

  /** Uses a reset link once: sets the password and ends every session of the account. */
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

  return { createOrganizationWithOwner, login, authenticate, logout, requestPasswordReset, resetPassword, setRole, removeMember, invite, invitationInfo, acceptInvitation }
}

export type AuthService = ReturnType<typeof createAuthService>
