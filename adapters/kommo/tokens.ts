import { AppError } from '../../core/errors.ts'
import { redact } from './client.ts'
import { problemSchema, subdomainSchema, tokenResponseSchema } from './schemas.ts'

/*
 * A Kommo connection's tokens (amoCRM's OAuth, oauth/step-by-step.md in the amo-docs mirror, and
 * https://developers.kommo.com/reference/get-token):
 *
 * - an authorization code lives 20 minutes and is exchanged once at
 *   POST https://{subdomain}.kommo.com/oauth2/access_token for an access token (a JWT, 24 hours:
 *   `expires_in` 86400) and a refresh token (3 months);
 * - a refresh token is SINGLE-USE: exchanging it returns a new pair and the old refresh token is dead
 *   from then on. The new pair must be saved, or the connection is lost ("after receiving a new
 *   refresh token it must be saved, otherwise access has to be requested from the user again");
 * - a refresh token used twice is refused: 401 (or 400) with problem JSON whose `hint` is
 *   "Token has been revoked" (amocrm-api-php issues #123, #315: "happens if you use a refresh token
 *   that was already used");
 * - a long-lived token (private integrations, https://developers.kommo.com/docs/long-lived-token)
 *   has no refresh token and lives 1 day to 5 years: nothing to refresh.
 *
 * So with several processes (server, workers) one refresh must run at a time for a connection, and
 * whoever waited for it must use its result instead of spending the dead refresh token again:
 * the refresh runs inside the store's cross-process lock, re-reads the tokens there, and saves the
 * new pair before anyone uses it. (amocrm-api-php refreshes when the token `hasExpired()` and hands
 * the new one to an `onAccessTokenRefresh` callback after the fact; amocrm-js refreshes lazily and
 * emits a 'change' event; neither serializes refreshes across processes.)
 */

export type KommoTokens = { accessToken: string; refreshToken?: string; expiresAt?: Date }

/** Where the connection's tokens live (sealed in the database by the caller) and the lock that serializes refreshes across processes. */
export type TokenStore = {
  read(): Promise<KommoTokens>
  /** Runs `fn` holding a lock that works across processes (the caller implements it with a row lock or Redis); `fn` gets the tokens as they are NOW (re-read inside the lock). */
  withRefreshLock<T>(fn: (current: KommoTokens) => Promise<T>): Promise<T>
  save(tokens: KommoTokens): Promise<void>
  /** A refused refresh: the connection is broken (the caller marks it and tells the admins). */
  broken(reason: string): Promise<void>
}

export type KommoOAuthClient = {
  /** The code of Kommo's redirect exchanged for the connection's first pair. */
  exchangeCode(subdomain: string, code: string): Promise<KommoTokens>
  /** A refresh token exchanged for a new pair (the one given is dead afterwards). */
  refresh(subdomain: string, refreshToken: string): Promise<KommoTokens>
}

/** AppError code of a refused code or refresh token (400/401 from oauth2/access_token), and of a token the API refused. */
export const CRM_UNAUTHORIZED = 'crm_unauthorized'
/** Refresh before the access token is this close to expiring, so that a call never starts with a token about to die. */
export const DEFAULT_SKEW_MS = 5 * 60_000
const TIMEOUT_MS = 20_000

