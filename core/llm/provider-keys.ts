import { z } from 'zod'
import { AppError, notFound } from '../errors.ts'
import type { Agent, ProviderKey, ProviderProbe, ProviderProbeResult, ProviderTarget, Store } from '../ports.ts'
import type { SecretBox } from '../security/secrets.ts'
import type { Principal } from '../tenancy/auth-service.ts'
import { requireRole } from '../tenancy/auth-service.ts'

export const PROVIDERS: Record<string, string | null> = {
  openai: 'https://api.openai.com/v1',
  openrouter: 'https://openrouter.ai/api/v1',
  groq: 'https://api.groq.com/openai/v1',
  together: 'https://api.together.xyz/v1',
  ollama: 'http://127.0.0.1:11434/v1',
  vllm: null,
  custom: null,
}

export const providerKeyInput = z
  .object({
    name: z.string().trim().min(1).max(80),
    provider: z.enum(Object.keys(PROVIDERS) as [string, ...string[]]),
    baseUrl: z.string().trim().url().optional(),
    apiKey: z.string().trim().min(1).max(500),
  })
  .strict()
  .refine((v) => v.baseUrl || PROVIDERS[v.provider], { message: 'baseUrl is required for this provider', path: ['baseUrl'] })

/** What the API shows of a key: never the key, only its last four characters. */
export const maskKey = (k: ProviderKey) => ({ id: k.id, name: k.name, provider: k.provider, baseUrl: k.baseUrl, last4: k.last4, createdAt: k.createdAt })

/**
 * Organizations' own provider keys (BYOK): sealed with AES-256-GCM before they are stored, opened
 * only to call the provider, and resolved into the ordered model targets of an agent.
 */
