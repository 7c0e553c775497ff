import type { NextFunction, Request, Response, Router } from 'express'
import express from 'express'
import { z } from 'zod'
import { AppError } from '../../core/errors.ts'
import { safeEqual } from '../../core/security/passwords.ts'
import type { Principal } from '../../core/tenancy/auth-service.ts'

export type AuthMode = 'none' | 'session'
export type RouteDef<B extends z.ZodType, Q extends z.ZodType> = {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete'
  path: string
  summary: string
  tag: string
  auth: AuthMode
  body?: B
  query?: Q
  responses?: Record<number, string>
  handler: (input: { req: Request; res: Response; body: z.infer<B>; query: z.infer<Q>; principal: Principal; params: Record<string, string> }) => Promise<unknown>
}

type Authenticate = (req: Request) => Promise<Principal | null>
/** The CSRF token a request must carry in X-CSRF-Token: set when it is authenticated by cookie, null for bearer tokens. */
type CsrfTokenOf = (req: Request) => string | null

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A tiny route registry over express: validates bodies and queries with zod at the edge and
 * writes the same schemas into the OpenAPI document, so the docs cannot drift from the code.
 */
export function createApi(deps: { authenticate: Authenticate; csrfTokenOf?: CsrfTokenOf }) {
  const router: Router = express.Router()
  const paths: Record<string, Record<string, unknown>> = {}

  function route<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown>(def: RouteDef<B, Q>) {
    router[def.method](def.path, async (req: Request, res: Response, next: NextFunction) => {
      try {
        let principal: Principal | null = null
        if (def.auth === 'session') {
          principal = await deps.authenticate(req)
          if (!principal) throw new AppError('unauthorized', 'Sign in first: send a session cookie or an Authorization: Bearer token', 401)
          // A browser sends the cookie with any request, even one another site makes it send: a
          // state-changing request authenticated by cookie must also prove it read the CSRF token.
          const expected = SAFE_METHODS.has(req.method) ? null : (deps.csrfTokenOf?.(req) ?? null)
          if (expected && !safeEqual(req.header('x-csrf-token') ?? '', expected)) throw new AppError('csrf_failed', 'Missing or wrong X-CSRF-Token header; the signed-in page gets it from GET /api/v1/me', 403)
        }
        const body = def.body ? parse(def.body, req.body ?? {}, 'body') : undefined
        const query = def.query ? parse(def.query, req.query, 'query') : undefined
        const result = await def.handler({ req, res, body: body as z.infer<B>, query: query as z.infer<Q>, principal: principal!, params: req.params as Record<string, string> })
        if (res.headersSent) return
        if (result === undefined) res.status(204).end()
        else res.json(result)
      } catch (error) {
        next(error)
      }
    })
    const openApiPath = def.path.replace(/:(\w+)/g, '{$1}')
    const params = [...def.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }))
    const queryParams = def.query instanceof z.ZodObject ? Object.entries(def.query.shape).map(([name, schema]) => ({ name, in: 'query', required: !(schema as z.ZodType).safeParse(undefined).success, schema: toJsonSchema(schema as z.ZodType) })) : []
    paths[openApiPath] ??= {}
    paths[openApiPath][def.method] = {
      summary: def.summary,
      tags: [def.tag],
      ...(def.auth === 'session' ? { security: [{ bearer: [] }, { cookie: [] }] } : {}),
      parameters: [...params, ...queryParams],
      ...(def.body ? { requestBody: { required: true, content: { 'application/json': { schema: toJsonSchema(def.body) } } } } : {}),
      responses: {
        ...Object.fromEntries(Object.entries(def.responses ?? { 200: 'OK' }).map(([status, description]) => [status, { description }])),
        '4XX': { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      },
    }
  }

  function openapi(input: { title: string; version: string }) {
    return {
      openapi: '3.1.0',
      info: { title: input.title, version: input.version, description: 'Switchboard HTTP API. Admin routes need a session: POST /api/v1/auth/login, then send the cookie or `Authorization: Bearer <token>`.' },
      paths,
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'sb_session', description: 'With the cookie, POST, PATCH, PUT and DELETE also need the header X-CSRF-Token (from GET /api/v1/me or the sign-in response).' },
        },
        schemas: {
          Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
        },
      },
    }
  }

  return { router, route, openapi, paths }
}

export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const result = schema.safeParse(value)
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || where}: ${i.message}`)
    throw new AppError('validation_failed', `Invalid ${where}: ${problems.join('; ')}`, 422, problems)
  }
  return result.data
}

function toJsonSchema(schema: z.ZodType): unknown {
  try {
    const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
    return rest
  } catch {
    return {}
  }
}
