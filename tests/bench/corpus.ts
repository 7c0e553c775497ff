import type { App } from '../../bots/app.ts'
/**
 * A deterministic knowledge base for the benchmarks: 30 product-help articles in Markdown, each
 * with 10 sections of 2–4 sentences, so each section becomes one chunk (~300 chunks in all), and
 * one question per section that the section answers. Every article has its own vocabulary, so
 * retrieval has to pick the right article, not just the right kind of section.
 */

export type BenchArticle = { title: string; content: string }
export type BenchQuestion = { text: string; article: string; section: string }
export type BenchCorpus = { articles: BenchArticle[]; questions: BenchQuestion[] }

type Topic = {
  title: string
  /** singular and plural of the thing the article is about */
  one: string
  many: string
  /** eight words that belong to this topic only */
  terms: string[]
  /** a partner system it connects to */
  partner: string
  /** who usually manages it */
  role: string
}

const T = (title: string, one: string, many: string, terms: string, partner: string, role: string): Topic => ({ title, one, many, terms: terms.split(','), partner, role })

const TOPICS: Topic[] = [
  T('Gift cards', 'gift card', 'gift cards', 'denomination,balance,redeem,recipient,barcode,reload,voucher,engraving', 'Square', 'store manager'),
  T('Shipping rates', 'shipping rate', 'shipping rates', 'parcel,carrier,weight,zone,courier,pallet,tracking,oversize', 'ShipStation', 'fulfilment lead'),
  T('Returns and refunds', 'return request', 'return requests', 'refund,restocking,receipt,exchange,label,inspection,credit,damaged', 'Loop', 'support supervisor'),
  T('Subscriptions', 'subscription', 'subscriptions', 'renewal,trial,proration,cancellation,upgrade,downgrade,dunning,anniversary', 'Recharge', 'billing admin'),
  T('Invoices', 'invoice', 'invoices', 'vat,numbering,overdue,reminder,pdf,letterhead,purchase,remittance', 'Xero', 'accountant'),
  T('Loyalty program', 'loyalty point', 'loyalty points', 'tier,reward,earn,bonus,member,cashback,milestone,badge', 'Smile', 'marketing manager'),
  T('Appointments', 'appointment', 'appointments', 'booking,calendar,slot,reschedule,buffer,staff,timezone,noshow', 'Google Calendar', 'front desk'),
  T('Inventory', 'stock item', 'stock items', 'sku,reorder,supplier,batch,shelf,variant,stocktake,backorder', 'Cin7', 'warehouse clerk'),
  T('Card payments', 'card payment', 'card payments', 'chargeback,payout,settlement,authorization,capture,terminal,wallet,dispute', 'Stripe', 'finance lead'),
  T('Team members', 'team member', 'team members', 'invite,role,permission,seat,owner,deactivate,group,onboarding', 'Google Workspace', 'account owner'),
  T('Two-factor authentication', 'two-factor code', 'two-factor codes', 'authenticator,backup,sms,recovery,device,passkey,lockout,yubikey', 'Authy', 'security officer'),
  T('Mobile app', 'mobile app', 'mobile apps', 'push,offline,biometric,widget,tablet,install,homescreen,darkmode', 'TestFlight', 'product owner'),
  T('Reports and dashboards', 'dashboard', 'dashboards', 'chart,funnel,cohort,filter,metric,retention,conversion,drilldown', 'Looker Studio', 'analyst'),
  T('Data export', 'data export', 'data exports', 'csv,archive,json,spreadsheet,column,delimiter,encoding,snapshot', 'Google Sheets', 'operations manager'),
  T('Webhooks', 'webhook', 'webhooks', 'endpoint,signature,payload,event,secret,timeout,delivery,replay', 'Zapier', 'developer'),
  T('Email campaigns', 'email campaign', 'email campaigns', 'newsletter,audience,segment,bounce,unsubscribe,template,sender,preheader', 'Mailchimp', 'marketer'),
  T('Chat widget', 'chat widget', 'chat widgets', 'greeting,bubble,launcher,transcript,avatar,position,color,proactive', 'WordPress', 'web designer'),
  T('Product catalog', 'product listing', 'product listings', 'category,attribute,collection,image,tag,description,swatch,bundle', 'Shopify', 'merchandiser'),
  T('Coupons', 'coupon', 'coupons', 'code,discount,minimum,stacking,percentage,single-use,threshold,influencer', 'Klaviyo', 'promotions manager'),
  T('Sales tax', 'tax rule', 'tax rules', 'exemption,jurisdiction,nexus,inclusive,certificate,region,rounding,filing', 'Avalara', 'tax advisor'),
  T('Store pickup', 'pickup order', 'pickup orders', 'locker,counter,identification,curbside,hold,ready,collection,parking', 'Bopis Hub', 'store associate'),
  T('Reviews and ratings', 'product review', 'product reviews', 'star,moderation,photo,verified,spam,rating,reply,syndication', 'Trustpilot', 'community manager'),
  T('Translations', 'translation', 'translations', 'locale,language,glossary,machine,fallback,right-to-left,hreflang,pluralization', 'DeepL', 'localization lead'),
  T('Single sign-on', 'SSO connection', 'SSO connections', 'saml,okta,azure,provisioning,scim,metadata,assertion,idp', 'Okta', 'IT administrator'),
  T('API keys', 'API key', 'API keys', 'scope,rotation,sandbox,header,revoke,quota,environment,bearer', 'Postman', 'integrator'),
  T('Print on demand', 'print order', 'print orders', 'artwork,resolution,bleed,mockup,paper,proof,cmyk,printer', 'Printful', 'designer'),
  T('Event tickets', 'event ticket', 'event tickets', 'venue,scanner,qr,waitlist,capacity,wristband,seating,admission', 'Eventbrite', 'event organizer'),
  T('Digital downloads', 'digital download', 'digital downloads', 'license,file,link,watermark,attempts,ebook,serial,storage', 'Dropbox', 'content creator'),
  T('Wholesale pricing', 'wholesale account', 'wholesale accounts', 'bulk,terms,approval,quote,distributor,pricelist,retailer,moq', 'NetSuite', 'sales representative'),
  T('Delivery scheduling', 'delivery slot', 'delivery slots', 'route,driver,cutoff,perishable,refrigerated,dispatch,van,doorstep', 'Onfleet', 'dispatcher'),
]

