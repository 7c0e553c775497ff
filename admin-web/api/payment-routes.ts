import type { NextFunction, Request, Response, Router } from 'express'
import express from 'express'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import {
  BILLING_INTERVALS,
  createCheckoutLink,
  createPortalLink,
  isIgnored,
  PAID_PLANS,
  type PaymentProvider,
  type PaymentProviderName,
  type SubscriptionEvent,
  type SubscriptionService,
} from '../../core/billing/payments.ts'
import type { Logger } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'
import { storableJson } from '../../core/security/storable-text.ts'

export type PaymentRoutesDeps = {
  api: ReturnType<typeof createApi>
  /** The configured providers by name ('lemonsqueezy', 'stripe'); empty = payments off. */
  providers: ReadonlyMap<string, PaymentProvider>
  subscriptions: SubscriptionService
  logger: Logger
  /** The provider a checkout uses when the request names none; default: the first in `providers`. */
  defaultProvider?: PaymentProviderName
  /** Webhook bodies larger than this are refused (413). */
  maxBodyBytes?: number
}

const WEBHOOK_PROVIDERS: PaymentProviderName[] = ['lemonsqueezy', 'stripe']

const checkoutSchema = z
  .object({
    plan: z.enum(PAID_PLANS),
    interval: z.enum(BILLING_INTERVALS).default('month'),
    provider: z.enum(WEBHOOK_PROVIDERS as [PaymentProviderName, ...PaymentProviderName[]]).optional(),
    /** Prefills the checkout's email field. */
    email: z.string().trim().email().optional(),
  })
  .strict()

/**
 * Payments in the HTTP API:
 * - POST /api/v1/billing/checkout (admin): a hosted checkout link for a plan, registered on `api`;
 * - POST /webhooks/lemonsqueezy and POST /webhooks/stripe: the providers' webhooks, on the returned
 *   Router (not through `api.route`: they authenticate by signature over the raw body, not by session).
 * Mount the returned Router in createHttpApp's `routers`, next to `api.router`.
 */
export function registerPaymentRoutes(deps: PaymentRoutesDeps): Router {
  deps.api.route({
    method: 'post',
    path: '/api/v1/billing/checkout',
    tag: 'billing',
    summary: 'A checkout link for a paid plan (admin); the plan changes when the payment provider confirms it',
    auth: 'session',
    body: checkoutSchema,
    responses: { 200: 'The checkout link', 422: 'That plan or provider is not available', 503: 'No payment provider is configured' },
    handler: async ({ principal, body }) => {
      requireRole(principal, 'admin')
      const { url, provider } = await createCheckoutLink(deps.providers, {
        organizationId: principal.organizationId,
        plan: body.plan,
        interval: body.interval,
        ...(body.email ? { email: body.email } : {}),
        ...(body.provider ? { provider: body.provider } : {}),
        ...(deps.defaultProvider ? { defaultProvider: deps.defaultProvider } : {}),
      })
      return { url, provider, plan: body.plan, interval: body.interval }
    },
  })
  deps.api.route({
    method: 'post',
    path: '/api/v1/billing/portal',
    tag: 'billing',
    summary: "A link to the payment provider's customer portal for the organization's subscription (admin): cancel, resume, payment method",
    auth: 'session',
    body: z.object({}).strict().optional(),
    responses: { 200: 'The portal link', 409: 'The organization has no paid subscription yet', 422: 'Its provider is not configured here' },
    handler: async ({ principal }) => {
      requireRole(principal, 'admin')
      const subscription = await deps.subscriptions.get(principal.organizationId)
      return createPortalLink(deps.providers, subscription)
    },
  })
  return createPaymentWebhookRouter(deps)
}

/**
 * The providers' webhooks. Per request: the signature over the raw body (missing or wrong → 401,
 * nothing stored), then the body (malformed → 400), then the event: an unknown type → 200
 * `{ ignored }` with a log line; otherwise it is applied once (a redelivery → 200, no effect).
 * A failure while applying → 500, so that the provider delivers it again.
 */
export function createPaymentWebhookRouter(deps: Pick<PaymentRoutesDeps, 'providers' | 'subscriptions' | 'logger' | 'maxBodyBytes'>): Router {
  const router = express.Router()
  // The app's JSON parser keeps req.rawBody for application/json; any other content type is read raw here.
  const raw = express.raw({ type: () => true, limit: deps.maxBodyBytes ?? 1_048_576 })

  for (const name of WEBHOOK_PROVIDERS) {
    router.post(`/webhooks/${name}`, raw, async (req: Request, res: Response, next: NextFunction) => {
      const log = (req.log ?? deps.logger).child({ provider: name })
      const provider = deps.providers.get(name)
      if (!provider) {
        res.status(404).json({ error: { code: 'not_configured', message: `${name} payments are not configured on this server` } })
        return
      }
      const rawBody = req.rawBody ?? (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0))

      let verified = false
      try {
        verified = provider.verifyWebhook({ rawBody, headers: req.headers })
      } catch (error) {
        log.warn({ err: error }, 'webhook signature check failed')
      }
      if (!verified) {
        log.warn({ bytes: rawBody.length }, 'webhook refused: missing or wrong signature')
        res.status(401).json({ error: { code: 'invalid_signature', message: 'The webhook signature is missing or wrong' } })
        return
      }

      let event: SubscriptionEvent
      try {
        const parsed = provider.parseWebhook(rawBody, req.headers)
        if (isIgnored(parsed)) {
          log.info({ reason: parsed.ignored }, 'webhook ignored')
          res.status(200).json({ ignored: parsed.ignored })
          return
        }
        // The provider's text (names, emails) is cleaned of what PostgreSQL cannot store rather than refused: a refused event would come back forever.
        event = storableJson(parsed)
      } catch (error) {
        const message = error instanceof AppError ? error.message : 'The webhook body is malformed'
        log.warn({ err: error }, 'webhook refused: malformed body')
        res.status(400).json({ error: { code: 'invalid_payload', message } })
        return
      }

      try {
        const outcome = await deps.subscriptions.apply(event)
        const line = { eventId: event.eventId, type: event.type, organizationId: outcome.organizationId, result: outcome.result, occurredAt: event.occurredAt.toISOString() }
        if (outcome.result === 'unknown_organization') log.warn(line, 'webhook for no known organization: stored, not applied')
        else log.info(line, `webhook ${outcome.result}`)
        res.status(200).json({ received: true, result: outcome.result })
      } catch (error) {
        next(error)
      }
    })
  }
  return router
}
