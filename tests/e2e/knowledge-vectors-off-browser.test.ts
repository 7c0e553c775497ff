import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { freePort, ROOT, startMain, type MainProcess } from '../support/main-process.ts'

const OUTPUT = path.join(ROOT, 'tests/output/admin-web')
const available = chromiumAvailable('the Knowledge page with semantic search off')

/**
 * With KNOWLEDGE_VECTORS=off the admin web's Knowledge page says that knowledge is searched by
 * words only, for a manager who wonders why a differently worded question finds nothing. Checked
 * in Chromium at a desktop and a phone width, with axe-core; npm start's embedded database here.
 */
describe.skipIf(!available)('Knowledge page with KNOWLEDGE_VECTORS=off, in Chromium', () => {
  let app: MainProcess | undefined
  let browser: Browser
  let base: string
  const errors: string[] = []

  beforeAll(async () => {
    execFileSync(process.execPath, ['admin-web/build-web.mjs'], { cwd: ROOT, stdio: 'ignore' })
    await mkdir(OUTPUT, { recursive: true })
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    app = await startMain({ DATA_DIR: 'memory://', PORT: String(port), HOST: '127.0.0.1', DEMO_SEED: 'false', PUBLIC_URL: base, KNOWLEDGE_VECTORS: 'off' }, 'Switchboard is listening', 240_000)
    browser = await launchChromium()
  }, 300_000)

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
  })

  it('shows "Semantic search off" on the Knowledge page at 1366 px and 390 px, without serious axe violations', async () => {
    expect(app!.output()).toContain('Semantic search off: KNOWLEDGE_VECTORS=off')
    let n = 0
    for (const width of [1366, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true, locale: 'en-GB' })
      const page: Page = await context.newPage()
      page.on('pageerror', (e) => errors.push(e.message))
      // Each width signs up its own organization through the admin web.
      await page.goto(`${base}/admin/#/signup`)
      await page.getByRole('heading', { name: 'Create your organization' }).waitFor()
      await page.getByLabel('Organization name').fill(`Words Only ${width}`)
      await page.getByLabel('Your name').fill('Wanda Words')
      await page.getByLabel('Email').fill(`wanda-${width}-${n++}@words.example`)
      await page.getByLabel('Password').fill('a long enough password')
      await page.getByRole('button', { name: 'Create organization' }).click()
      // A new organization lands on the first-run setup (tests/e2e/admin-web-onboarding.test.ts); skipped here.
      await page.getByRole('heading', { level: 1, name: 'Set up your agent' }).waitFor()
      await page.getByRole('button', { name: 'Skip setup' }).click()
      await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
      await page.goto(`${base}/admin/#/knowledge`)
      await page.getByRole('heading', { level: 1, name: 'Knowledge' }).waitFor()
      const notice = page.getByTestId('semantic-off')
      await notice.waitFor()
      expect(await notice.textContent()).toMatch(/^Semantic search off: .*KNOWLEDGE_VECTORS=off.*by their words only/)
      expect(await notice.getAttribute('role')).toBe('note')
      await checkPage(page, `knowledge-semantic-off-${width}`, OUTPUT)
      await context.close()
    }
    expect(errors).toEqual([])
  }, 300_000)
})
