import type { Response } from 'express'
import { z } from 'zod'
import { notFound } from '../../core/errors.ts'
import type { Store } from '../../core/ports.ts'
import type { AuthService } from '../../core/tenancy/auth-service.ts'
import { requireRole, ROLES } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { SESSION_COOKIE, sessionCookieOptions } from './routes.ts'

const role = z.enum(ROLES as ['owner', 'admin', 'operator', 'member'])

/**
 * The organization's people: members and their roles, invitations by a one-time link (sent by
 * mail, or written to the log without SMTP), and accepting one. Admins manage everyone but owners;
 * only an owner gives or takes the owner role.
 */
export function registerTeamRoutes(deps: { api: ReturnType<typeof createApi>; store: Store; auth: AuthService; secureCookies: boolean }) {
  const { api, store, auth } = deps

  api.route({ method: 'get', path: '/api/v1/members', tag: 'organization', summary: 'Members of the organization and their roles', auth: 'session', handler: async ({ principal }) => ({ members: await store.members.list(principal.organizationId) }) })
  api.route({
    method: 'patch',
    path: '/api/v1/members/:userId',
    tag: 'organization',
    summary: "Change a member's role (admin; the owner role only by an owner; not your own)",
    auth: 'session',
    body: z.object({ role }).strict(),
    handler: async ({ principal, params, body }) => {
      await auth.setRole(principal, params.userId!, body.role)
      return { members: await store.members.list(principal.organizationId) }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/members/:userId',
    tag: 'organization',
    summary: 'Remove a member from the organization (admin; owners only by an owner; not yourself)',
    auth: 'session',
    responses: { 204: 'Removed' },
    handler: async ({ principal, params }) => {
      await auth.removeMember(principal, params.userId!)
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/invitations',
    tag: 'organization',
    summary: 'Invitations not yet accepted (admin)',
    auth: 'session',
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return { invitations: await store.invitations.list(principal.organizationId) }
    },
  })
  api.route({
    method: 'post',
    path: '/api/v1/invitations',
    tag: 'organization',
    summary: 'Invite someone by email with a role (admin): the one-time link is mailed, or written to the log without SMTP_URL',
    auth: 'session',
    body: z.object({ email: z.string().trim().email(), role }).strict(),
    responses: { 201: 'Invited', 409: 'Already a member' },
    handler: async ({ principal, body, res }) => {
      const invitation = await auth.invite(principal, body)
      res.status(201)
      return { invitation }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/invitations/:id',
    tag: 'organization',
    summary: 'Withdraw an invitation (admin)',
    auth: 'session',
    responses: { 204: 'Withdrawn', 404: 'No such open invitation in this organization' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      if (!(await store.invitations.delete(principal.organizationId, params.id!))) throw notFound('Invitation')
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/v1/auth/invitation',
    tag: 'auth',
    summary: 'What an invitation token is for: organization, email and role',
    auth: 'none',
    body: z.object({ token: z.string().trim().min(20).max(200) }).strict(),
    responses: { 200: 'The invitation', 400: 'Invalid, expired or used' },
    handler: async ({ body }) => auth.invitationInfo(body.token),
  })
  api.route({
    method: 'post',
    path: '/api/v1/auth/invitation/accept',
    tag: 'auth',
    summary: 'Accept an invitation (once): creates the account with the invited email and role and signs it in',
    auth: 'none',
    body: z.object({ token: z.string().trim().min(20).max(200), name: z.string().trim().min(1).max(120), password: z.string().min(10, 'at least 10 characters').max(1000) }).strict(),
    responses: { 201: 'Joined and signed in', 400: 'Invalid, expired or used', 409: 'Email already registered' },
    handler: async ({ body, res }) => {
      const session = await auth.acceptInvitation(body)
      setCookie(res, session, deps.secureCookies)
      res.status(201)
      return { token: session.token, csrfToken: session.csrfToken, expiresAt: session.expiresAt, organizationId: session.principal.organizationId, role: session.principal.role }
    },
  })
}

function setCookie(res: Response, session: { token: string; expiresAt: Date }, secure: boolean) {
  res.cookie(SESSION_COOKIE, session.token, { ...sessionCookieOptions(secure), expires: session.expiresAt })
}
