import { AppError } from '../errors.ts'
import type { Clock, Logger } from '../ports.ts'
import type { Step } from '../conversation/pipeline.ts'
import { handOver, type HandoffOps } from '../conversation/steps.ts'
import { say } from '../language/index.ts'
import { billingState, type BillingState, type BillingSubscription, type Plan, type PlanLimits, type Plans } from './plans.ts'

export type { BillingSubscription } from './plans.ts'

// ---------- the port ----------

/** `quota_<percent>`: quota_80 and quota_100 by default, other percentages when the organization sets them. */
export type QuotaNotificationKind = `quota_${number}`
export const DEFAULT_NOTICE_THRESHOLDS = [80, 100]
export type BillingNotification = {
  id: string
  organizationId: string
  kind: string
  periodStart: Date
  message: string
  createdAt: Date
  readAt: Date | null
}
/** What an organization configures about its quota (kept in Organization.settings with other keys). */
export type OrganizationSettings = {
  /** Sent to a customer when the organization's responses are used up; a polite default otherwise. */
  quotaMessage?: string
  /** At the limit, also hand the conversation to a person. */
  handoffOnQuota?: boolean
  /** The percentages of the period's responses at which admins are told (once each per period); [80, 100] when unset. */
  quotaNoticeThresholds?: number[]
  /** Whether the notices also go to the admins' linked chats (Telegram, Slack...); they are always in the admin web. Default true. */
  quotaNoticeChats?: boolean
}

export type ReserveRequest = {
  organizationId: string
  messageId: string
  periodStart: Date
  periodEnd: Date
  /** The UTC day (midnight) the response is counted on, for the history. */
  day: Date
  /** Responses allowed in the period; null = unlimited. */
  limit: number | null
}
/**
 * ok + created: a new reservation, `used` counts it. ok without created: the message had one
 * already (`used` is its period's count now). Not ok: the period's responses are used up.
 */
export type ReserveOutcome = { ok: true; created: boolean; used: number } | { ok: false; used: number }

/** What the quota needs from the database. Implemented by adapters/db/billing-store.ts. */
export type BillingStore = {
  /** The organization's Subscription row, or null (a trial). */
  subscription(organizationId: string): Promise<BillingSubscription | null>
  /**
   * In one transaction: records a reservation for the message (at most one per messageId, ever),
   * adds one to the period's counter only while it is below `limit`, and one to the day's count.
   * Atomic under concurrency: N concurrent calls with M < N responses left give exactly M ok.
   */
  reserve(input: ReserveRequest): Promise<ReserveOutcome>
  /** Deletes the message's reservation and takes it off both counters; false when there was none. */
  release(input: { organizationId: string; messageId: string }): Promise<boolean>
  /** Responses counted in the period that starts at periodStart. */
  used(organizationId: string, periodStart: Date): Promise<number>
  /** Responses per UTC day with from <= day < to, days without any left out. */
  history(organizationId: string, input: { from: Date; to: Date }): Promise<{ day: string; responses: number }[]>
  /** Null when that organization has that kind of notification for that period already. */
  createNotification(input: { organizationId: string; kind: string; periodStart: Date; message: string }): Promise<BillingNotification | null>
  /** Newest first. */
  listNotifications(organizationId: string, input: { limit: number }): Promise<BillingNotification[]>
  /** Organization.settings ({} when the organization does not exist). */
  settings(organizationId: string): Promise<Record<string, unknown>>
  /** Merges the patch into Organization.settings (a null value removes the key); returns the result. */
  updateSettings(organizationId: string, patch: Record<string, unknown>): Promise<Record<string, unknown>>
}

// ---------- the service ----------

export type ReserveResult = { ok: true; used: number; limit: number | null; remaining: number | null } | { ok: false; used: number; limit: number | null }
export type CapKind = keyof PlanLimits
export type BillingSummary = {
  plan: { id: string; name: string; responsesPerPeriod: number | null; priceUsd: number; yearlyPriceUsd: number; limits: PlanLimits }
  interval: 'month' | 'year'
  subscription: { status: string; plan: string; interval: string; cancelAtPeriodEnd: boolean; pendingPlan: string | null; graceUntil: Date | null } | null
  period: { start: Date; end: Date }
  /** Responses allowed in this period (twelve months' worth on a yearly subscription); null = unlimited. */
  limit: number | null
  used: number
  remaining: number | null
  /** Every UTC day of the period up to today, oldest first. */
  history: { day: string; responses: number }[]
}

