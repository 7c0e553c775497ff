/**
 * The organization the ingress benchmark loads, set up through the HTTP API only, so that the same
 * steps serve Switchboard on its embedded defaults (tests/bench/ingress-target.ts) and the
 * scale-out deployment of `--scale` (server + workers on PostgreSQL and Redis): an owner, an agent
 * answering through the fake OpenAI-compatible server, a little knowledge, and Telegram, Slack and
 * Messenger connected to their fakes.
 */
export type BenchChannels = Record<'telegram' | 'slack' | 'messenger', string>

/** Per inbox: each stored inbound message's external id, its status, and how many replies were sent for it. */
export type StoredRow = { externalMessageId: string; status: string; sent: number }

/** What the bench reads back from the database, whichever it is. */
export const STORED_SQL = `SELECT m."externalMessageId", m.status, (SELECT count(*)::int FROM "Message" r WHERE r."replyToId" = m.id AND r.status = 'sent') AS sent
  FROM "Message" m WHERE m."organizationId" = $1 AND m."inboxId" = $2 AND m.direction = 'in'`
export const PENDING_SQL = `SELECT count(*)::int AS n FROM "Message" WHERE "organizationId" = $1 AND direction = 'in' AND status = 'pending'`

export async function setUpBenchOrganization(base: string, env: Record<string, string>): Promise<{ organizationId: string; inboxes: BenchChannels }> {
  const call = async (method: string, url: string, input: { token?: string; body?: unknown } = {}) => {
    const res = await fetch(`${base}${url}`, { method, headers: { 'content-type': 'application/json', ...(input.token ? { authorization: `Bearer ${input.token}` } : {}) }, body: input.body === undefined ? undefined : JSON.stringify(input.body) })
    const json = (await res.json()) as Record<string, unknown>
    if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(json)}`)
    return json as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's answers, read by field
  }
  const email = `bench-ingress-${Date.now()}@example.com`
  const { token } = await call('POST', '/api/v1/auth/signup', { body: { organizationName: 'Bench Co', name: 'Bench owner', email, password: 'correct horse battery staple' } })
  const me = await call('GET', '/api/v1/me', { token })
  const created = await call('POST', '/api/v1/agents', { token, body: { name: 'Bench assistant' } })
  const agentId = created.agent.id as string
  const key = await call('POST', '/api/v1/provider-keys', { token, body: { name: 'Bench fake', provider: 'custom', baseUrl: env.BENCH_LLM_URL, apiKey: 'bench-key' } })
  await call('PATCH', `/api/v1/agents/${agentId}`, { token, body: { providerKeyId: key.key.id, model: 'bench-model' } })
  const { source } = await call('POST', '/api/v1/knowledge/sources', { token, body: { title: 'Connecting Telegram', kind: 'markdown', content: '# Connecting Telegram\n\nCreate a bot with @BotFather, copy its token, and paste it on the Channels page. Replies start at once.' } })
  for (let waited = 0; ; waited += 100) {
    const { sources } = await call('GET', '/api/v1/knowledge/sources', { token })
    const status = (sources as { id: string; status: string }[]).find((s) => s.id === source.id)?.status
    if (status === 'ready') break
    if (status === 'failed' || waited > 60_000) throw new Error(`the bench's knowledge source is ${status ?? 'missing'}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const connect = async (kind: string, body: unknown) => (await call('POST', `/api/v1/agents/${agentId}/channels/${kind}`, { token, body })).inbox.inboxId as string
  const inboxes = {
    telegram: await connect('telegram', { token: env.BENCH_TELEGRAM_TOKEN }),
    slack: await connect('slack', { botToken: env.BENCH_SLACK_TOKEN, signingSecret: env.BENCH_SLACK_SECRET }),
    messenger: await connect('messenger', { pageId: env.BENCH_META_PAGE, pageAccessToken: env.BENCH_META_TOKEN, appSecret: env.BENCH_META_SECRET }),
  }
  return { organizationId: me.organization.id as string, inboxes }
}
