// The command line: `npm run chat` talks to a running Switchboard over its web chat API;
// `npm run kb` imports files and web pages into its knowledge base (bots/kb-cli.ts).
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline/promises'
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { kbUsage, runKb } from './kb-cli.ts'
import { runTelegram, telegramUsage } from './telegram-cli.ts'

type Reply = { text: string; sources: { title: string; snippet: string }[]; author: string }

const usage = `Usage:
  npm run chat [-- --url http://localhost:3000] [--key <webchat key>] [--session <id>]
  npm run cli -- ask "<question>" [same options]
${kbUsage.replace(/^Usage:\n/, '')}
${telegramUsage}

Without --key the demo agent's key is read from DATA_DIR/demo-credentials.json.`

async function main() {
  if (process.argv[2] === 'kb') {
    process.exitCode = await runKb(process.argv.slice(3))
    return
  }
  if (process.argv[2] === 'telegram') {
    process.exitCode = await runTelegram(process.argv.slice(3))
    return
  }
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { url: { type: 'string' }, key: { type: 'string' }, session: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  const [command = 'chat', ...rest] = positionals
  if (values.help || !['chat', 'ask'].includes(command)) {
    process.stdout.write(`${usage}\n`)
    process.exit(values.help ? 0 : 2)
  }
  const url = (values.url ?? process.env.SWITCHBOARD_URL ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/$/, '')
  const key = values.key ?? (await demoKey())
  const sessionId = values.session ?? `cli-${randomUUID()}`
  const ask = async (text: string) => {
    const res = await fetch(`${url}/api/v1/webchat/${encodeURIComponent(key)}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ sessionId, text, messageId: randomUUID() }),
    }).catch(() => {
      throw new Error(`Cannot reach Switchboard at ${url}. Start it with \`npm start\` (or pass --url).`)
    })
    const body = (await res.json()) as { messages?: Reply[]; pending?: boolean; state?: string; error?: { message: string } }
    if (!res.ok && res.status !== 202) throw new Error(body.error?.message ?? `HTTP ${res.status}`)
    return body
  }
  const print = (body: Awaited<ReturnType<typeof ask>>) => {
    if (!body.messages?.length) {
      process.stdout.write(body.pending ? '(still thinking; the answer will appear in the conversation)\n' : body.state === 'handoff' ? '(a person from the team will reply)\n' : '(no reply)\n')
    }
    for (const m of body.messages ?? []) {
      process.stdout.write(`\n${m.text}\n`)
      for (const s of m.sources) process.stdout.write(`  source: ${s.title}\n`)
      process.stdout.write('\n')
    }
  }

  if (command === 'ask') {
    print(await ask(rest.join(' ')))
    return
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  process.stdout.write(`Chatting with ${url} (session ${sessionId}). Empty line or Ctrl+D to quit.\n`)
  for (;;) {
    const text = await rl.question('you> ').catch(() => '')
    if (!text.trim()) break
    try {
      print(await ask(text))
    } catch (error) {
      process.stdout.write(`error: ${(error as Error).message}\n`)
    }
  }
  rl.close()
}

async function demoKey(): Promise<string> {
  const file = path.resolve(process.env.DATA_DIR ?? './data', 'demo-credentials.json')
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { webchatKey: string }).webchatKey
  } catch {
    throw new Error(`No --key given and ${file} does not exist yet: run \`npm start\` once first.`)
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).message}\n`)
  process.exit(1)
})
