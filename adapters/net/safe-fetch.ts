// Outgoing HTTP to URLs that users choose (a page to import, an organization's model provider).
// Such a URL must not make the server read its own network: the host name is resolved once, every
// address of the answer must be public (address-policy.ts), and the connection goes to exactly
// that checked address, so a name that answers differently a moment later (DNS rebinding) cannot
// slip through. Redirects are followed here, hop by hop, with the same check before each one.
import { lookup as dnsLookup } from 'node:dns/promises'
import type { LookupAddress, LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import type { Agent } from 'undici'
import { AppError } from '../../core/errors.ts'
import { addressRange, EMPTY_ALLOW_LIST, isAllowedAddress, isAllowedHost, normalizeHost, parseAllowList, type AllowList } from './address-policy.ts'

export type ResolvedAddress = { address: string; family: number }
/** Resolves a host name to all its addresses (default: the system resolver, as `dns.lookup`). */
export type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>

export type SafeFetchOptions = {
  /** What the operator allows besides public addresses: an AllowList, or ALLOW_PRIVATE_URLS entries. */
  allowPrivate?: AllowList | readonly string[]
  lookup?: LookupFn
  /** Redirects followed before the request fails (default 5). */
  maxRedirects?: number
  /** Connect timeout in ms (default 10 000); the caller's signal bounds the whole request. */
  timeoutMs?: number
  /** Ends the message of a refusal, e.g. "only public addresses can be imported". */
  refusal?: string
  /**
   * Sends each checked hop with the guarded dispatcher. Default: undici's own fetch, whose version
   * matches the Agent's; tests pass the global fetch so nock can answer.
   */
  fetch?: typeof fetch
}

/** A fetch-compatible function; close() ends its idle connections. */
export type SafeFetch = typeof fetch & { close(): Promise<void> }

const defaultLookup: LookupFn = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/** Thrown inside the connection's lookup, turned into an AppError naming the URL by the fetch. */
class RefusedAddress extends Error {
  constructor(
    readonly address: string,
    readonly range: string,
  ) {
    super(`${address} is not a public address (${range})`)
  }
}

const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '')

/**
 * The address policy for one set of options: `checkUrl` judges what the URL alone shows (scheme,
 * an IP address as host), `resolve` a host name's addresses, `check` both (for a URL that is only
 * stored now and fetched later, such as a provider key's base URL).
 */
export function createAddressGuard(options: Pick<SafeFetchOptions, 'allowPrivate' | 'lookup' | 'refusal'> = {}) {
  const allow = Array.isArray(options.allowPrivate) ? parseAllowList(options.allowPrivate) : ((options.allowPrivate as AllowList | undefined) ?? EMPTY_ALLOW_LIST)
  const lookup = options.lookup ?? defaultLookup
  const tail = options.refusal ? `; ${options.refusal}` : ''

  const forbidden = (url: string, why: string) => new AppError('url_forbidden', `${url}: ${why}${tail}`, 422, { url })

  function parse(raw: string | URL): URL {
    try {
      return new URL(raw)
    } catch {
      throw new AppError('invalid_url', `"${String(raw)}" is not a valid URL`, 422)
    }
  }

  function checkUrl(raw: string | URL): URL {
    const url = parse(raw)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('invalid_url', `${url}: only http and https URLs are allowed`, 422)
    const host = bareHost(url)
    // WHATWG URL has already turned 2130706433, 0x7f.1 and 127.1 into 127.0.0.1.
    if (isIP(host) && !isAllowedHost(allow, host) && !isAllowedAddress(allow, host)) {
      const range = addressRange(host)
      if (range !== 'public') throw forbidden(url.toString(), `${host} is a private address (${range})`)
    }
    return url
  }

  /** All addresses of the name, refused when any one is not public and not allowed. */
  async function resolve(hostname: string): Promise<ResolvedAddress[]> {
    const addresses = await lookup(hostname)
    if (addresses.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname })
    if (isAllowedHost(allow, hostname)) return addresses
    for (const { address } of addresses) {
      const range = addressRange(address)
      if (range !== 'public' && !isAllowedAddress(allow, address)) throw new RefusedAddress(address, range)
    }
    return addresses
  }

  /** Turns a refusal from inside the connection into the AppError for this URL. */
  function explain(error: unknown, url: string): unknown {
    for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof AppError) return e
      if (e instanceof RefusedAddress) return forbidden(url, `the host resolves to a private address (${e.address}, ${e.range})`)
    }
    return error
  }

  async function check(raw: string): Promise<void> {
    const url = checkUrl(raw)
    const host = bareHost(url)
    if (isIP(host) || isAllowedHost(allow, host)) return
    try {
      await resolve(host)
    } catch (error) {
      const explained = explain(error, url.toString())
      if (explained instanceof AppError) throw explained
      const e = error as { code?: string; message?: string }
      throw new AppError('url_unresolved', `${url}: the host ${host} could not be resolved (${e.code ?? e.message})`, 422, { url: url.toString() })
    }
  }

  /** net's lookup hook: the one resolution of a connection, which then connects to these addresses. */
  function connectLookup(hostname: string, opts: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void {
    resolve(normalizeHost(hostname)).then(
      (addresses) => {
        const wanted = opts.family === 4 || opts.family === 6 ? addresses.filter((a) => a.family === opts.family) : addresses
        const first = wanted[0]
        if (!first) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '')
        if (opts.all) callback(null, wanted)
        else callback(null, first.address, first.family)
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    )
  }

  return { checkUrl, check, resolve, explain, connectLookup, forbidden }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const redirected = (error: unknown, from: URL | undefined) =>
  from && error instanceof AppError ? new AppError(error.code, `${error.message} (redirected from ${from})`, error.status, error.details) : error
// Credentials for one origin are not handed to another one a redirect names.
const ORIGIN_BOUND_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'api-key', 'x-api-key']