const CAP_WORDS: Record<CapKind, [string, string]> = {
  agents: ['agent', 'agents'],
  chunks: ['knowledge chunk', 'knowledge chunks'],
  channels: ['channel', 'channels'],
}
const plural = (n: number, [one, many]: [string, string]) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
const DAY_MS = 86_400_000
const utcDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()))
const isoDay = (d: Date) => d.toISOString().slice(0, 10)

/** Reads the quota settings out of Organization.settings, ignoring anything malformed. */
export function quotaSettings(raw: Record<string, unknown>): OrganizationSettings {
  const settings: OrganizationSettings = {}
  if (typeof raw.quotaMessage === 'string' && raw.quotaMessage.trim()) settings.quotaMessage = raw.quotaMessage.trim()
  if (typeof raw.handoffOnQuota === 'boolean') settings.handoffOnQuota = raw.handoffOnQuota
  const thresholds = cleanThresholds(raw.quotaNoticeThresholds)
  if (thresholds) settings.quotaNoticeThresholds = thresholds
  if (typeof raw.quotaNoticeChats === 'boolean') settings.quotaNoticeChats = raw.quotaNoticeChats
  return settings
}

/** Whole percentages from 1 to 100, sorted, without repeats (at most 10); undefined when there is none. */
export function cleanThresholds(raw: unknown): number[] | undefined {
  if (!Array.isArray(raw)) return undefined
  const values = [...new Set(raw.filter((v): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100))].sort((a, b) => a - b).slice(0, 10)
  return values.length ? values : undefined
}

/**
 * Responses per billing period: reservations that cannot exceed the plan (the database decides,
 * atomically), the admins' 80% / 100% notices once per period, the billing summary, and the
 * plan's caps on agents, knowledge and channels.
 */
