import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { escape, html } from './fake-stripe.ts'

/**
 * A local Lemon Squeezy for tests and trials: the parts of its API (JSON:API) and hosted pages the
 * product uses, answering with the documented shapes (tests/fixtures/lemonsqueezy/README.md names
 * the sources).
 *
 * API (`Authorization: Bearer <api key>`, `application/vnd.api+json`):
 * - POST /v1/checkouts: a Checkout object; `data.attributes.url` is the hosted checkout below;
 * - GET /v1/subscriptions/:id: the Subscription object, with `urls.customer_portal` (the portal below);
 * - DELETE /v1/subscriptions/:id (cancel), PATCH /v1/subscriptions/:id `{ cancelled: false }` (resume).
 * Hosted pages:
 * - GET /checkout/custom/:id: the checkout; "Pay" creates the subscription, delivers
 *   `subscription_created` and `subscription_payment_success` (signed: `X-Signature` = hex
 *   HMAC-SHA256 of the raw body, `X-Event-Name`), then redirects to product_options.redirect_url;
 * - GET /billing?user=<customer id>&signature=...: the customer portal: cancel (delivers
 *   `subscription_cancelled`) or resume (`subscription_resumed`).
 */

type Json = Record<string, unknown>
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`../fixtures/lemonsqueezy/${name}.json`, import.meta.url), 'utf8')) as Json
const iso = (ms = Date.now()) => new Date(ms).toISOString().replace(/Z$/, '000Z')
const DAY_MS = 86_400_000

type Checkout = { id: string; variantId: string; custom: Json; redirectUrl: string | null; email: string | null; paid: boolean; body: Json }
type Subscription = { id: string; customerId: number; attributes: Json & { status: string; cancelled: boolean; renews_at: string; ends_at: string | null; variant_id: number }; custom: Json }

export type FakeLemonSqueezy = {
  url: string
  webhook: { url?: string; secret: string }
  checkouts: Map<string, Checkout>
  subscriptions: Map<string, Subscription>
  deliveries: { event: string; status: number }[]
  requests: { method: string; path: string; body: unknown }[]
  close(): Promise<void>
}