/** A small seeded generator (mulberry32), so the corpus is the same on every run. */
export function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Section = { heading: string; sentences: string[]; question: string }
type Ctx = { t: Topic; w: (i: number) => string; n: (lo: number, hi: number) => number; pick: <X>(xs: X[]) => X }

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)
/** "a" or "an" before a word. */
const an = (word: string) => `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`

/** The ten aspects every article covers; each writes 2–4 sentences with the topic's own words. */
const ASPECTS: ((c: Ctx) => Section)[] = [
  ({ t, w, n, pick }) => ({
    heading: `What ${t.many} are`,
    sentences: [
      `${cap(t.many)} let customers handle ${w(0)} and ${w(1)} without writing to support.`,
      `Each ${t.one} keeps its own ${w(2)} history, so ${an(t.role)} can see every change in one place.`,
      pick([`Most shops turn on ${t.many} in their first week.`, `About ${n(40, 90)}% of active shops use ${t.many} every month.`]),
    ],
    question: `What are ${t.many} and what do they do with ${w(0)}?`,
  }),
  ({ t, w, n, pick }) => ({
    heading: `Setting up ${t.many}`,
    sentences: [
      `Open Settings › ${t.title} and switch on "${cap(w(1))}" to start.`,
      `Choose a default ${w(3)} and save; the first ${t.one} is ready in about ${n(2, 9)} minutes.`,
      pick([`If you sell in several stores, repeat the setup for each store.`, `You can import existing ${w(4)} records from a CSV file during setup.`, `${cap(an(t.role))} can finish the setup without a developer.`]),
      ...(n(0, 1) ? [`The setup wizard also checks that your ${w(5)} settings are complete.`] : []),
    ],
    question: `How do I set up ${t.many} and switch on ${w(1)}?`,
  }),
  ({ t, w, n }) => ({
    heading: `Limits for ${t.many}`,
    sentences: [
      `An account can hold up to ${n(2, 50) * 100} ${t.many} at a time.`,
      `Each ${t.one} can carry at most ${n(3, 25)} ${w(2)} entries and ${n(2, 12)} ${w(6)} values.`,
      `Larger limits for ${w(6)} are available on the Pro plan on request.`,
    ],
    question: `What is the maximum number of ${t.many}, and the limit on ${w(6)}?`,
  }),
  ({ t, w, n, pick }) => ({
    heading: `Pricing of ${t.many}`,
    sentences: [
      `${cap(t.many)} are included in every plan at no extra cost up to ${n(1, 20) * 50} per month.`,
      `Above that, each additional ${t.one} costs $${(n(1, 40) / 100).toFixed(2)}, billed with your subscription.`,
      pick([`There is no fee for ${w(3)} changes.`, `${cap(an(w(7)))} surcharge of $${n(1, 9)} applies only in rare cases.`]),
    ],
    question: `How much do ${t.many} cost, and is there a fee for ${w(3)}?`,
  }),
  ({ t, w, pick }) => ({
    heading: `Who can manage ${t.many}`,
    sentences: [
      `Owners and admins can create, edit and delete ${t.many}; operators can only view them.`,
      `To let ${an(t.role)} change ${w(4)} settings, give them the "${cap(t.title)} editor" permission.`,
      pick([`Every change is written to the audit log with the name of the person who made it.`, `Members never see ${w(4)} details.`]),
    ],
    question: `Who is allowed to change ${w(4)} settings for ${t.many}?`,
  }),
  ({ t, w, n }) => ({
    heading: `Notifications about ${t.many}`,
    sentences: [
      `We send an email when ${an(t.one)} needs attention, for example when its ${w(5)} is missing.`,
      `You can also get a Slack or Telegram alert within ${n(1, 15)} minutes of ${an(w(5))} event.`,
      `Turn notifications off under Settings › Notifications › ${t.title}.`,
    ],
    question: `How do I get notified when ${an(t.one)} has ${an(w(5))} problem?`,
  }),
  ({ t, w, n, pick }) => ({
    heading: `Reporting on ${t.many}`,
    sentences: [
      `The ${t.title} report shows ${w(6)} and ${w(2)} totals per day, week or month.`,
      `Data is refreshed every ${n(5, 60)} minutes and kept for ${n(12, 36)} months.`,
      pick([`Download the report as CSV or send it to ${t.partner}.`, `Pin the report to your home dashboard to watch ${w(6)} trends.`]),
      ...(n(0, 1) ? [`Totals exclude test ${t.many}.`] : []),
    ],
    question: `Where can I see a report of ${w(6)} totals for ${t.many}?`,
  }),
  ({ t, w, n }) => ({
    heading: `${t.title} API and ${t.partner}`,
    sentences: [
      `Use the /v2/${t.many.replace(/[^a-z]+/gi, '-').toLowerCase()} endpoint to list, create and update ${t.many} from your own code.`,
      `The ${t.partner} integration syncs ${w(7)} data both ways every ${n(5, 30)} minutes.`,
      `API requests for ${t.many} are limited to ${n(2, 20) * 10} per minute per key.`,
    ],
    question: `How do I sync ${w(7)} data for ${t.many} with ${t.partner}?`,
  }),
  ({ t, w, n, pick }) => ({
    heading: `Troubleshooting ${t.many}`,
    sentences: [
      `If ${an(t.one)} is stuck, check that its ${w(1)} and ${w(3)} fields are filled in.`,
      `An error "${w(0)} mismatch" means the ${w(0)} changed while the ${t.one} was saved; reload the page and try again.`,
      pick([`Problems that last longer than ${n(10, 60)} minutes should be reported to support with the ${t.one} ID.`, `Clearing the browser cache fixes most display issues.`]),
    ],
    question: `Why do I get ${an(w(0))} mismatch error on ${an(t.one)}?`,
  }),
  ({ t, w, n }) => ({
    heading: `Security of ${t.many}`,
    sentences: [
      `${cap(t.one)} data, including ${w(7)} details, is encrypted at rest and in transit.`,
      `Deleted ${t.many} are kept for ${n(7, 30)} days and then erased for good.`,
    ],
    question: `Is ${w(7)} data in ${t.many} encrypted, and when are deleted ones erased?`,
  }),
]

