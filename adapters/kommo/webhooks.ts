import { timingSafeEqual } from 'node:crypto'
import express, { type Request, type Response } from 'express'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import { newId } from '../../core/ids.ts'
import type { JobContext, Logger, Queue, Store } from '../../core/ports.ts'
import { storableJson } from '../../core/security/storable-text.ts'
import type { Database } from '../db/database.ts'
import type { Prisma } from '../db/generated/client.ts'
import { redact } from './client.ts'
import { webhookTokenHash, type KommoCatalog, type KommoConnections, type KommoState } from './connection.ts'
import { leadSchema } from './schemas.ts'

/*
 * Kommo's CRM webhooks (https://www.amocrm.ru/developers/content/crm_platform/webhooks-format, mirror
 * amo-docs crm_platform/webhooks-format.md; registration in ./connection.ts). Kommo POSTs
 * `application/x-www-form-urlencoded` with PHP-style keys, e.g.
 *
 *   leads[status][0][id]=25399013&leads[status][0][status_id]=142&leads[status][0][old_status_id]=7039101
 *   &leads[status][0][pipeline_id]=...&account[subdomain]=acme&account[id]=7039099&account[_links][self]=...
 *
 * signs nothing, waits 2 s for a 100–299 answer, retries after 5 and 15 minutes (then after 15
 * minutes and an hour on 499/5xx), and disables a webhook with more than 100 invalid answers in two
 * hours. So, per POST /webhooks/kommo-crm/{connectionId}?token=...:
 *
 * - the token is checked against the connection's stored hash in constant time, and the body's
 *   account[id] against the connection's account: 401 otherwise, nothing stored;
 * - the body is parsed here from its raw bytes, without the depth (5) and array (20) limits of
 *   Express's `qs` (a body names up to 50 leads and their custom fields), keys `__proto__`,
 *   `constructor` and `prototype` skipped; malformed → 400;
 * - each lead event (leads[add|update|status|responsible|restore|delete][n]) is stored as a
 *   CrmEvent and answered 200 at once; Kommo is never called before answering;
 * - a job (crm.kommo_event) reads the lead again (GET /api/v4/leads/{id}) before acting on it: the
 *   body is a notice, never the truth. A lead mirrored as a built-in lead gets Kommo's stage (the
 *   status's name in the synced catalog, read again when the status is new), title and price; a
 *   change of responsible user is recorded in the audit log. A lead Switchboard does not mirror is
 *   ignored.
 */

export const KOMMO_EVENT_JOB = 'crm.kommo_event'
/** The route (registered before the channels' /webhooks/:kind/:inboxId). */
export const KOMMO_WEBHOOK_ROUTE = '/webhooks/kommo-crm/:connectionId'

/** What a body may hold at most: Kommo's bodies are a few kilobytes per lead. */
export const MAX_FORM_BYTES = 2 * 1024 * 1024
/** Nesting far beyond any Kommo body (leads[update][0][custom_fields][0][values][0][enum] is 7), against a stack-deep key. */
export const MAX_FORM_DEPTH = 64
/** A retry of the same delivery (same item, same modification time) within this long is stored once. */
const DEDUPE_WINDOW_MS = 2 * 3600_000
/** When a status (or user) is not in the catalog, the account is read again, at most this often per connection. */
const RESYNC_MIN_MS = 60_000
const KEEP_EVENTS_MS = 30 * 24 * 3600_000
const LEAD_ACTIONS = new Set(['add', 'update', 'status', 'responsible', 'restore', 'delete'])
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

export type FormValue = string | FormValue[] | { [key: string]: FormValue }
export type FormObject = { [key: string]: FormValue }

class MalformedBody extends AppError {
  constructor(message: string) {
    super('invalid_payload', message, 400)
  }
}

type Node = Map<string, Node | string>