export function createQuotaService(deps: {
  store: BillingStore
  plans: Plans
  clock?: Clock
  /**
   * Called once for each notification created (at each threshold): log it, tell the admins' chats.
   * `chats` is the organization's quotaNoticeChats (false: the admin web only).
   */
  notify?: (notification: BillingNotification, where: { chats: boolean }) => void | Promise<void>
  logger?: Pick<Logger, 'warn'>
  /** How long one process keeps an organization's settings before reading them again (ms); its own changes show at once. */
  settingsTtlMs?: number
}) {
  const { store, plans } = deps
  const now = () => deps.clock?.now() ?? new Date()
  // Notifications known to exist, so that a busy organization past 80% does not try to insert one per reply.
  const known = new Set<string>()

  /** `known`: the subscription as the caller read it just now (a turn reads it with its message); undefined: read it here. */
  async function state(organizationId: string, at = now(), known?: BillingSubscription | null): Promise<BillingState & { subscription: BillingSubscription | null }> {
    const subscription = known !== undefined ? known : await store.subscription(organizationId)
    return { ...billingState(subscription, at, plans), subscription }
  }

  async function reserve(input: { organizationId: string; messageId: string; subscription?: BillingSubscription | null }): Promise<ReserveResult> {
    const at = now()
    const s = await state(input.organizationId, at, input.subscription)
    const outcome = await store.reserve({ organizationId: input.organizationId, messageId: input.messageId, periodStart: s.period.start, periodEnd: s.period.end, day: utcDay(at), limit: s.limit })
    await noticeIfDue(input.organizationId, s, outcome.used)
    if (!outcome.ok) return { ok: false, used: outcome.used, limit: s.limit }
    return { ok: true, used: outcome.used, limit: s.limit, remaining: s.limit === null ? null : Math.max(0, s.limit - outcome.used) }
  }

  async function release(input: { organizationId: string; messageId: string }): Promise<{ released: boolean }> {
    return { released: await store.release(input) }
  }

  /** Creates the 80% / 100% notices the count has reached and that do not exist yet for the period. */
  async function noticeIfDue(organizationId: string, s: BillingState, used: number) {
    if (s.limit === null) return
    const limit = s.limit
    // Below the lowest threshold there can be nothing to tell: no settings read on most turns.
    if (used * 100 < limit * 1) return
    const settings = await cachedSettings(organizationId)
    const thresholds = settings.quotaNoticeThresholds ?? DEFAULT_NOTICE_THRESHOLDS
    const due = thresholds.filter((pct) => used * 100 >= limit * pct).map((pct) => `quota_${pct}` as QuotaNotificationKind)
    for (const kind of due) {
      const key = `${organizationId}|${kind}|${s.period.start.toISOString()}`
      if (known.has(key)) continue
      try {
        const created = await store.createNotification({ organizationId, kind, periodStart: s.period.start, message: noticeText(kind, s, used) })
        if (known.size > 50_000) known.clear()
        known.add(key)
        if (created) await deps.notify?.(created, { chats: settings.quotaNoticeChats !== false })
      } catch (error) {
        // The reservation stands; the next one tries again.
        deps.logger?.warn({ err: error, organizationId, kind }, 'quota notification failed')
      }
    }
  }

  function noticeText(kind: QuotaNotificationKind, s: BillingState, used: number): string {
    const renews = isoDay(s.period.end)
    const limit = s.limit ?? 0
    if (kind !== 'quota_100') {
      return `Your organization has used ${used.toLocaleString('en-US')} of ${limit.toLocaleString('en-US')} responses (${Math.floor((used * 100) / Math.max(1, limit))}%) of the ${s.plan.name} plan in the period that ends on ${renews}. Upgrade the plan to keep answering customers without interruption.`
    }
    return `Your organization has used all ${limit.toLocaleString('en-US')} responses of the ${s.plan.name} plan for the period that ends on ${renews}. Customers now get the quota message instead of answers until the period renews or the plan is upgraded.`
  }

  async function summary(organizationId: string): Promise<BillingSummary> {
    const at = now()
    const s = await state(organizationId, at)
    const used = await store.used(organizationId, s.period.start)
    const from = utcDay(s.period.start)
    const last = utcDay(new Date(Math.min(at.getTime(), s.period.end.getTime() - 1)))
    const counted = new Map((await store.history(organizationId, { from, to: new Date(last.getTime() + DAY_MS) })).map((d) => [d.day, d.responses]))
    const history: BillingSummary['history'] = []
    for (let d = from.getTime(); d <= last.getTime(); d += DAY_MS) {
      const day = isoDay(new Date(d))
      history.push({ day, responses: counted.get(day) ?? 0 })
    }
    const { plan, subscription } = s
    return {
      plan: { id: plan.id, name: plan.name, responsesPerPeriod: plan.responsesPerPeriod, priceUsd: plan.priceUsd, yearlyPriceUsd: plan.yearlyPriceUsd, limits: { ...plan.limits } },
      interval: s.interval,
      subscription: subscription
        ? { status: subscription.status, plan: subscription.plan, interval: subscription.interval, cancelAtPeriodEnd: subscription.cancelAtPeriodEnd ?? false, pendingPlan: subscription.pendingPlan ?? null, graceUntil: subscription.graceUntil ?? null }
        : null,
      period: { start: s.period.start, end: s.period.end },
      limit: s.limit,
      used,
      remaining: s.limit === null ? null : Math.max(0, s.limit - used),
      history,
    }
  }

  /** The organization's plan now. */
  async function plan(organizationId: string): Promise<Plan> {
    return (await state(organizationId)).plan
  }

  /**
   * Throws AppError `plan_limit` (402) when adding `adding` to `current` would pass the plan's cap
   * on agents, knowledge chunks or channels. Unlimited caps never throw.
   */
  async function checkCap(input: { organizationId: string; kind: CapKind; adding: number; current: number }): Promise<void> {
    const current = await plan(input.organizationId)
    const cap = current.limits[input.kind]
    if (cap === null || input.current + input.adding <= cap) return
    const words = CAP_WORDS[input.kind]
    const message =
      input.kind === 'chunks'
        ? `The ${current.name} plan allows ${plural(cap, words)}; this organization has ${plural(input.current, words)} and this would add ${input.adding.toLocaleString('en-US')}. Upgrade the plan or remove some knowledge first.`
        : `The ${current.name} plan allows ${plural(cap, words)}; this organization has ${plural(input.current, words)}. Upgrade the plan or remove one first.`
    throw new AppError('plan_limit', message, 402, { plan: current.id, kind: input.kind, cap, current: input.current, adding: input.adding })
  }

  async function settings(organizationId: string): Promise<OrganizationSettings> {
    const read = quotaSettings(await store.settings(organizationId))
    settingsCache.set(organizationId, { at: Date.now(), settings: read })
    return read
  }

  // The notice thresholds are needed on busy turns past the lowest one: kept a few seconds per process.
  const settingsCache = new Map<string, { at: number; settings: OrganizationSettings }>()
  async function cachedSettings(organizationId: string): Promise<OrganizationSettings> {
    const hit = settingsCache.get(organizationId)
    if (hit && Date.now() - hit.at < (deps.settingsTtlMs ?? 5_000)) return hit.settings
    if (settingsCache.size > 10_000) settingsCache.clear()
    return settings(organizationId)
  }

  /** `null` resets a setting to its default. */
  async function updateSettings(organizationId: string, patch: { quotaMessage?: string | null; handoffOnQuota?: boolean | null; quotaNoticeThresholds?: number[] | null; quotaNoticeChats?: boolean | null }): Promise<OrganizationSettings> {
    const clean: Record<string, unknown> = {}
    if (patch.quotaMessage !== undefined) clean.quotaMessage = patch.quotaMessage === null ? null : patch.quotaMessage.trim()
    if (patch.handoffOnQuota !== undefined) clean.handoffOnQuota = patch.handoffOnQuota
    if (patch.quotaNoticeThresholds !== undefined) clean.quotaNoticeThresholds = patch.quotaNoticeThresholds === null ? null : (cleanThresholds(patch.quotaNoticeThresholds) ?? null)
    if (patch.quotaNoticeChats !== undefined) clean.quotaNoticeChats = patch.quotaNoticeChats
    if (Object.keys(clean).length === 0) return settings(organizationId)
    const saved = quotaSettings(await store.updateSettings(organizationId, clean))
    settingsCache.set(organizationId, { at: Date.now(), settings: saved })
    return saved
  }

  const notifications = (organizationId: string, input: { limit?: number } = {}) => store.listNotifications(organizationId, { limit: Math.min(Math.max(input.limit ?? 50, 1), 200) })

  return { reserve, release, summary, checkCap, plan, settings, updateSettings, notifications }
}

