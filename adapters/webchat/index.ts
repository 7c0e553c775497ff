import { z } from 'zod'
import { blankToUndefined } from '../../core/config/index.ts'
import { newToken } from '../../core/ids.ts'
import { defineChannel } from '../channel-module.ts'
import { registerWebchatRoutes } from './routes.ts'
import { createWebchatChannel } from './webchat-channel.ts'

/**
 * CSP frame-ancestors sources: 'self', 'none', or origins. Each word is matched whole, so the value
 * cannot smuggle a `;` and another directive into the header it is written to.
 */
const frameAncestors = z.preprocess(
  blankToUndefined,
  z
    .string()
    .default("'self'")
    .transform((v) => v.trim().split(/\s+/).map((word) => (word === 'self' || word === 'none' ? `'${word}'` : word)))
    .refine((words) => (words.includes("'none'") ? words.length === 1 : words.every((w) => w === "'self'" || /^https?:\/\/(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d{1,5})?$/i.test(w))), {
      message: "expected 'self', 'none', or a space-separated list of origins such as https://shop.example.com",
    })
    .transform((words) => words.join(' ')),
)

/**
 * The web chat: a page at /chat/{key} and the HTTP API behind it, which `npm run chat` and scripts
 * use too. It is Switchboard's own request/response API, not a service's webhook, so it keeps its
 * routes (and waits for the reply within the request); every agent gets one web chat when created.
 */
export const webchat = defineChannel({
  kind: 'webchat',
  label: 'Web chat',
  config: z.object({
    /** Web chat messages a minute from one client IP address, and to one web chat key from all addresses (0: no limit). */
    WEBCHAT_RATE_PER_IP: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).default(20)),
    WEBCHAT_RATE_PER_KEY: z.preprocess(blankToUndefined, z.coerce.number().int().min(0).default(60)),
    /** Sites allowed to embed the web chat page in a frame (CSP frame-ancestors). */
    WEBCHAT_FRAME_ANCESTORS: frameAncestors,
  }),
  connect: z.object({ name: z.string().trim().min(1).max(120).optional() }).strict(),

  create(deps) {
    const adapter = createWebchatChannel()
    const routes = registerWebchatRoutes({
      api: deps.api,
      store: deps.store,
      turns: deps.turns,
      notifier: deps.notifier,
      channel: adapter,
      replyTimeoutMs: deps.config.WEBCHAT_REPLY_TIMEOUT_MS,
      frameAncestors: deps.config.WEBCHAT_FRAME_ANCESTORS,
      limiter: deps.limiter,
      rateLimits: { perIp: deps.config.WEBCHAT_RATE_PER_IP, perKey: deps.config.WEBCHAT_RATE_PER_KEY },
    })
    return {
      adapter,
      routes,
      async connect({ organizationId, agent, input }) {
        await deps.checkChannelCap(organizationId)
        return deps.store.inboxes.create({ organizationId, agentId: agent.id, channel: 'webchat', name: input.name ?? `${agent.name} web chat`, publicKey: newToken(18), settings: {} })
      },
      // Nothing outside to tell: the page's address stops working with the inbox.
      disconnect: async () => ({}),
      summary: (inbox) => ({
        inboxId: inbox.id,
        kind: inbox.channel,
        agentId: inbox.agentId,
        name: inbox.name,
        purpose: inbox.purpose,
        mode: 'http',
        webhookUrl: null,
        details: inbox.publicKey ? { key: inbox.publicKey, chatPath: `/chat/${inbox.publicKey}` } : {},
      }),
    }
  },
})