/**
 * An `application/x-www-form-urlencoded` body with PHP-style keys as nested objects:
 * `a[b][0][c]=1` → `{ a: { b: [{ c: '1' }] } }`. Objects whose keys are all indices become arrays
 * in index order (compacted: `a[7]=x` is `['x']`, so a huge index allocates nothing); `a[]=x`
 * appends. No limit on depth (but MAX_FORM_DEPTH, against a key built to overflow the stack) nor
 * on the number of items (but the size). Repeated keys: the last wins (as PHP). Keys
 * `__proto__`, `constructor`, `prototype` are skipped, and objects are built without prototypes.
 * Throws a 400 AppError on a bad %-escape, a key both a value and an object, or too much.
 */
export function parseForm(raw: string, limits: { maxBytes?: number; maxDepth?: number } = {}): FormObject {
  const maxBytes = limits.maxBytes ?? MAX_FORM_BYTES
  const maxDepth = limits.maxDepth ?? MAX_FORM_DEPTH
  if (Buffer.byteLength(raw, 'utf8') > maxBytes) throw new MalformedBody(`The body is larger than ${maxBytes} bytes`)
  const root: Node = new Map()
  for (const pair of raw.split('&')) {
    if (!pair) continue
    const eq = pair.indexOf('=')
    const key = decode(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1))
    const path = keyPath(key)
    if (path.length > maxDepth) throw new MalformedBody(`A key is nested deeper than ${maxDepth} levels`)
    if (path.some((segment) => UNSAFE_KEYS.has(segment))) continue
    let node = root
    for (let i = 0; i < path.length; i++) {
      let segment = path[i]!
      if (segment === '' && i > 0) {
        let n = node.size
        while (node.has(String(n))) n++
        segment = String(n)
      }
      if (i === path.length - 1) {
        if (node.get(segment) instanceof Map) throw new MalformedBody(`The key ${JSON.stringify(key.slice(0, 100))} is both a value and a group`)
        node.set(segment, value)
        break
      }
      const next = node.get(segment)
      if (typeof next === 'string') throw new MalformedBody(`The key ${JSON.stringify(key.slice(0, 100))} is both a value and a group`)
      if (next) node = next
      else {
        const created: Node = new Map()
        node.set(segment, created)
        node = created
      }
    }
  }
  return finish(root) as FormObject
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    throw new MalformedBody('The body has a malformed %-escape')
  }
}

/** `leads[status][0][id]` → ['leads', 'status', '0', 'id']; a key that is not of that shape is one name. */
function keyPath(key: string): string[] {
  const open = key.indexOf('[')
  if (open <= 0) return [key]
  const path = [key.slice(0, open)]
  let at = open
  while (at < key.length) {
    if (key[at] !== '[') return [key]
    const close = key.indexOf(']', at)
    if (close < 0) return [key]
    const segment = key.slice(at + 1, close)
    if (segment.includes('[')) return [key]
    path.push(segment)
    at = close + 1
  }
  return path
}

const INDEX = /^(?:0|[1-9]\d{0,15})$/

function finish(node: Node): FormValue {
  const entries = [...node.entries()]
  const value = (v: Node | string): FormValue => (typeof v === 'string' ? v : finish(v))
  if (entries.length && entries.every(([k]) => INDEX.test(k))) {
    return entries.sort((a, b) => Number(a[0]) - Number(b[0])).map(([, v]) => value(v))
  }
  const out: FormObject = Object.create(null) as FormObject
  for (const [k, v] of entries) out[k] = value(v)
  return out
}

const isObject = (v: FormValue | undefined): v is FormObject => typeof v === 'object' && v !== null && !Array.isArray(v)

export type KommoLeadEvent = { kind: string; entityId: string; payload: FormObject }

/**
 * The lead events of a parsed body: every item of leads[add|update|status|responsible|restore|delete],
 * each with its lead's id (an item may be just the id, as deletions are). Other entities (contacts,
 * tasks, ...) and actions are not Switchboard's: left out. A lead item without an id is malformed.
 */
