import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { expect } from 'vitest'

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