export function generateCorpus(options: { articles?: number; sectionsPerArticle?: number; seed?: number } = {}): BenchCorpus {
  const articleCount = Math.min(options.articles ?? 30, TOPICS.length)
  const sectionCount = Math.min(options.sectionsPerArticle ?? 10, ASPECTS.length)
  const random = rng(options.seed ?? 42)
  const articles: BenchArticle[] = []
  const questions: BenchQuestion[] = []
  for (const t of TOPICS.slice(0, articleCount)) {
    const ctx: Ctx = {
      t,
      w: (i) => t.terms[i % t.terms.length]!,
      n: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)),
      pick: (xs) => xs[Math.floor(random() * xs.length)]!,
    }
    const sections = ASPECTS.slice(0, sectionCount).map((aspect) => aspect(ctx))
    const content = [`# ${t.title}`, '', ...sections.flatMap((s) => [`## ${s.heading}`, '', s.sentences.join(' '), ''])].join('\n')
    articles.push({ title: t.title, content })
    for (const s of sections) questions.push({ text: s.question, article: t.title, section: s.heading })
  }
  return { articles, questions }
}

/** Adds the articles as knowledge sources of the organization and waits until every one is indexed. */
export async function ingestCorpus(app: App, organizationId: string, articles: { title: string; content: string }[], timeoutMs: number): Promise<void> {
  for (const article of articles) {
    await app.knowledge.addSource({ organizationId, agentId: null, title: article.title, kind: 'markdown', content: article.content, uri: `bench/${slug(article.title)}.md` })
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const sources = await app.store.knowledge.listSources(organizationId)
    const failed = sources.filter((s) => s.status === 'failed')
    if (failed.length) throw new Error(`ingestion failed: ${failed.map((s) => `${s.title}: ${s.error}`).join('; ')}`)
    if (sources.length === articles.length && sources.every((s) => s.status === 'ready')) return
    if (Date.now() > deadline) throw new Error(`knowledge not indexed within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A fixed pseudo-random order, so runs are comparable. */
export function shuffle<X>(xs: X[], seed: number): X[] {
  const out = [...xs]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')
