// `npm run cli -- telegram connect|link-code|bots`: Telegram from the terminal, over a running
// Switchboard's HTTP API (the same admin API the web uses).
import { parseArgs } from 'node:util'
import { demoCredentials } from './kb-cli.ts'

export const telegramUsage = `  npm run cli -- telegram connect --agent <agent id>   (the token is read from TELEGRAM_BOT_TOKEN or stdin)
  npm run cli -- telegram link-code                    (a one-time code: send /start <code> to your bot)
  npm run cli -- telegram bots
Options: --url, --email, --password as for kb (default: the demo admin).`

type Out = { write(text: string): unknown }

/** Runs one telegram command; returns the process exit code. The token is never printed. */
export async function runTelegram(argv: string[], io: { out: Out; err: Out; env?: NodeJS.ProcessEnv; readToken?: () => Promise<string> } = { out: process.stdout, err: process.stderr }): Promise<number> {
  const env = io.env ?? process.env
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { url: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' }, agent: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  const [command] = positionals
  if (values.help || !['connect', 'link-code', 'bots'].includes(command ?? '') || (command === 'connect' && !values.agent)) {
    io.out.write(`Usage:\n${telegramUsage}\n`)
    return values.help ? 0 : 2
  }
  const base = (values.url ?? env.SWITCHBOARD_URL ?? `http://localhost:${env.PORT ?? 3000}`).replace(/\/$/, '')
  const call = async (route: string, body?: unknown, token?: string) => {
    const res = await fetch(`${base}${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch(() => {
      throw new Error(`Cannot reach Switchboard at ${base}. Start it with \`npm start\` (or pass --url).`)
    })
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown> & { error?: { message?: string } }
    if (!res.ok) throw new Error(json.error?.message ?? `HTTP ${res.status} from ${route}`)
    return json
  }
  try {
    const credentials = values.email && values.password ? { email: values.email, password: values.password } : await demoCredentials(env)
    const { token } = (await call('/api/v1/auth/login', credentials)) as { token: string }
    if (command === 'link-code') {
      const { code, expiresAt } = (await call('/api/v1/channel-admins/link-codes', {}, token)) as { code: string; expiresAt: string }
      io.out.write(`Send this to your bot in Telegram before ${expiresAt} (single use):\n\n  /start ${code}\n`)
    } else if (command === 'bots') {
      const { bots } = (await call('/api/v1/telegram/bots', undefined, token)) as { bots: { botUsername: string; agentId: string; mode: string; inboxId: string }[] }
      if (!bots.length) io.out.write('No Telegram bot is connected.\n')
      for (const bot of bots) io.out.write(`@${bot.botUsername}  agent ${bot.agentId}  ${bot.mode}  inbox ${bot.inboxId}\n`)
    } else {
      const botToken = (env.TELEGRAM_BOT_TOKEN ?? (await (io.readToken ?? readStdin)())).trim()
      if (!botToken) throw new Error('Give the bot token in TELEGRAM_BOT_TOKEN or on stdin (from @BotFather).')
      const { bot } = (await call(`/api/v1/agents/${encodeURIComponent(values.agent!)}/telegram`, { token: botToken }, token)) as { bot: { botUsername: string; mode: string; webhookUrl: string | null } }
      io.out.write(`Connected @${bot.botUsername} (${bot.mode}${bot.webhookUrl ? `: ${bot.webhookUrl}` : ''}).\n`)
    }
    return 0
  } catch (error) {
    io.err.write(`error: ${(error as Error).message}\n`)
    return 1
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Bot token (from @BotFather): ')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    if (process.stdin.isTTY && String(chunk).includes('\n')) break
  }
  return Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? ''
}
