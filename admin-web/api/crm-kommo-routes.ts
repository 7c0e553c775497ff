import { z } from 'zod'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import type { KommoConnections } from '../../adapters/kommo/connection.ts'

/**
 * The organization's Kommo account: connect it with a long-lived token, read its state (the
 * account, pipelines with their statuses, users, the contact fields found), read it again, and
 * disconnect it. Tokens are sealed and never come back.
 */
export function registerKommoRoutes(deps: { api: ReturnType<typeof createApi>; kommo: KommoConnections }) {
  const { api, kommo } = deps

  api.route({
    method: 'post',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: "Connect the organization's Kommo account with a long-lived token of a private integration (admin): the token is checked by reading the account, its pipelines, users and contact fields, then stored encrypted",
    auth: 'session',
    body: z.object({ subdomain: z.string().trim().min(1).max(100), longLivedToken: z.string().trim().min(1).max(5000) }).strict(),
    responses: { 201: 'Connected: the state, as GET answers', 422: 'Not a subdomain or a token, or Kommo refused the token', 502: 'Kommo could not be reached' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      const state = await kommo.connectLongLived({ organizationId: principal.organizationId, subdomain: body.subdomain, token: body.longLivedToken, actorUserId: principal.userId })
      res.status(201)
      return state
    },
  })

  api.route({
    method: 'get',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: "The Kommo connection: its state (active, broken, blocked, with the reason), the account, pipelines with their statuses, users and the contact fields found; { connected: false } when none",
    auth: 'session',
    handler: async ({ principal }) => kommo.get(principal.organizationId),
  })

  api.route({
    method: 'post',
    path: '/api/v1/crm/kommo/sync',
    tag: 'crm',
    summary: 'Read the pipelines, users and contact fields from Kommo again (admin)',
    auth: 'session',
    responses: { 200: 'The state after reading', 404: 'Kommo is not connected' },
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return kommo.sync(principal.organizationId)
    },
  })

  api.route({
    method: 'put',
    path: '/api/v1/crm/kommo/settings',
    tag: 'crm',
    summary: "The organization's Kommo choices (admin): the pipeline and status new leads start in, the users responsible for them in turn, and whether every new contact gets a lead or only when the agent decides",
    auth: 'session',
    body: z
      .object({
        pipelineId: z.number().int().positive().nullable().optional(),
        statusId: z.number().int().positive().nullable().optional(),
        responsibleUserIds: z.array(z.number().int().positive()).max(50).optional(),
        leadMode: z.enum(['agent', 'every_contact']).optional(),
      })
      .strict(),
    responses: { 200: 'The state with the saved settings', 404: 'Kommo is not connected', 422: 'A pipeline, status or user the account does not have' },
    handler: async ({ principal, body }) => {
      requireRole(principal, 'admin')
      const settings = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined))
      return kommo.saveSettings({ organizationId: principal.organizationId, settings, actorUserId: principal.userId })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/v1/crm/kommo',
    tag: 'crm',
    summary: 'Disconnect Kommo (admin): the stored tokens are deleted; the built-in CRM records stay',
    auth: 'session',
    responses: { 200: '{ disconnected }' },
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      return { disconnected: await kommo.disconnect({ organizationId: principal.organizationId, actorUserId: principal.userId }) }
    },
  })
}
