// Knowledge organised as managers expect: collections (categories), articles written in Markdown,
// sources moved between collections, and the collections each agent answers from.
import { z } from 'zod'
import { notFound } from '../../core/errors.ts'
import { isArticle, type KnowledgeService } from '../../core/knowledge/knowledge-service.ts'
import type { Store } from '../../core/ports.ts'
import { requireRole } from '../../core/tenancy/auth-service.ts'
import type { createApi } from '../../adapters/http/api.ts'

const name = z.string().trim().min(1).max(120)
const description = z.string().max(2000)
const collectionId = z.string().uuid().nullable()
const articleTitle = z.string().trim().min(1).max(300)
const markdown = z.string().min(1, 'must not be empty').max(1_000_000)

export function registerKnowledgeRoutes(deps: { api: ReturnType<typeof createApi>; store: Store; knowledge: KnowledgeService }) {
  const { api, store, knowledge } = deps

  // How questions are matched: the admin web says so when semantic search is off (KNOWLEDGE_VECTORS=off).
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/search-mode',
    tag: 'knowledge',
    summary: 'How knowledge is searched: hybrid (words and meaning), or by words only when KNOWLEDGE_VECTORS=off',
    auth: 'session',
    handler: async () => knowledge.searchMode(),
  })

  // ---- collections
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/collections',
    tag: 'knowledge',
    summary: 'Collections with the number of sources in each',
    auth: 'session',
    handler: async ({ principal }) => ({ collections: await store.collections.list(principal.organizationId) }),
  })
  api.route({
    method: 'post',
    path: '/api/v1/knowledge/collections',
    tag: 'knowledge',
    summary: 'Create a collection (admin); names are unique in the organization',
    auth: 'session',
    body: z.object({ name, description: description.optional() }).strict(),
    responses: { 201: 'Created', 409: 'A collection of that name exists' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      const collection = await knowledge.createCollection({ organizationId: principal.organizationId, ...body, actorUserId: principal.userId })
      res.status(201)
      return { collection }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/collections/:id',
    tag: 'knowledge',
    summary: 'A collection and its sources',
    auth: 'session',
    handler: async ({ principal, params }) => {
      const collection = await store.collections.get(principal.organizationId, params.id!)
      if (!collection) throw notFound('Collection')
      return { collection, sources: await store.knowledge.listSources(principal.organizationId, { collectionId: collection.id }) }
    },
  })
  api.route({
    method: 'patch',
    path: '/api/v1/knowledge/collections/:id',
    tag: 'knowledge',
    summary: 'Rename a collection or change its description (admin)',
    auth: 'session',
    body: z.object({ name, description }).partial().strict(),
    handler: async ({ principal, params, body }) => {
      requireRole(principal, 'admin')
      return { collection: await knowledge.updateCollection({ organizationId: principal.organizationId, id: params.id!, ...body, actorUserId: principal.userId }) }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/knowledge/collections/:id',
    tag: 'knowledge',
    summary: 'Delete a collection (admin); its sources stay, uncategorised',
    auth: 'session',
    responses: { 204: 'Deleted' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      await knowledge.deleteCollection(principal.organizationId, params.id!, principal.userId)
      return undefined
    },
  })

  // ---- articles
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/articles',
    tag: 'knowledge',
    summary: 'Articles (Markdown written directly), optionally of one collection',
    auth: 'session',
    query: z.object({ collectionId: z.string().uuid().optional() }),
    handler: async ({ principal, query }) => ({
      articles: (await store.knowledge.listSources(principal.organizationId, { kind: 'markdown', ...(query.collectionId ? { collectionId: query.collectionId } : {}) })).filter(isArticle),
    }),
  })
  api.route({
    method: 'post',
    path: '/api/v1/knowledge/articles',
    tag: 'knowledge',
    summary: 'Write an article in Markdown (admin); indexed as a job like any source',
    auth: 'session',
    body: z.object({ title: articleTitle, markdown, collectionId: collectionId.optional() }).strict(),
    responses: { 202: 'Queued for indexing' },
    handler: async ({ principal, body, res }) => {
      requireRole(principal, 'admin')
      const article = await knowledge.addArticle({ organizationId: principal.organizationId, collectionId: body.collectionId ?? null, title: body.title, markdown: body.markdown, actorUserId: principal.userId })
      res.status(202)
      return { article }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/knowledge/articles/:id',
    tag: 'knowledge',
    summary: 'An article with its Markdown, status and progress',
    auth: 'session',
    handler: async ({ principal, params }) => knowledge.getArticle(principal.organizationId, params.id!),
  })
  api.route({
    method: 'patch',
    path: '/api/v1/knowledge/articles/:id',
    tag: 'knowledge',
    summary: 'Edit an article (admin): a new title or text is indexed again and replaces the old chunks at once; collectionId moves it',
    auth: 'session',
    body: z.object({ title: articleTitle, markdown, collectionId }).partial().strict(),
    handler: async ({ principal, params, body }) => {
      requireRole(principal, 'admin')
      return { article: await knowledge.updateArticle({ organizationId: principal.organizationId, id: params.id!, ...body, actorUserId: principal.userId }) }
    },
  })
  api.route({
    method: 'delete',
    path: '/api/v1/knowledge/articles/:id',
    tag: 'knowledge',
    summary: 'Delete an article and its chunks (admin)',
    auth: 'session',
    responses: { 204: 'Deleted' },
    handler: async ({ principal, params }) => {
      requireRole(principal, 'admin')
      await knowledge.getArticle(principal.organizationId, params.id!)
      await knowledge.deleteSource(principal.organizationId, params.id!, principal.userId)
      return undefined
    },
  })

  // ---- sources between collections, and agents' collections
  api.route({
    method: 'patch',
    path: '/api/v1/knowledge/sources/:id',
    tag: 'knowledge',
    summary: 'Move a source (file, page or article) to a collection, or out of every collection with null (admin)',
    auth: 'session',
    body: z.object({ collectionId }).strict(),
    handler: async ({ principal, params, body }) => {
      requireRole(principal, 'admin')
      return { source: await knowledge.moveSource({ organizationId: principal.organizationId, id: params.id!, collectionId: body.collectionId, actorUserId: principal.userId }) }
    },
  })
  api.route({
    method: 'get',
    path: '/api/v1/agents/:id/collections',
    tag: 'agents',
    summary: 'The collections an agent answers from (empty: all of the organization\'s knowledge)',
    auth: 'session',
    handler: async ({ principal, params }) => {
      if (!(await store.agents.get(principal.organizationId, params.id!))) throw notFound('Agent')
      return { collectionIds: await store.collections.forAgent(principal.organizationId, params.id!) }
    },
  })
  api.route({
    method: 'put',
    path: '/api/v1/agents/:id/collections',
    tag: 'agents',
    summary: 'Give an agent the collections it answers from (admin); an empty list = all knowledge',
    auth: 'session',
    body: z.object({ collectionIds: z.array(z.string().uuid()).max(100) }).strict(),
    handler: async ({ principal, params, body }) => {
      requireRole(principal, 'admin')
      await knowledge.setAgentCollections({ organizationId: principal.organizationId, agentId: params.id!, collectionIds: body.collectionIds, actorUserId: principal.userId })
      return { collectionIds: await store.collections.forAgent(principal.organizationId, params.id!) }
    },
  })
}