export function leadEventsOf(body: FormObject): KommoLeadEvent[] {
  const leads = body.leads
  if (leads === undefined) return []
  if (!isObject(leads)) throw new MalformedBody('`leads` is not a group of events')
  const events: KommoLeadEvent[] = []
  for (const [action, group] of Object.entries(leads)) {
    if (!LEAD_ACTIONS.has(action)) continue
    // A list of items; one item without its index (leads[delete][id]=...); or just an id.
    const items = Array.isArray(group) ? group : isObject(group) ? ('id' in group ? [group] : Object.values(group)) : [group]
    for (const item of items) {
      const payload: FormObject = isObject(item) ? item : { id: typeof item === 'string' ? item : '' }
      const id = payload.id
      if (typeof id !== 'string' || !/^[1-9]\d{0,18}$/.test(id)) throw new MalformedBody(`An item of leads[${action}] has no lead id`)
      events.push({ kind: `lead.${action}`, entityId: id, payload })
    }
  }
  return events
}

/** JSON with keys in order, to compare two payloads. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value)
}

const jobSchema = z.object({ eventId: z.string().min(1).max(64) })
type EventRow = Prisma.CrmEventGetPayload<object>
type Connected = Extract<KommoState, { connected: true }>

export function createKommoWebhooks(deps: {
  db: Database
  kommo: KommoConnections
  queue: Queue
  logger: Logger
  audit: Store['audit']
  now?: () => Date
  /** A mirrored lead moved to another stage in Kommo (Kommo chats hand conversations back to the bot on a chosen stage). */
  onLeadMoved?: (event: { organizationId: string; contactId: string; statusId: number; pipelineId: number }) => Promise<unknown>
}) {
  const prisma = deps.db.prisma
  const now = deps.now ?? (() => new Date())
  // A wrong connection id costs the same comparison as a wrong token.
  const NO_HASH = Buffer.alloc(32)
  /** When each connection's catalog was last read again for an event (a burst of events for a new status reads it once). */
  const resynced = new Map<string, number>()

  const enqueue = (event: Pick<EventRow, 'id' | 'connectionId' | 'entityId'>) =>
    deps.queue.add(KOMMO_EVENT_JOB, { eventId: event.id }, { jobId: `${KOMMO_EVENT_JOB}:${event.id}`, groupKey: `${event.connectionId}:${event.entityId}`, attempts: 5, backoffMs: 5_000 })

  function tokenMatches(storedHash: string | null | undefined, token: string): boolean {
    const given = Buffer.from(webhookTokenHash(token), 'hex')
    const stored = storedHash && /^[0-9a-f]{64}$/.test(storedHash) ? Buffer.from(storedHash, 'hex') : NO_HASH
    return timingSafeEqual(given, stored) && stored !== NO_HASH && token.length > 0
  }

  /** Events identical to one received lately (Kommo's retries of a delivery we answered too late) are left out. */
  async function fresh(connectionId: string, events: KommoLeadEvent[]): Promise<KommoLeadEvent[]> {
    // Only items with their modification time can be told apart from a later, identical-looking change.
    const dated = events.filter((e) => typeof e.payload.last_modified === 'string' || typeof e.payload.updated_at === 'string')
    if (!dated.length) return events
    const recent = await prisma.crmEvent.findMany({
      where: { connectionId, entityId: { in: [...new Set(dated.map((e) => e.entityId))] }, createdAt: { gte: new Date(now().getTime() - DEDUPE_WINDOW_MS) }, status: { in: ['pending', 'done'] } },
      select: { kind: true, entityId: true, payload: true },
    })
    const seen = new Set(recent.map((r) => `${r.kind}|${r.entityId}|${stable(r.payload)}`))
    return events.filter((e) => {
      const key = `${e.kind}|${e.entityId}|${stable(e.payload)}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  }

  const router = express.Router()
  const refuse = (res: Response, status: number, code: string, message: string) => void res.status(status).json({ error: { code, message } })

  router.all(KOMMO_WEBHOOK_ROUTE, async (req: Request, res: Response) => {
    if (req.method !== 'POST') return void res.status(405).set('Allow', 'POST').json({ error: { code: 'method_not_allowed', message: "Kommo's webhooks are POST" } })
    const log = req.log ?? deps.logger
    const connectionId = String(req.params.connectionId)
    const token = typeof req.query.token === 'string' ? req.query.token : ''
    const row = /^[\w-]{1,64}$/.test(connectionId) ? await prisma.crmConnection.findUnique({ where: { id: connectionId } }) : null
    if (!tokenMatches(row?.webhookTokenHash, token) || !row) {
      log.warn({ connectionId: connectionId.slice(0, 64) }, 'Kommo webhook refused: unknown connection or wrong token')
      return refuse(res, 401, 'unauthorized', 'Invalid webhook secret')
    }
    const type = String(req.headers['content-type'] ?? '')
    const raw = req.rawBody ?? (Buffer.isBuffer(req.body) ? req.body : undefined)
    let body: FormObject
    let events: KommoLeadEvent[]
    try {
      if (!/^application\/x-www-form-urlencoded\b/i.test(type)) throw new MalformedBody('Kommo posts webhooks as application/x-www-form-urlencoded')
      if (!raw?.length) throw new MalformedBody('The body is empty')
      body = parseForm(raw.toString('utf8'))
      const account = body.account
      if (!isObject(account) || account.id !== row.accountId || !row.accountId) {
        log.warn({ connectionId }, 'Kommo webhook refused: another account')
        return refuse(res, 401, 'unauthorized', 'The webhook is from another account')
      }
      events = leadEventsOf(body)
    } catch (error) {
      if (!(error instanceof MalformedBody)) throw error
      log.warn({ connectionId, err: error.message }, 'Kommo webhook refused: malformed body')
      return refuse(res, 400, error.code, error.message)
    }
    const stored = (await fresh(row.id, events)).map((e) => ({ id: newId(), organizationId: row.organizationId, connectionId: row.id, kind: e.kind, entityId: e.entityId, payload: storableJson(e.payload) as Prisma.InputJsonValue, status: 'pending' }))
    if (stored.length) await prisma.crmEvent.createMany({ data: stored })
    res.status(200).json({ ok: true, received: events.length, stored: stored.length })
    log.info({ connectionId: row.id, organizationId: row.organizationId, received: events.length, stored: stored.length }, 'Kommo webhook received')
    // Stored before the answer; a job not queued now is queued again by recover() at the next start.
    for (const event of stored) await enqueue(event).catch((err) => log.warn({ eventId: event.id, err }, 'Kommo event not queued; picked up at the next start'))
  })

  function statusOf(catalog: KommoCatalog, pipelineId: number, statusId: number) {
    return catalog.pipelines.find((p) => p.id === pipelineId)?.statuses.find((s) => s.id === statusId) ?? null
  }

  /** What one event does; the returned text says why nothing was done (logged). */
  async function apply(event: EventRow): Promise<string> {
    const mirrors = await prisma.lead.findMany({ where: { organizationId: event.organizationId, externalId: event.entityId } })
    if (!mirrors.length) return 'not mirrored'
    let state = await deps.kommo.get(event.organizationId)
    if (!state.connected || state.id !== event.connectionId) return 'disconnected'
    const client = await deps.kommo.client(event.organizationId)
    if (!client) throw new AppError('crm_unavailable', `The Kommo connection is ${state.status}: ${state.statusReason ?? 'connect it again'}`, 409)
    const lead = await client.request({ method: 'GET', path: `/api/v4/leads/${event.entityId}`, schema: leadSchema })
    if (!lead) return 'not in Kommo (deleted)'
    let status = statusOf(state.catalog, lead.pipeline_id, lead.status_id)
    const user = () => (state as Connected).catalog.users.find((u) => u.id === lead.responsible_user_id) ?? null
    const allowed = now().getTime() - (resynced.get(event.connectionId) ?? 0) > RESYNC_MIN_MS
    if ((!status || (event.kind === 'lead.responsible' && !user())) && allowed) {
      // A status (or user) made since the account was read: read it again.
      resynced.set(event.connectionId, now().getTime())
      state = (await deps.kommo.sync(event.organizationId, { webhook: false })) as Connected
      status = statusOf(state.catalog, lead.pipeline_id, lead.status_id)
    }
    const stage = status?.name ?? String(lead.status_id)
    for (const mirror of mirrors) {
      const value = lead.price === null || lead.price === undefined || (lead.price === 0 && mirror.value === null) ? mirror.value : lead.price
      const owner = user()?.name ?? mirror.owner
      if (mirror.stage === stage && mirror.title === lead.name && mirror.value === value && mirror.owner === owner) continue
      await prisma.lead.updateMany({ where: { id: mirror.id, organizationId: event.organizationId }, data: { stage, title: lead.name || mirror.title, value, owner, updatedAt: now() } })
      if (mirror.stage !== stage) {
        deps.logger.info({ organizationId: event.organizationId, leadId: mirror.id, externalId: event.entityId, from: mirror.stage, to: stage }, 'Kommo moved a lead')
        await deps.onLeadMoved?.({ organizationId: event.organizationId, contactId: mirror.contactId, statusId: lead.status_id, pipelineId: lead.pipeline_id })
      }
    }
    if (event.kind === 'lead.responsible') {
      const previous = Number((event.payload as FormObject).old_responsible_user_id)
      for (const mirror of mirrors) {
        await deps.audit.record({
          organizationId: event.organizationId,
          actorUserId: null,
          action: 'crm.kommo_lead_responsible_changed',
          target: mirror.id,
          data: { externalId: event.entityId, responsibleUserId: lead.responsible_user_id, responsibleName: user()?.name ?? null, ...(Number.isInteger(previous) && previous > 0 ? { previousUserId: previous } : {}) },
        })
      }
    }
    return 'applied'
  }

  return {
    router,

    /** The job: one event applied, once; a failure is retried, and recorded on the event after the last attempt (or at once when retrying cannot help). */
    async process(data: unknown, ctx: JobContext): Promise<void> {
      const { eventId } = jobSchema.parse(data)
      const event = await prisma.crmEvent.findUnique({ where: { id: eventId } })
      if (!event || event.status !== 'pending') return
      try {
        const outcome = await apply(event)
        await prisma.crmEvent.updateMany({ where: { id: event.id, status: 'pending' }, data: { status: 'done', error: null } })
        deps.logger.debug({ eventId, kind: event.kind, externalId: event.entityId, outcome }, 'Kommo event done')
      } catch (error) {
        const lasting = error instanceof AppError && error.status < 500 && error.code !== 'crm_rate_limited'
        if (!lasting && ctx.attempt < ctx.maxAttempts) throw error
        const message = redact(error instanceof Error ? error.message : String(error)).slice(0, 1000)
        await prisma.crmEvent.updateMany({ where: { id: event.id, status: 'pending' }, data: { status: 'failed', error: message } })
        deps.logger.warn({ eventId, organizationId: event.organizationId, kind: event.kind, externalId: event.entityId, err: message }, 'Kommo event failed')
      }
    },

    /** At start: events stored but not applied (the process stopped, the queue refused) are queued again; old ones are deleted. */
    async recover(): Promise<number> {
      await prisma.crmEvent.deleteMany({ where: { status: { in: ['done', 'failed'] }, createdAt: { lt: new Date(now().getTime() - KEEP_EVENTS_MS) } } })
      const pending = await prisma.crmEvent.findMany({ where: { status: 'pending' }, orderBy: { createdAt: 'asc' }, take: 10_000, select: { id: true, connectionId: true, entityId: true } })
      for (const event of pending) await enqueue(event)
      return pending.length
    },
  }
}

export type KommoWebhooks = ReturnType<typeof createKommoWebhooks>
