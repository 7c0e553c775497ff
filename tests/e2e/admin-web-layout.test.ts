import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { freePort, ROOT as root, startMain, type MainProcess } from '../support/main-process.ts'

const OUTPUT = path.join(root, 'tests/output/admin-web')
const available = chromiumAvailable('admin web layout test')

// Long words with no place to break are what push a table out of its page.
const LONG_TITLE = 'Returns-exchanges-and-refunds-policy-for-the-northern-warehouse-2026-edition-final-version.md'
const DOC = `# Returns policy\n\n## Refunds\n\nCustomers can return any item within 30 days of delivery for a full refund.\n`

/**
 * Every page of the admin web fits the screen at a laptop's 1366 px and a phone's 390 px: the page
 * never scrolls sideways (wide tables scroll inside their card), Sign out stays on screen, and
 * axe-core finds no serious or critical violation. The billing chart with one day of data is drawn
 * readably (a bar with both axes), not as a dot in a corner.
 */
describe.skipIf(!available)('admin web layout at 1366 px and 390 px', () => {
  let dataDir: string
  let app: MainProcess | undefined
  let base: string
  let browser: Browser
  let context: BrowserContext
  let token: string
  let agentId: string
  let conversationId: string
  const errors: string[] = []

  const call = async (pathname: string, body?: unknown, method?: string) => {
    const res = await fetch(`${base}${pathname}`, { method: method ?? (body === undefined ? 'GET' : 'POST'), headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>
    if (!res.ok) throw new Error(`${pathname}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: root, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-layout-'))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    app = await startMain({ DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'false', PUBLIC_URL: base }, 'Switchboard is listening', 400_000)

    const signup = await fetch(`${base}/api/v1/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ organizationName: 'Northern Warehouse Trading Company', name: 'Alexandra Konstantinopolskaya', email: 'layout@example.com', password: 'correct horse battery staple' }) })
    token = ((await signup.json()) as { token: string }).token
    const created = (await call('/api/v1/agents', { name: 'Northern warehouse returns assistant' })) as { agent: { id: string }; webchat: { key: string } }
    agentId = created.agent.id
    await call('/api/v1/knowledge/sources', { title: LONG_TITLE, content: DOC, kind: 'markdown' })
    for (let i = 0; i < 100; i++) {
      const { sources } = (await call('/api/v1/knowledge/sources')) as { sources: { status: string }[] }
      if (sources.every((s) => s.status === 'ready')) break
      await new Promise((r) => setTimeout(r, 200))
    }
    // One day of usage for the billing chart, and a conversation waiting for a person.
    await call(`/api/v1/webchat/${created.webchat.key}/messages`, { sessionId: 'layout-session-1', text: 'How long do I have to return an item?' })
    const handoff = (await call(`/api/v1/webchat/${created.webchat.key}/messages`, { sessionId: 'layout-session-2', text: 'I want to talk to a person' })) as { conversationId: string }
    conversationId = handoff.conversationId

    browser = await launchChromium()
    context = await browser.newContext({ bypassCSP: true, locale: 'en-GB' })
    await context.addCookies([{ name: 'sb_session', value: token, url: base }])
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
    if (dataDir) await rm(dataDir, { recursive: true, force: true })
  })

  const pages = () => [
    { name: 'dashboard', hash: '/dashboard', heading: 'Dashboard' },
    { name: 'agents', hash: '/agents', heading: 'Agents' },
    { name: 'agent', hash: `/agents/${agentId}`, heading: /Edit/ },
    { name: 'knowledge', hash: '/knowledge', heading: 'Knowledge' },
    { name: 'chat', hash: '/chat', heading: /Test chat/ },
    { name: 'channels', hash: '/channels', heading: 'Channels' },
    { name: 'crm', hash: '/crm', heading: /CRM/ },
    { name: 'conversations', hash: '/conversations', heading: 'Conversations' },
    { name: 'conversation', hash: `/conversations/${conversationId}`, heading: / · / },
    { name: 'billing', hash: '/billing', heading: /Billing/ },
    { name: 'organization', hash: '/organization', heading: /Organization/ },
    { name: 'api', hash: '/api', heading: 'API reference' },
  ]

  /** The page does not scroll sideways and Sign out is fully on screen. */
  async function checkFits(page: Page, label: string) {
    const fit = await page.evaluate(() => {
      const signOut = document.querySelector('header.topbar button.secondary')
      const box = signOut?.textContent?.trim() === 'Sign out' ? signOut.getBoundingClientRect() : undefined
      // What sticks out, to name it when the check fails.
      const wide = Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.closest('.table-scroll, .card'))
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}.${(e.getAttribute('class') ?? '').replace(/\s+/g, '.')}`)
      return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, wide, signOut: box ? { left: box.left, right: box.right, width: box.width } : null }
    })
    expect(fit.scrollWidth, `${label}: the page scrolls sideways (${fit.wide.join(', ')})`).toBeLessThanOrEqual(fit.innerWidth)
    expect(fit.signOut, `${label}: no Sign out button`).not.toBeNull()
    expect(fit.signOut!.width).toBeGreaterThan(0)
    expect(fit.signOut!.left, `${label}: Sign out cut off`).toBeGreaterThanOrEqual(0)
    expect(fit.signOut!.right, `${label}: Sign out cut off`).toBeLessThanOrEqual(fit.innerWidth)
    await expect(page.locator('header.topbar').getByRole('button', { name: 'Sign out', exact: true }).isVisible()).resolves.toBe(true)
  }

  for (const width of [1366, 390]) {
    it(`every page fits ${width} px, keeps Sign out on screen and passes axe`, async () => {
      const page = await context.newPage()
      page.on('pageerror', (e) => errors.push(e.message))
      await page.setViewportSize({ width, height: 900 })
      for (const p of pages()) {
        await page.goto(`${base}/admin/#${p.hash}`)
        await page.getByRole('heading', { level: 1, name: p.heading }).waitFor()
        await page.waitForFunction(() => !document.querySelector('.loading'))
        if (p.name === 'knowledge') await page.getByText(LONG_TITLE).first().waitFor()
        if (p.name === 'billing') await page.locator('.usage-chart canvas, .empty').first().waitFor()
        if (p.name === 'api') await page.locator('.opblock').first().waitFor()
        await checkFits(page, `${p.name} at ${width}`)
        await checkPage(page, `layout-${p.name}-${width}`, OUTPUT)
      }
      await page.close()
      expect(errors).toEqual([])
    }, 240_000)
  }

  it('the billing chart with one day of data draws a bar on both axes, with the days of the period', async () => {
    const page = await context.newPage()
    await page.setViewportSize({ width: 1366, height: 900 })
    await page.goto(`${base}/admin/#/billing`)
    await page.locator('.usage-chart canvas').waitFor()
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector('.usage-chart canvas') as HTMLCanvasElement
      return { label: canvas.getAttribute('aria-label'), days: Number(canvas.closest('.usage-chart')!.getAttribute('data-days')), width: canvas.getBoundingClientRect().width }
    })
    expect(drawn.days).toBeGreaterThanOrEqual(1)
    expect(drawn.width).toBeGreaterThan(300)
    expect(drawn.label).toMatch(/1/)
    // The one day with a response is drawn as a bar of real height: its pixels are the chart's colour.
    const bar = await page.evaluate(() => {
      const canvas = document.querySelector('.usage-chart canvas') as HTMLCanvasElement
      const ctx = canvas.getContext('2d')!
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height)
      let blue = 0
      for (let i = 0; i < data.length; i += 4) if (data[i]! < 80 && data[i + 1]! < 120 && data[i + 2]! > 180 && data[i + 3]! > 200) blue++
      return blue
    })
    expect(bar).toBeGreaterThan(200)
    await page.screenshot({ path: path.join(OUTPUT, 'layout-billing-chart-one-day.png') })
    await page.close()
  }, 120_000)

  it('the API page renders the operations of /api/v1/openapi.json with the viewer bundled here; other pages do not load it', async () => {
    const page = await context.newPage()
    const requests: string[] = []
    page.on('request', (r) => requests.push(r.url()))
    page.on('pageerror', (e) => errors.push(e.message))
    await page.setViewportSize({ width: 1366, height: 900 })
    await page.goto(`${base}/admin/#/dashboard`)
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
    await page.waitForFunction(() => !document.querySelector('.loading'))
    expect(requests.filter((u) => /api-reference/.test(u))).toEqual([])

    await page.click('nav a[href="#/api"]')
    await page.getByRole('heading', { level: 1, name: 'API reference' }).waitFor()
    await page.locator('.opblock').first().waitFor()
    const spec = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const operations = Object.values(spec.paths).reduce((n, methods) => n + Object.keys(methods).length, 0)
    const shown = await page.evaluate(() => Array.from(document.querySelectorAll('.opblock-summary-path')).map((e) => e.getAttribute('data-path') ?? e.textContent ?? ''))
    expect(shown.length).toBe(operations)
    expect(shown).toEqual(expect.arrayContaining(['/api/v1/agents', '/api/v1/openapi.json', '/api/v1/webchat/{key}/messages']))
    expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('Switchboard API')

    // An operation opens with its parameters and responses; a read can be tried with the session.
    const listAgents = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/api/v1/agents"]') }).first()
    await listAgents.locator('.opblock-summary-control').click()
    await listAgents.locator('.responses-wrapper').waitFor()
    await listAgents.getByRole('button', { name: 'Try it out' }).click()
    await listAgents.getByRole('button', { name: 'Execute' }).click()
    await listAgents.locator('.live-responses-table tbody .response-col_status').first().waitFor()
    expect(await listAgents.locator('.live-responses-table tbody .response-col_status').first().textContent()).toContain('200')
    expect(await listAgents.locator('.live-responses-table').textContent()).toContain('Northern warehouse returns assistant')

    // Everything came from this server: no CDN.
    expect(requests.filter((u) => !u.startsWith(base) && !u.startsWith('data:'))).toEqual([])
    await page.screenshot({ path: path.join(OUTPUT, 'api-reference-operation.png'), fullPage: false })
    await page.close()
    expect(errors).toEqual([])
  }, 120_000)
})
