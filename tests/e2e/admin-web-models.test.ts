import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { checkPage, chromiumAvailable, launchChromium } from '../support/browser.ts'
import { ROOT } from '../support/main-process.ts'
import { startFakeOpenAI, type FakeOpenAI } from '../support/fake-openai.ts'
import { api, createOrg, startTestApp, type TestApp, type TestOrg } from '../support/test-app.ts'

const OUTPUT = path.join(ROOT, 'tests/output/admin-web')
const available = chromiumAvailable('admin web agent models browser test')

const GOOD = 'sk-local-SECRET-good-key-7a7a'
const WRONG = 'sk-local-SECRET-wrong-key-9b9b'

/**
 * Models in the admin web, in Chromium. The agent's model and ordered fallbacks: fallbacks set
 * through the API on two provider keys survive a save of the agent page that only renames it (the
 * bug: every fallback was re-pointed at the primary's key), then are reordered and given another
 * key in the page. The Provider keys page: add keys, test them against a local OpenAI-compatible
 * server (a working key and a wrong one), see which agent uses a key, and be refused deleting it.
 */
describe.skipIf(!available)('admin web: agent model and fallbacks in Chromium', () => {
  let llm: FakeOpenAI
  let t: TestApp
  let org: TestOrg
  let browser: Browser
  let page: Page
  let primary: string
  let backup: string
  const errors: string[] = []

  beforeAll(async () => {
    await mkdir(OUTPUT, { recursive: true })
    llm = await startFakeOpenAI({ keys: [GOOD] })
    // The named providers resolve to a public address; the local server is allowed as an operator would allow a self-hosted model.
    t = await startTestApp({ env: { ALLOW_PRIVATE_URLS: '127.0.0.1' }, overrides: { net: { lookup: async (host) => [{ address: host === '127.0.0.1' ? '127.0.0.1' : '93.184.215.14', family: 4 }] } } })
    org = await createOrg(t, { name: 'Fallback shop' })
    primary = (await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'Main OpenAI', provider: 'openai', apiKey: 'sk-main-key-0001' } })).json.key.id
    backup = (await api(t, '/api/v1/provider-keys', { token: org.token, body: { name: 'Backup Groq', provider: 'groq', apiKey: 'gsk-backup-key-0002' } })).json.key.id
    const set = await api(t, `/api/v1/agents/${org.agentId}`, {
      token: org.token,
      method: 'PATCH',
      body: { providerKeyId: primary, model: 'gpt-4o-mini', fallbacks: [{ providerKeyId: backup, model: 'llama-3.3-70b-versatile' }, { providerKeyId: null, model: 'house-model' }] },
    })
    expect(set.status).toBe(200)
    browser = await launchChromium()
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, bypassCSP: true, locale: 'en-GB' })
    page = await context.newPage()
    page.setDefaultTimeout(15_000)
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => m.type() === 'error' && !/status of 40[139]/.test(m.text()) && errors.push(m.text()))
    await page.goto(`${t.url}/admin/#/signin`)
    await page.getByLabel('Email').fill(org.email)
    await page.getByLabel('Password').fill(org.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await t?.close()
    await llm?.close()
  })

  const fallbacks = async () => (await t.app.store.agents.get(org.organizationId, org.agentId))!.fallbacks
  const save = async () => {
    await page.getByRole('button', { name: 'Save', exact: true }).click()
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor()
  }

  it('renaming the agent keeps each fallback on its own key', { timeout: 90_000 }, async () => {
    await page.goto(`${t.url}/admin/#/agents/${org.agentId}`)
    await page.getByRole('heading', { level: 1, name: /Edit agent/ }).waitFor()
    // The page shows what is stored: each fallback with its key.
    expect(await page.getByLabel('Model of fallback 1').inputValue()).toBe('llama-3.3-70b-versatile')
    expect(await page.getByLabel('Key of fallback 1').inputValue()).toBe(backup)
    expect(await page.getByLabel('Key of fallback 2').inputValue()).toBe('')
    expect(await page.getByLabel('Provider key').inputValue()).toBe(primary)
    await checkPage(page, 'agent-models-1366', OUTPUT)

    await page.getByLabel('Name', { exact: true }).fill('Harbour helper')
    await save()
    const agent = (await t.app.store.agents.get(org.organizationId, org.agentId))!
    expect(agent.name).toBe('Harbour helper')
    expect(agent.providerKeyId).toBe(primary)
    expect(agent.fallbacks).toEqual([{ providerKeyId: backup, model: 'llama-3.3-70b-versatile' }, { providerKeyId: null, model: 'house-model' }])
  })

  it('reorders, re-keys, adds and removes fallbacks in the page', { timeout: 90_000 }, async () => {
    await page.getByRole('button', { name: 'Move fallback 2 up' }).click()
    expect(await page.getByLabel('Model of fallback 1').inputValue()).toBe('house-model')
    await save()
    expect(await fallbacks()).toEqual([{ providerKeyId: null, model: 'house-model' }, { providerKeyId: backup, model: 'llama-3.3-70b-versatile' }])

    await page.getByLabel('Key of fallback 1').selectOption(backup)
    await page.getByRole('button', { name: 'Add a fallback' }).click()
    await page.getByLabel('Model of fallback 3').fill('gpt-4o')
    await page.getByLabel('Key of fallback 3').selectOption(primary)
    await page.getByRole('button', { name: 'Remove fallback 2' }).click()
    await save()
    expect(await fallbacks()).toEqual([{ providerKeyId: backup, model: 'house-model' }, { providerKeyId: primary, model: 'gpt-4o' }])

    // What was saved is what the page shows after a reload.
    await page.reload()
    await page.getByLabel('Model of fallback 2').waitFor()
    expect(await page.getByLabel('Key of fallback 2').inputValue()).toBe(primary)
    expect(await page.getByLabel('Model of fallback 2').inputValue()).toBe('gpt-4o')
  })

  it('the Provider keys page: add, test against the provider, see who uses a key, refused deleting it while used', { timeout: 120_000 }, async () => {
    await page.click('nav a[href="#/keys"]')
    await page.getByRole('heading', { level: 1, name: 'Provider keys' }).waitFor()
    const row = (name: string) => page.locator(`tr[data-key="${name}"]`)
    await row('Backup Groq').getByRole('link', { name: 'Harbour helper' }).waitFor()

    // Add a key for the local server; the key leaves the form once added and is shown by its last four characters.
    await page.getByLabel('Label').fill('Local model')
    await page.getByLabel('Provider', { exact: true }).selectOption('custom')
    await page.getByLabel('Base URL').fill(`${llm.url}/v1`)
    await page.getByLabel('API key').fill(GOOD)
    await page.getByRole('button', { name: 'Add a key' }).click()
    await page.getByRole('status').filter({ hasText: 'Key “Local model” added.' }).waitFor()
    expect(await page.getByLabel('API key').inputValue()).toBe('')
    await row('Local model').getByText('…7a7a').waitFor()
    await row('Local model').getByText('not used', { exact: true }).waitFor()

    // Test: one real call to GET /v1/models at the key's base URL.
    llm.hits.length = 0
    await page.getByRole('button', { name: 'Test key Local model' }).click()
    await row('Local model').getByText(/^Works: custom answered in \d+ ms with 3 models\.$/).waitFor()
    expect(llm.hits).toEqual([{ method: 'GET', path: '/v1/models', authorized: true }])

    await page.getByLabel('Label').fill('Local wrong')
    await page.getByLabel('Provider', { exact: true }).selectOption('custom')
    await page.getByLabel('Base URL').fill(`${llm.url}/v1`)
    await page.getByLabel('API key').fill(WRONG)
    await page.getByRole('button', { name: 'Add a key' }).click()
    await row('Local wrong').waitFor()
    await page.getByRole('button', { name: 'Test key Local wrong' }).click()
    await row('Local wrong').getByText(/^Does not work: the provider refused the key \(HTTP 401: Incorrect API key provided/).waitFor()
    expect(await page.content()).not.toContain('SECRET')
    await checkPage(page, 'provider-keys-1366', OUTPUT)

    // A key used by an agent's fallback: the dialog warns, the server refuses, the key stays.
    await page.getByRole('button', { name: 'Delete key Backup Groq' }).click()
    await page.getByRole('dialog').getByText('In use by Harbour helper').waitFor()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
    await page.getByRole('dialog').getByRole('alert').filter({ hasText: 'This key is used by the agent "Harbour helper"' }).waitFor()
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
    expect(await t.app.store.providerKeys.getSealed(org.organizationId, backup)).not.toBeNull()

    // An unused key is deleted.
    await page.getByRole('button', { name: 'Delete key Local wrong' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click()
    await row('Local wrong').waitFor({ state: 'detached' })
    expect((await api(t, '/api/v1/provider-keys', { token: org.token })).json.keys.map((k: { name: string }) => k.name)).toEqual(['Main OpenAI', 'Backup Groq', 'Local model'])

    await page.setViewportSize({ width: 390, height: 844 })
    await checkPage(page, 'provider-keys-390', OUTPUT)
    await page.setViewportSize({ width: 1366, height: 900 })
    await page.goto(`${t.url}/admin/#/agents/${org.agentId}`)
    await page.getByRole('heading', { level: 1, name: /Edit agent/ }).waitFor()
  })

  it('passes axe at 390 px', { timeout: 60_000 }, async () => {
    await page.setViewportSize({ width: 390, height: 844 })
    await checkPage(page, 'agent-models-390', OUTPUT)
    await page.setViewportSize({ width: 1366, height: 900 })
    expect(errors).toEqual([])
  })
})