export type QuotaService = ReturnType<typeof createQuotaService>

// ---------- the turn step ----------

// The English built-in texts; the customer gets them in the conversation's language (core/language/messages.ts).
export const DEFAULT_QUOTA_MESSAGE = say('en', 'quotaUsedUp')
export const DEFAULT_QUOTA_HANDOFF_MESSAGE = say('en', 'quotaHandedOver')

/**
 * Billing quota in the turn pipeline. A billable turn reserves one response for its customer
 * message before anything is answered; at the limit the customer gets the organization's quota
 * message (or a polite default) and, if configured, a person. A turn that fails or ends without a
 * reply gives its reservation back. Non-billable turns (admins' test chats) pass through.
 */
export function quotaStep(deps: {
  quota: Pick<QuotaService, 'reserve' | 'release' | 'settings'>
  /** Opens the handoff when the organization hands customers over at the limit. */
  handoffs?: HandoffOps
  /** Replaces the built-in message (in the conversation's language) when the organization set none. */
  defaultMessage?: string
  /** Used instead of defaultMessage when the conversation was handed to a person. */
  defaultHandoffMessage?: string
  /** The organization's settings; defaults to quota.settings. */
  settingsOf?: (organizationId: string) => Promise<OrganizationSettings>
}): Step {
  const settingsOf = deps.settingsOf ?? ((id: string) => deps.quota.settings(id))
  return {
    name: 'quota',
    async run(ctx, next) {
      if (!ctx.billable) return next()
      const organizationId = ctx.conversation.organizationId
      const reservation = { organizationId, messageId: ctx.message.id }
      // The subscription was read with the turn's message when it began (fresh: never cached).
      const result = await deps.quota.reserve(ctx.subscription !== undefined ? { ...reservation, subscription: ctx.subscription } : reservation)
      if (!result.ok) {
        const settings = await settingsOf(organizationId)
        const handoff = settings.handoffOnQuota === true && ctx.conversation.state === 'bot' && deps.handoffs !== undefined
        if (handoff) await handOver(ctx, deps.handoffs!, 'quota_exceeded')
        ctx.reply = { author: 'system', text: settings.quotaMessage ?? (handoff ? (deps.defaultHandoffMessage ?? say(ctx.language, 'quotaHandedOver')) : (deps.defaultMessage ?? say(ctx.language, 'quotaUsedUp'))) }
        ctx.billable = false
        ctx.log.info({ organizationId, used: result.used, limit: result.limit, handoff }, 'quota reached: customer got the quota message')
        return
      }
      const giveBack = async (why: string) => {
        try {
          await deps.quota.release(reservation)
        } catch (error) {
          ctx.log.warn({ err: error, why }, 'releasing the quota reservation failed')
        }
      }
      try {
        await next()
      } catch (error) {
        await giveBack('turn failed')
        throw error
      }
      if (!ctx.reply || !ctx.billable) await giveBack('no billable reply')
    },
  }
}