export function createProviderKeyService(deps: {
  store: Store
  secrets: SecretBox
  environment?: { apiKey: string; baseURL?: string; model: string }
  /**
   * Refuses (AppError `url_forbidden`) a base URL whose host is not public and not allowed by the
   * operator: an organization's key must not make the server call its own network. The
   * environment's OPENAI_BASE_URL is the operator's own and is not checked.
   */
  checkBaseUrl?: (url: string) => Promise<void>
  /** Makes the real call of "test this key" (adapters/openai/provider-probe.ts). */
  probe?: ProviderProbe
}) {
  const { store, secrets } = deps

  async function checkBaseUrl(input: z.infer<typeof providerKeyInput>, baseUrl: string) {
    try {
      await deps.checkBaseUrl?.(baseUrl)
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'url_forbidden') throw error
      const hint = input.baseUrl
        ? 'a provider key can only point at a public address'
        : `this is the default address of ${input.provider}: set baseUrl to the address where your server can be reached from the internet`
      throw new AppError('url_forbidden', `baseUrl ${error.message}; ${hint}, unless the operator of this installation allows it with ALLOW_PRIVATE_URLS`, 422, error.details)
    }
  }

  async function add(principal: Principal, input: z.infer<typeof providerKeyInput>) {
    requireRole(principal, 'admin')
    const baseUrl = input.baseUrl ?? PROVIDERS[input.provider] ?? null
    if (baseUrl) await checkBaseUrl(input, baseUrl)
    const key = await store.providerKeys.create({
      organizationId: principal.organizationId,
      name: input.name,
      provider: input.provider,
      baseUrl,
      secret: secrets.seal(input.apiKey),
      keyId: secrets.keyId,
      last4: input.apiKey.slice(-4),
    }).catch((error: unknown) => {
      if ((error as { code?: string })?.code === 'P2002') throw new AppError('name_taken', `A provider key named "${input.name}" exists already`, 409)
      throw error
    })
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'provider_key.added', target: key.id, data: { provider: key.provider, last4: key.last4 } })
    return key
  }

  /** The agents whose primary model or a fallback uses each key, by key id. */
  async function usage(organizationId: string): Promise<Map<string, { id: string; name: string }[]>> {
    const byKey = new Map<string, { id: string; name: string }[]>()
    for (const agent of await store.agents.list(organizationId)) {
      const ids = new Set([agent.providerKeyId, ...agent.fallbacks.map((f) => f.providerKeyId)].filter((id): id is string => Boolean(id)))
      for (const id of ids) byKey.set(id, [...(byKey.get(id) ?? []), { id: agent.id, name: agent.name }])
    }
    return byKey
  }

  /** The organization's keys as the API shows them (last four characters), with the agents that use each. */
  async function listWithUsage(principal: Principal) {
    const [keys, used] = await Promise.all([store.providerKeys.list(principal.organizationId), usage(principal.organizationId)])
    return keys.map((k) => ({ ...maskKey(k), usedBy: used.get(k.id) ?? [] }))
  }

  /**
   * Tests a key with one real call to its provider (the model list) at its base URL, through the
   * same address policy as answers. The result is returned and audited; the key is never in it.
   */
  async function test(principal: Principal, id: string): Promise<ProviderProbeResult & { keyId: string }> {
    requireRole(principal, 'admin')
    const key = await store.providerKeys.getSealed(principal.organizationId, id)
    if (!key) throw notFound('Provider key')
    if (!deps.probe) throw new AppError('not_configured', 'Testing provider keys is not available on this server', 501)
    const result = await deps.probe.probe({ baseURL: key.baseUrl ?? undefined, apiKey: secrets.open(key.secret) })
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'provider_key.tested', target: id, data: { ok: result.ok, status: result.status } })
    return { keyId: id, ...result }
  }

  async function remove(principal: Principal, id: string) {
    requireRole(principal, 'admin')
    // An agent whose model or fallback names the key would lose that target without a word.
    const users = (await usage(principal.organizationId)).get(id)
    if (users?.length) {
      const names = users.map((a) => `"${a.name}"`).join(', ')
      throw new AppError('key_in_use', `This key is used by ${users.length === 1 ? 'the agent' : 'the agents'} ${names}: choose another key for their model and fallbacks first`, 409, { agents: users })
    }
    if (!(await store.providerKeys.delete(principal.organizationId, id))) throw notFound('Provider key')
    await store.audit.record({ organizationId: principal.organizationId, actorUserId: principal.userId, action: 'provider_key.deleted', target: id })
  }

  async function target(organizationId: string, providerKeyId: string | null, model: string | null): Promise<ProviderTarget | null> {
    if (providerKeyId) {
      const key = await store.providerKeys.getSealed(organizationId, providerKeyId)
      if (!key || !model) return null
      return { provider: key.provider, baseURL: key.baseUrl ?? undefined, apiKey: secrets.open(key.secret), model, providerKeyId: key.id }
    }
    if (!deps.environment) return null
    return { provider: 'openai', baseURL: deps.environment.baseURL, apiKey: deps.environment.apiKey, model: model ?? deps.environment.model, providerKeyId: null }
  }

  /** The agent's primary model, then its fallbacks; targets whose key is gone are left out. */
  async function targetsFor(agent: Agent): Promise<ProviderTarget[]> {
    const refs = [{ providerKeyId: agent.providerKeyId, model: agent.model }, ...agent.fallbacks]
    const targets = await Promise.all(refs.map((r) => target(agent.organizationId, r.providerKeyId, r.model)))
    return targets.filter((t): t is ProviderTarget => t !== null)
  }

  async function hasModel(agent: Agent) {
    if (agent.providerKeyId || agent.fallbacks.length) return (await targetsFor(agent)).length > 0
    return Boolean(deps.environment)
  }

  /** Re-seals every stored key with the current encryption key (after a rotation). */
  async function reseal(organizationId: string): Promise<number> {
    let n = 0
    for (const k of await store.providerKeys.list(organizationId)) {
      if (k.keyId === secrets.keyId) continue
      const sealed = await store.providerKeys.getSealed(organizationId, k.id)
      if (!sealed) continue
      await store.providerKeys.reseal(organizationId, k.id, { secret: secrets.seal(secrets.open(sealed.secret)), keyId: secrets.keyId })
      n++
    }
    return n
  }

  return { add, remove, test, list: (principal: Principal) => store.providerKeys.list(principal.organizationId), listWithUsage, targetsFor, hasModel, reseal }
}

export type ProviderKeyService = ReturnType<typeof createProviderKeyService>