export async function startFakeLemonSqueezy(input: { apiKey: string; storeId: string; webhookSecret: string; variants: Record<string, { name: string; amount: number }>; webhookUrl?: string }): Promise<FakeLemonSqueezy> {
  const checkouts: FakeLemonSqueezy['checkouts'] = new Map()
  const subscriptions: FakeLemonSqueezy['subscriptions'] = new Map()
  const deliveries: FakeLemonSqueezy['deliveries'] = []
  const requests: FakeLemonSqueezy['requests'] = []
  const webhook: FakeLemonSqueezy['webhook'] = { url: input.webhookUrl, secret: input.webhookSecret }
  let base = ''
  let seq = 5000

  const jsonApi = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/vnd.api+json' }).end(JSON.stringify(body))
  const apiError = (res: ServerResponse, status: number, detail: string) => jsonApi(res, status, { jsonapi: { version: '1.0' }, errors: [{ detail, status: String(status), title: status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Unprocessable Entity' }] })
  const portalUrl = (sub: Subscription) => `${base}/billing?expires=${Math.floor((Date.now() + DAY_MS) / 1000)}&user=${sub.customerId}&signature=${sign(`portal:${sub.customerId}`)}`
  const sign = (text: string) => createHmac('sha256', input.webhookSecret).update(text).digest('hex')

  function subscriptionObject(sub: Subscription): Json {
    const envelope = structuredClone(fixture('subscription_created').data as Json)
    return { ...envelope, id: sub.id, attributes: { ...sub.attributes, urls: { update_payment_method: `${base}/subscription/${sub.id}/payment-details?signature=${sign(`pm:${sub.id}`)}`, customer_portal: portalUrl(sub) } }, links: { self: `${base}/v1/subscriptions/${sub.id}` } }
  }

  async function deliver(event: string, data: Json, custom: Json) {
    if (!webhook.url) throw new Error('fake Lemon Squeezy: no webhook URL set')
    const meta = { ...(fixture('subscription_created').meta as Json), event_name: event, custom_data: custom }
    const body = JSON.stringify({ meta, data })
    const res = await fetch(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-event-name': event, 'x-signature': createHmac('sha256', webhook.secret).update(body).digest('hex') }, body })
    await res.text()
    deliveries.push({ event, status: res.status })
    if (!res.ok) throw new Error(`the webhook endpoint answered ${res.status} to ${event}`)
  }

  async function setCancelled(sub: Subscription, cancelled: boolean) {
    Object.assign(sub.attributes, cancelled ? { status: 'cancelled', status_formatted: 'Cancelled', cancelled: true, ends_at: sub.attributes.renews_at } : { status: 'active', status_formatted: 'Active', cancelled: false, ends_at: null }, { updated_at: iso() })
    await deliver(cancelled ? 'subscription_cancelled' : 'subscription_resumed', subscriptionObject(sub), sub.custom)
  }

  async function pay(checkout: Checkout) {
    const now = Date.now()
    const id = String(++seq)
    const customerId = 7000 + seq
    const template = fixture('subscription_created').data as { attributes: Json }
    const variant = input.variants[checkout.variantId]!
    const sub: Subscription = {
      id,
      customerId,
      custom: checkout.custom,
      attributes: {
        ...(template.attributes as Subscription['attributes']),
        store_id: Number(input.storeId),
        customer_id: customerId,
        variant_id: Number(checkout.variantId),
        variant_name: variant.name,
        user_email: checkout.email ?? 'customer@example.com',
        status: 'active',
        status_formatted: 'Active',
        cancelled: false,
        renews_at: iso(now + 30 * DAY_MS),
        ends_at: null,
        created_at: iso(now),
        updated_at: iso(now),
        first_subscription_item: { ...(template.attributes.first_subscription_item as Json), subscription_id: Number(id) },
      },
    }
    subscriptions.set(id, sub)
    checkout.paid = true
    await deliver('subscription_created', subscriptionObject(sub), sub.custom)
    const invoice = structuredClone(fixture('subscription_payment_success').data as Json & { attributes: Json })
    Object.assign(invoice, { id: String(4000 + seq), links: { self: `${base}/v1/subscription-invoices/${4000 + seq}` } })
    Object.assign(invoice.attributes, { subscription_id: Number(id), customer_id: customerId, store_id: Number(input.storeId), subtotal: variant.amount, total: variant.amount, created_at: iso(), updated_at: iso() })
    await deliver('subscription_payment_success', invoice, sub.custom)
  }

  async function api(req: IncomingMessage, res: ServerResponse, path: string, body: unknown) {
    if (req.headers.authorization !== `Bearer ${input.apiKey}`) return apiError(res, 401, 'Unauthenticated.')
    if (req.method === 'POST' && path === '/v1/checkouts') {
      const b = body as { data?: { attributes?: { checkout_data?: { custom?: Json; email?: string }; product_options?: { redirect_url?: string } }; relationships?: { store?: { data?: { id?: string } }; variant?: { data?: { id?: string } } } } } | undefined
      const variantId = b?.data?.relationships?.variant?.data?.id
      if (b?.data?.relationships?.store?.data?.id !== input.storeId) return apiError(res, 422, 'The related resource does not exist.')
      if (!variantId || !input.variants[variantId]) return apiError(res, 422, 'The related resource does not exist.')
      const id = randomUUID()
      const created = structuredClone(fixture('checkout-created')) as { data: Json & { attributes: Json }; links: Json }
      const attrs = b.data!.attributes ?? {}
      Object.assign(created.data, { id })
      Object.assign(created.data.attributes, {
        store_id: Number(input.storeId),
        variant_id: Number(variantId),
        product_options: { ...(created.data.attributes.product_options as Json), redirect_url: attrs.product_options?.redirect_url ?? '', enabled_variants: [Number(variantId)] },
        checkout_data: { ...(created.data.attributes.checkout_data as Json), email: attrs.checkout_data?.email ?? '', custom: attrs.checkout_data?.custom ?? [] },
        created_at: iso(),
        updated_at: iso(),
        url: `${base}/checkout/custom/${id}?signature=${randomBytes(32).toString('hex')}`,
      })
      created.links = { self: `${base}/v1/checkouts/${id}` }
      checkouts.set(id, { id, variantId, custom: attrs.checkout_data?.custom ?? {}, redirectUrl: attrs.product_options?.redirect_url ?? null, email: attrs.checkout_data?.email ?? null, paid: false, body: created })
      return jsonApi(res, 201, created)
    }
    const m = /^\/v1\/subscriptions\/(\d+)$/.exec(path)
    if (m) {
      const sub = subscriptions.get(m[1]!)
      if (!sub) return apiError(res, 404, 'Not found.')
      if (req.method === 'DELETE') await setCancelled(sub, true)
      else if (req.method === 'PATCH') {
        const cancelled = (body as { data?: { attributes?: { cancelled?: unknown } } } | undefined)?.data?.attributes?.cancelled
        if (cancelled === false) await setCancelled(sub, false)
      }
      return jsonApi(res, 200, { jsonapi: { version: '1.0' }, links: { self: `${base}/v1/subscriptions/${sub.id}` }, data: subscriptionObject(sub) })
    }
    apiError(res, 404, 'Not found.')
  }

  async function pages(req: IncomingMessage, res: ServerResponse, url: URL) {
    const c = /^\/checkout\/custom\/([\w-]+)(\/pay)?$/.exec(url.pathname)
    if (c) {
      const checkout = checkouts.get(c[1]!)
      if (!checkout) return html(res, 404, 'Checkout not found', '<p>This checkout link is not valid.</p>')
      if (req.method === 'GET') {
        const variant = input.variants[checkout.variantId]!
        return html(res, 200, 'Checkout', `<p>${escape(variant.name)}: $${(variant.amount / 100).toFixed(2)} per month</p><form method="post" action="/checkout/custom/${checkout.id}/pay"><button type="submit">Pay</button></form>`)
      }
      if (checkout.paid) return html(res, 409, 'Checkout', '<p>This checkout is complete already.</p>')
      try {
        await pay(checkout)
      } catch (error) {
        return html(res, 502, 'Checkout', `<p>${escape(String(error))}</p>`)
      }
      res.writeHead(303, { location: checkout.redirectUrl || `${base}/thank-you` }).end()
      return
    }
    if (url.pathname === '/billing' || /^\/billing\/(cancel|resume)\/\d+$/.test(url.pathname)) {
      const user = url.searchParams.get('user') ?? ''
      if (url.searchParams.get('signature') !== sign(`portal:${user}`)) return html(res, 403, 'Invalid signature', '<p>This link has expired.</p>')
      const own = [...subscriptions.values()].filter((s) => String(s.customerId) === user)
      const action = /^\/billing\/(cancel|resume)\/(\d+)$/.exec(url.pathname)
      if (req.method === 'POST' && action) {
        const sub = own.find((s) => s.id === action[2])
        if (!sub) return html(res, 404, 'Not found', '<p>No such subscription.</p>')
        try {
          await setCancelled(sub, action[1] === 'cancel')
        } catch (error) {
          return html(res, 502, 'Billing', `<p>${escape(String(error))}</p>`)
        }
        res.writeHead(303, { location: `/billing${url.search}` }).end()
        return
      }
      const rows = own
        .map((s) => {
          const name = input.variants[String(s.attributes.variant_id)]?.name ?? String(s.attributes.variant_id)
          const act = s.attributes.cancelled ? 'resume' : 'cancel'
          return `<li><strong>${escape(name)}</strong> <span class="state">${s.attributes.cancelled ? `Ends on ${String(s.attributes.ends_at).slice(0, 10)}` : `Renews on ${s.attributes.renews_at.slice(0, 10)}`}</span><form method="post" action="/billing/${act}/${s.id}${escape(url.search)}"><button type="submit">${act === 'cancel' ? 'Cancel subscription' : 'Resume subscription'}</button></form></li>`
        })
        .join('')
      return html(res, 200, 'Billing', `<ul>${rows}</ul>`)
    }
    html(res, 404, 'Not found', '<p>Not found.</p>')
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', base)
      const text = Buffer.concat(chunks).toString('utf8')
      let body: unknown
      try {
        body = text ? JSON.parse(text) : undefined
      } catch {
        body = undefined
      }
      const isApi = url.pathname.startsWith('/v1/')
      if (isApi) requests.push({ method: req.method ?? 'GET', path: url.pathname, body })
      ;(isApi ? api(req, res, url.pathname, body) : pages(req, res, url)).catch((error: unknown) => {
        if (!res.headersSent) apiError(res, 500, String(error))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    url: base,
    webhook,
    checkouts,
    subscriptions,
    deliveries,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