/** Exchanges a code or a refresh token at https://{subdomain}.kommo.com/oauth2/access_token (JSON body: client_id, client_secret, grant_type, code|refresh_token, redirect_uri). */
export function createOAuthClient(input: {
  /** The account's address, e.g. `(s) => kommoApiUrl(KOMMO_API_URL, s)` (./client.ts). */
  apiUrlFor: (subdomain: string) => string
  clientId: string
  clientSecret: string
  /** Exactly the Redirect URI of the integration's settings (Kommo compares them). */
  redirectUri: string
  fetch?: typeof fetch
  now?: () => Date
  timeoutMs?: number
}): KommoOAuthClient {
  const doFetch: typeof fetch = input.fetch ?? ((url, init) => fetch(url, init))
  const now = input.now ?? (() => new Date())
  const timeoutMs = input.timeoutMs ?? TIMEOUT_MS

  async function grant(subdomain: string, grantType: 'authorization_code' | 'refresh_token', secret: string): Promise<KommoTokens> {
    if (!subdomainSchema.safeParse(subdomain).success) throw new AppError('validation_failed', `Not a Kommo subdomain: ${JSON.stringify(subdomain.slice(0, 70))}`, 422)
    const clean = (text: string) => redact(text, secret, input.clientSecret)
    const what = grantType === 'authorization_code' ? 'Exchanging the Kommo authorization code' : 'Refreshing the Kommo access token'
    const body = { client_id: input.clientId, client_secret: input.clientSecret, grant_type: grantType, ...(grantType === 'authorization_code' ? { code: secret } : { refresh_token: secret }), redirect_uri: input.redirectUri }
    // The expiry counts from before the request: a little early rather than late.
    const sentAt = now().getTime()
    let res: Response
    try {
      res = await doFetch(`${input.apiUrlFor(subdomain).replace(/\/+$/, '')}/oauth2/access_token`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'manual',
      })
    } catch (cause) {
      const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')
      throw new AppError('crm_unreachable', `${what} failed: ${timedOut ? `no answer within ${Math.round(timeoutMs / 1000)} s` : clean(`network error: ${cause instanceof Error ? cause.message : String(cause)}`)}`, 502)
    }
    const text = await res.text().catch(() => '')
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    if (res.ok) {
      const parsed = tokenResponseSchema.safeParse(json)
      if (!parsed.success) throw new AppError('provider_error', `${what} failed: Kommo answered in an unexpected shape (${parsed.error.issues.map((i) => i.path.map(String).join('.') || '(root)').join(', ')})`, 502)
      return { accessToken: parsed.data.access_token, refreshToken: parsed.data.refresh_token, expiresAt: new Date(sentAt + parsed.data.expires_in * 1000) }
    }
    const problem = problemSchema.safeParse(json)
    const said = problem.success ? clean([problem.data.title, problem.data.detail, problem.data.hint].filter(Boolean).join(': ')) : ''
    const why = `HTTP ${res.status}${said ? `: ${said}` : ''}`
    if (res.status === 400 || res.status === 401) {
      const hint =
        grantType === 'authorization_code'
          ? 'An authorization code works once and for 20 minutes, and only with the Redirect URI of the integration; start connecting Kommo again.'
          : 'A refresh token works once, and for 3 months; connect Kommo again to give Switchboard a new one.'
      throw new AppError(CRM_UNAUTHORIZED, `${what} was refused (${why}). ${hint}`, 422)
    }
    if (res.status === 429) throw new AppError('crm_rate_limited', `${what} failed: Kommo is limiting the calls (${why}); try again in a minute.`, 503)
    throw new AppError('provider_error', `${what} failed (${why})`, 502)
  }

  return {
    exchangeCode: (subdomain, code) => grant(subdomain, 'authorization_code', code),
    refresh: (subdomain, refreshToken) => grant(subdomain, 'refresh_token', refreshToken),
  }
}

/**
 * The access token to use now: refreshed when it expires within `skewMs` (or when `force` after a 401). Refresh tokens are
 * single-use (https://developers.kommo.com/reference/get-token): the refresh runs inside withRefreshLock; inside, if another
 * process already refreshed (the token re-read differs from the one we saw), that one is used; the NEW pair is saved before it is used.
 * A refused refresh (400/401 from oauth2/access_token) calls broken() and throws AppError 'crm_unauthorized' 422.
 *
 * Long-lived tokens (no refresh token) are never refreshed; a 401 with one (`force`) → broken.
 */
export function createTokenManager(input: { subdomain: string; store: TokenStore; oauth?: KommoOAuthClient; skewMs?: number; now?: () => Date }): { accessToken(opts?: { force?: boolean; seen?: string }): Promise<string> } {
  const skewMs = input.skewMs ?? DEFAULT_SKEW_MS
  const now = input.now ?? (() => new Date())
  const store = input.store
  const expiring = (t: KommoTokens) => t.expiresAt !== undefined && t.expiresAt.getTime() - now().getTime() <= skewMs

  /** The connection is broken: the store marks it (a failure there is not fatal: the next call is refused again and marks it again). */
  async function broken(reason: string): Promise<never> {
    await store.broken(reason).catch(() => undefined)
    throw new AppError(CRM_UNAUTHORIZED, reason, 422)
  }
  const longLivedRefused = () => broken(`Kommo refused the long-lived token of ${input.subdomain} (revoked or expired); connect Kommo again with a new one.`)

  return {
    async accessToken(opts = {}) {
      const stored = await store.read()
      const seen = opts.seen ?? stored.accessToken
      // After a 401, a token other than the refused one is a newer one (refreshed or reconnected meanwhile).
      if (opts.force && stored.accessToken !== seen && !expiring(stored)) return stored.accessToken
      if (!opts.force && (!stored.refreshToken || !expiring(stored))) return stored.accessToken
      if (!stored.refreshToken) return longLivedRefused()

      return store.withRefreshLock(async (current) => {
        // Someone refreshed while this process waited for the lock: theirs is the live pair, and our refresh token is spent.
        if (current.accessToken !== seen && !expiring(current)) return current.accessToken
        if (!current.refreshToken) {
          if (current.accessToken !== seen) return current.accessToken
          return longLivedRefused()
        }
        if (!input.oauth) {
          throw new AppError('crm_not_configured', "Refreshing the Kommo access token needs the integration's client id, secret and redirect URI, which are not configured on this server.", 503)
        }
        let next: KommoTokens
        try {
          next = await input.oauth.refresh(input.subdomain, current.refreshToken)
        } catch (error) {
          if (error instanceof AppError && error.code === CRM_UNAUTHORIZED) return broken(error.message)
          // Kommo unreachable or failing: the connection is not broken, and the refresh is tried again by the next call.
          // (Had Kommo received it, our refresh token is spent and that next try will be refused.)
          throw error
        }
        // Saved before anyone uses it: a process that dies after this line leaves a working pair behind.
        await store.save(next)
        return next.accessToken
      })
    },
  }
}
