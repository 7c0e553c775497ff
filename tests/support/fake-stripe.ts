import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A local Stripe for tests and trials: the parts of Stripe's API and hosted pages the product uses,
 * answering with the documented object shapes (tests/fixtures/stripe/README.md names the sources).
 *
 * API (form-encoded, `Authorization: Bearer <secret key>`, as the official SDK sends it):
 * - POST /v1/checkout/sessions: a Checkout Session in subscription mode; its `url` is the hosted page below;
 * - POST /v1/billing_portal/sessions: a customer portal session; its `url` is the portal below;
 * - GET /v1/subscriptions/:id, POST /v1/subscriptions/:id (`cancel_at_period_end`).
 * Hosted pages (what the customer's browser sees at Stripe):
 * - GET /c/pay/:session: the checkout page; its "Subscribe" button creates the customer and the
 *   subscription, delivers `customer.subscription.created` and `invoice.paid` to the webhook
 *   endpoint signed as Stripe signs (`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">`),
 *   then redirects to the session's success_url;
 * - GET /p/session/:portal: the customer portal: cancel at the period end or renew, each delivering
 *   `customer.subscription.updated` with `previous_attributes`, and a link back to return_url.
 * Events are built from the recorded fixtures (the envelope and the objects) with this run's ids,
 * prices, metadata and times.
 */

type Json = Record<string, unknown>
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/stripe/${name}.json`, import.meta.url), 'utf8')) as Json
const clone = <T>(value: T): T => structuredClone(value)
const nowSeconds = () => Math.floor(Date.now() / 1000)
const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`
const DAY = 86_400

type Subscription = Json & { id: string; customer: string; cancel_at_period_end: boolean; cancel_at: number | null; canceled_at: number | null; status: string; metadata: Record<string, string>; items: { data: (Json & { current_period_start: number; current_period_end: number; price: Json & { id: string } })[] } }
type Session = Json & { id: string; url: string; success_url: string | null; cancel_url: string | null; status: string; subscription: string | null; customer: string | null; client_reference_id: string | null; metadata: Record<string, string> }
type PortalSession = Json & { id: string; customer: string; return_url: string | null; url: string }

export type FakeStripe = {
  url: string
  /** Where the events go and the secret they are signed with (settable after the app started). */
  webhook: { url?: string; secret: string }
  sessions: Map<string, Session & { price: string; subscriptionMetadata: Record<string, string> }>
  subscriptions: Map<string, Subscription>
  portals: Map<string, PortalSession>
  /** Every event delivered, with the status the endpoint answered. */
  deliveries: { type: string; id: string; status: number }[]
  /** Every API request: method, path, and the form fields. */
  requests: { method: string; path: string; form: Record<string, string> }[]
  close(): Promise<void>
}

export async function startFakeStripe(input: { secretKey: string; webhookSecret: string; prices: Record<string, { name: string; amount: number }>; webhookUrl?: string }): Promise<FakeStripe> {
  const sessions: FakeStripe['sessions'] = new Map()
  const subscriptions: FakeStripe['subscriptions'] = new Map()
  const portals: FakeStripe['portals'] = new Map()
  const deliveries: FakeStripe['deliveries'] = []
  const requests: FakeStripe['requests'] = []
  const webhook: FakeStripe['webhook'] = { url: input.webhookUrl, secret: input.webhookSecret }
  let base = ''

  const stripeError = (res: ServerResponse, status: number, error: Json) => json(res, status, { error: { type: 'invalid_request_error', ...error } })

  async function deliver(type: string, object: Json, previous?: Json) {
    if (!webhook.url) throw new Error('fake Stripe: no webhook URL set')
    const event = clone(fixture('customer.subscription.created'))
    const id = newId('evt')
    Object.assign(event, { id, type, created: nowSeconds(), data: { object, ...(previous ? { previous_attributes: previous } : {}) }, request: { id: newId('req'), idempotency_key: null } })
    const body = JSON.stringify(event)
    const t = nowSeconds()
    const signature = `t=${t},v1=${createHmac('sha256', webhook.secret).update(`${t}.${body}`).digest('hex')}`
    const res = await fetch(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': signature, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' }, body })
    await res.text()
    deliveries.push({ type, id, status: res.status })
    if (!res.ok) throw new Error(`the webhook endpoint answered ${res.status} to ${type}`)
  }

  function subscriptionFrom(session: Session & { price: string; subscriptionMetadata: Record<string, string> }, customer: string): Subscription {
    const sub = clone(fixture('customer.subscription.created').data as Json).object as Subscription
    const start = nowSeconds()
    const end = start + 30 * DAY
    const id = newId('sub')
    const item = sub.items.data[0]!
    Object.assign(item, { id: newId('si'), created: start, current_period_start: start, current_period_end: end, subscription: id })
    item.price = { ...item.price, id: session.price, nickname: input.prices[session.price]?.name ?? null, unit_amount: input.prices[session.price]?.amount ?? 0 }
    Object.assign(sub, { id, customer, created: start, start_date: start, billing_cycle_anchor: start, metadata: { ...session.subscriptionMetadata }, latest_invoice: newId('in'), status: 'active', cancel_at: null, cancel_at_period_end: false, canceled_at: null })
    return sub
  }

  function invoiceFor(sub: Subscription): Json {
    const invoice = clone(fixture('invoice.paid').data as Json).object as Json & { lines: { data: Json[] }; parent: Json }
    const item = sub.items.data[0]!
    const period = { start: item.current_period_start, end: item.current_period_end }
    Object.assign(invoice, { id: sub.latest_invoice, customer: sub.customer, created: nowSeconds(), period_start: period.start, period_end: period.start, parent: { quote_details: null, subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id }, type: 'subscription_details' } })
    const line = invoice.lines.data[0]! as Json & { parent: { subscription_item_details: Json }; pricing: { price_details: Json } }
    Object.assign(line, { id: newId('il'), period, metadata: { ...sub.metadata } })
    Object.assign(line.parent.subscription_item_details, { subscription: sub.id, subscription_item: item.id })
    line.pricing.price_details.price = item.price.id
    invoice.lines.data = [line]
    return invoice
  }

  async function setCancel(sub: Subscription, cancel: boolean) {
    const previous = { cancel_at: sub.cancel_at, cancel_at_period_end: sub.cancel_at_period_end, canceled_at: sub.canceled_at }
    const end = sub.items.data[0]!.current_period_end
    Object.assign(sub, cancel ? { cancel_at_period_end: true, cancel_at: end, canceled_at: nowSeconds() } : { cancel_at_period_end: false, cancel_at: null, canceled_at: null })
    await deliver('customer.subscription.updated', clone(sub), previous)
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string, form: Record<string, string>) {
    if (req.headers.authorization !== `Bearer ${input.secretKey}`) {
      stripeError(res, 401, { message: 'Invalid API Key provided: sk_***' })
      return
    }
    if (req.method === 'POST' && path === '/v1/checkout/sessions') {
      const price = form['line_items[0][price]']
      if (form.mode !== 'subscription') return stripeError(res, 400, { param: 'mode', message: 'This fake only knows mode=subscription' })
      if (!price || !input.prices[price]) return stripeError(res, 400, { code: 'resource_missing', param: 'line_items[0][price]', message: `No such price: '${price}'` })
      if (!form.success_url) return stripeError(res, 400, { code: 'parameter_missing', param: 'success_url', message: 'Missing required param: success_url.' })
      const session = clone(fixture('checkout.session')) as Session
      const id = newId('cs_test')
      const metadata = Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v]))
      const subscriptionMetadata = Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith('subscription_data[metadata][')).map(([k, v]) => [k.slice(28, -1), v]))
      Object.assign(session, { id, created: nowSeconds(), expires_at: nowSeconds() + DAY, url: `${base}/c/pay/${id}`, success_url: form.success_url, cancel_url: form.cancel_url ?? null, client_reference_id: form.client_reference_id ?? null, customer_email: form.customer_email ?? null, metadata, status: 'open', payment_status: 'unpaid', subscription: null, customer: null, amount_total: input.prices[price]!.amount, amount_subtotal: input.prices[price]!.amount })
      sessions.set(id, { ...session, price, subscriptionMetadata })
      return json(res, 200, session)
    }
    if (req.method === 'POST' && path === '/v1/billing_portal/sessions') {
      if (!form.customer || ![...subscriptions.values()].some((s) => s.customer === form.customer)) return stripeError(res, 400, { code: 'resource_missing', param: 'customer', message: `No such customer: '${form.customer}'` })
      const id = newId('bps')
      const portal: PortalSession = { id, object: 'billing_portal.session', configuration: 'bpc_1SbSwitchboardPortal', created: nowSeconds(), customer: form.customer, flow: null, livemode: false, locale: null, on_behalf_of: null, return_url: form.return_url ?? null, url: `${base}/p/session/${id}` }
      portals.set(id, portal)
      return json(res, 200, portal)
    }
    const subMatch = /^\/v1\/subscriptions\/([\w-]+)$/.exec(path)
    if (subMatch) {
      const sub = subscriptions.get(subMatch[1]!)
      if (!sub) return stripeError(res, 404, { code: 'resource_missing', param: 'id', message: `No such subscription: '${subMatch[1]}'` })
      if (req.method === 'POST' && form.cancel_at_period_end !== undefined) await setCancel(sub, form.cancel_at_period_end === 'true')
      return json(res, 200, sub)
    }
    stripeError(res, 404, { message: `Unrecognized request URL (${req.method}: ${path}).` })
  }

  async function pages(req: IncomingMessage, res: ServerResponse, path: string) {
    const pay = /^\/c\/pay\/([\w-]+)(\/confirm)?$/.exec(path)
    if (pay) {
      const session = sessions.get(pay[1]!)
      if (!session) return html(res, 404, 'Something went wrong', '<p>This checkout link is not valid.</p>')
      if (req.method === 'GET') {
        const price = input.prices[session.price]!
        return html(res, 200, 'Checkout', `<p>Subscribe to <strong>${escape(price.name)}</strong>: $${(price.amount / 100).toFixed(2)} per month</p><form method="post" action="/c/pay/${session.id}/confirm"><button type="submit">Subscribe</button></form>${session.cancel_url ? `<p><a href="${escape(session.cancel_url)}">Back</a></p>` : ''}`)
      }
      if (session.status !== 'open') return html(res, 409, 'Checkout', '<p>This checkout is complete already.</p>')
      const customer = newId('cus')
      const sub = subscriptionFrom(session, customer)
      subscriptions.set(sub.id, sub)
      Object.assign(session, { status: 'complete', payment_status: 'paid', customer, subscription: sub.id })
      try {
        await deliver('customer.subscription.created', clone(sub))
        await deliver('invoice.paid', invoiceFor(sub))
      } catch (error) {
        return html(res, 502, 'Checkout', `<p>${escape(String(error))}</p>`)
      }
      res.writeHead(303, { location: session.success_url! }).end()
      return
    }
    const portalMatch = /^\/p\/session\/([\w-]+)(?:\/(cancel|renew)\/([\w-]+))?$/.exec(path)
    if (portalMatch) {
      const portal = portals.get(portalMatch[1]!)
      if (!portal) return html(res, 404, 'Something went wrong', '<p>This portal link has expired.</p>')
      const own = [...subscriptions.values()].filter((s) => s.customer === portal.customer)
      if (req.method === 'POST' && portalMatch[2]) {
        const sub = own.find((s) => s.id === portalMatch[3])
        if (!sub) return html(res, 404, 'Something went wrong', '<p>No such subscription.</p>')
        try {
          await setCancel(sub, portalMatch[2] === 'cancel')
        } catch (error) {
          return html(res, 502, 'Customer portal', `<p>${escape(String(error))}</p>`)
        }
        res.writeHead(303, { location: `/p/session/${portal.id}` }).end()
        return
      }
      const rows = own
        .map((s) => {
          const item = s.items.data[0]!
          const name = input.prices[item.price.id]?.name ?? item.price.id
          const ends = new Date(item.current_period_end * 1000).toISOString().slice(0, 10)
          const state = s.cancel_at_period_end ? `Cancels on ${ends}` : `Renews on ${ends}`
          const action = s.cancel_at_period_end ? 'renew' : 'cancel'
          return `<li><strong>${escape(name)}</strong> <span class="state">${state}</span><form method="post" action="/p/session/${portal.id}/${action}/${s.id}"><button type="submit">${action === 'cancel' ? 'Cancel subscription' : 'Renew subscription'}</button></form></li>`
        })
        .join('')
      return html(res, 200, 'Customer portal', `<h2>Current subscription</h2><ul>${rows}</ul>${portal.return_url ? `<p><a href="${escape(portal.return_url)}">Return to Switchboard</a></p>` : ''}`)
    }
    html(res, 404, 'Not found', '<p>Not found.</p>')
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base)
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')))
      const isApi = url.pathname.startsWith('/v1/')
      if (isApi) requests.push({ method: req.method ?? 'GET', path: url.pathname, form })
      ;(isApi ? api(req, res, url.pathname, form) : pages(req, res, url.pathname)).catch((error: unknown) => {
        if (!res.headersSent) json(res, 500, { error: { type: 'api_error', message: String(error) } })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: base,
    webhook,
    sessions,
    subscriptions,
    portals,
    deliveries,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': newId('req') }).end(JSON.stringify(body))
}

export function html(res: ServerResponse, status: number, title: string, body: string) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`)
}

export const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
