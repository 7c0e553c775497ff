import { AppError, forbidden } from '../errors.ts'
import { newToken } from '../ids.ts'
import type { Role, Store } from '../ports.ts'
import { hashPassword, hashToken, verifyPassword } from '../security/passwords.ts'

export type Principal = { userId: string; organizationId: string; role: Role }

const SESSION_TTL_MS = 30 * 24 * 3600 * 1000
const RANK: Record<Role, number> = { member: 0, operator: 1, admin: 2, owner: 3 }

export function hasRole(principal: Principal, atLeast: Role): boolean {
  return RANK[principal.role] >= RANK[atLeast]
}

export function requireRole(principal: Principal, atLeast: Role): void {
  if (!hasRole(principal, atLeast)) throw forbidden(`This needs the ${atLeast} role or higher`)
}

export function createAuthService(deps: { store: Store; clock?: { now(): Date } }) {
  const { store } = deps
  const now = () => deps.clock?.now() ?? new Date()

  async function createOrganizationWithOwner(input: { organizationName: string; email: string; name: string; password: string }) {
    const email = input.email.trim().toLowerCase()
    if (await store.users.findByEmail(email)) throw new AppError('email_taken', 'An account with this email already exists', 409)
    const organization = await store.organizations.create({ name: input.organizationName })
    const user = await store.users.create({ email, name: input.name, passwordHash: await hashPassword(input.password) })
    await store.users.addMembership({ organizationId: organization.id, userId: user.id, role: 'owner' })
    await store.audit.record({ organizationId: organization.id, actorUserId: user.id, action: 'organization.created', target: organization.id })
    return { organization, user }
  }

  async function login(input: { email: string; password: string }): Promise<{ token: string; principal: Principal; expiresAt: Date }> {
    const user = await store.users.findByEmail(input.email.trim().toLowerCase())
    // Verify even when the user is unknown, so timing does not reveal which emails exist.
    const ok = await verifyPassword(input.password, user?.passwordHash ?? 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')
    if (!user || !ok) throw new AppError('invalid_credentials', 'Email or password is wrong', 401)
    const membership = await store.users.membership(user.id)
    if (!membership) throw new AppError('no_organization', 'This account belongs to no organization', 403)
    const token = newToken(32)
    const expiresAt = new Date(now().getTime() + SESSION_TTL_MS)
    await store.sessions.create({ tokenHash: hashToken(token), userId: user.id, organizationId: membership.organizationId, expiresAt })
    await store.audit.record({ organizationId: membership.organizationId, actorUserId: user.id, action: 'auth.login' })
    return { token, expiresAt, principal: { userId: user.id, organizationId: membership.organizationId, role: membership.role } }
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

  return { createOrganizationWithOwner, login, authenticate, logout }
}

export type AuthService = ReturnType<typeof createAuthService>