export function createSafeFetch(options: SafeFetchOptions = {}): SafeFetch {
  const guard = createAddressGuard(options)
  const maxRedirects = options.maxRedirects ?? 5
  let sender: Promise<{ agent: Agent; send: typeof fetch }> | undefined
  // undici loads with the first request: an installation that never imports a URL never loads it.
  const ready = () =>
    (sender ??= import('undici').then((undici) => ({
      agent: new undici.Agent({ connect: { timeout: options.timeoutMs ?? 10_000, lookup: guard.connectLookup } }),
      send: options.fetch ?? (undici.fetch as unknown as typeof fetch),
    })))

  async function safeFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    if (input instanceof Request) {
      return safeFetch(input.url, { method: input.method, headers: input.headers, signal: input.signal, redirect: input.redirect, ...(input.body ? { body: input.body, duplex: 'half' } : {}), ...init } as RequestInit)
    }
    const first = guard.checkUrl(input)
    const { agent, send } = await ready()
    const mode = init.redirect ?? 'follow'
    let url = first
    let method = (init.method ?? 'GET').toUpperCase()
    let body = init.body
    const headers = new Headers(init.headers)
    let from: URL | undefined
    for (let hop = 0; ; hop++) {
      let res: Response
      try {
        res = await send(url, { ...init, method, headers, body, redirect: 'manual', dispatcher: agent } as RequestInit)
      } catch (error) {
        throw redirected(guard.explain(error, url.toString()), from)
      }
      const location = REDIRECTS.has(res.status) ? res.headers.get('location') : null
      if (location === null || mode === 'manual') return res
      await res.body?.cancel().catch(() => undefined)
      if (mode === 'error') throw new AppError('url_redirected', `${url}: the server redirects to ${location}`, 422)
      if (hop >= maxRedirects) throw new AppError('too_many_redirects', `${first}: more than ${maxRedirects} redirects (the last one to ${location})`, 422, { url: first.toString() })
      if (!URL.canParse(location, url)) throw new AppError('invalid_url', `${url}: the server redirects to "${location}", which is not a valid URL`, 422)
      let next: URL
      try {
        next = guard.checkUrl(new URL(location, url))
      } catch (error) {
        throw redirected(error, url)
      }
      if (next.origin !== url.origin) for (const name of ORIGIN_BOUND_HEADERS) headers.delete(name)
      // As fetch does: 303, and 301/302 after a POST, continue as a GET without the body.
      if (res.status === 303 ? method !== 'GET' && method !== 'HEAD' : (res.status === 301 || res.status === 302) && method === 'POST') {
        method = 'GET'
        body = undefined
        for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(name)
      } else if (body instanceof ReadableStream) {
        throw new AppError('url_redirected', `${url}: the server redirects to ${next} and the request body cannot be sent again`, 422)
      }
      from = url
      url = next
    }
  }

  return Object.assign(safeFetch as typeof fetch, {
    async close() {
      if (sender) await (await sender).agent.close()
    },
  })
}
