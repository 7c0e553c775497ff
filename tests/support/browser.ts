import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { expect } from 'vitest'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Whether Debian's Chromium is here for the browser tests. Under CI=true its absence is an error
 * (.ci/run installs it); elsewhere `what` is skipped, loudly.
 */
export function chromiumAvailable(what: string): boolean {
  if (existsSync(CHROMIUM)) return true
  if (process.env.CI === 'true') throw new Error(`CI=true but no Chromium at ${CHROMIUM}: .ci/run installs Debian's chromium package`)
  console.warn(`\n!!! SKIPPING ${what}: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH). !!!\n`)
  return false
}

/** Headless Chromium as STACK.md describes it for these machines. */
export const launchChromium = (): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] })

type Violation = { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }
const axeSource = () => readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** Saves a full-page screenshot of the page into `outputDir` and runs axe-core on it: no serious or critical violations. */
export async function checkPage(page: Page, name: string, outputDir: string): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('.loading'))
  await page.screenshot({ path: path.join(outputDir, `${name}.png`), fullPage: true })
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(await axeSource())
  const violations = (await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: Violation[] }> } }).axe.run(document, { resultTypes: ['violations'] })
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })) }))
  })) as Violation[]
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  expect(serious, `${name}: ${JSON.stringify(serious, null, 1)}`).toEqual([])
}
