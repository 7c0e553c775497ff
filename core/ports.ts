/**
 * The interfaces the adapters implement. core/ depends only on these, never on an SDK.
 */
import type { AgentLanguage, Language } from './language/messages.ts'
import type { BillingSubscription } from './billing/plans.ts'

// ---------- channels ----------
/**
 * A channel's name (`telegram`, `webchat`, later `slack`, `messenger`, `instagram`, `kommo`): the
 * folder of its module under adapters/ and its line in adapters/channels.ts. Core never lists them.
 */
export type ChannelKind = string

/** `ref` is the channel's own id of the file (e.g. a Telegram file_id): never a URL with credentials in it. */
export type Attachment = { kind: 'image' | 'document' | 'audio' | 'video' | 'other'; name?: string; url?: string; ref?: string; mimeType?: string; size?: number }
export type Source = { title: string; snippet: string; sourceId?: string; chunkId?: string; score?: number }
export type Choice = { id: string; label: string }

export type InboundMessage = {
  inboxId: string
  externalThreadId: string
  externalMessageId: string
  externalUserId: string
  userName?: string
  text?: string
  attachments: Attachment[]
  /**
   * A command the channel recognised as one (Telegram's bot_command entity, Slack's slash command,
   * a web chat line starting with /): core never parses text for commands. `link <code>` links an
   * admin's account on every channel.
   */
  command?: InboundCommand
  /** The id of the Choice (button) the person pressed; `text` is then its label, for the transcript. */
  choiceId?: string
  /** The customer's client shows the answer as it is written (server-sent events). */
  streaming?: boolean
  /** A one-to-one chat between this person and the bot (not a group): only there can accounts be linked and admin commands run. */
  privateThread?: boolean
  /**
   * What the channel needs to answer this very message where it was written (Slack: a slash
   * command's response_url): kept with the message and handed back to send() with the reply.
   */
  replyContext?: Record<string, string>
  receivedAt: Date
  raw: unknown
}

export type InboundCommand = { name: string; args: string }

/**
 * What a channel's webhook body or polled update means, decided once by the adapter's normalize():
 * a customer's (or admin's) message, which may carry a command or a button press, or an action of
 * an operator where operators work (the desk). Nothing downstream parses the channel's payload again.
 */
export type ChannelEvent = { type: 'message'; message: InboundMessage } | { type: 'operator'; action: OperatorAction } | { type: 'human_reply'; reply: HumanReply }

/**
 * A person of the business answered the customer outside Switchboard, in the service's own inbox
 * (Meta Business Suite's echo of a message no app sent): kept in the transcript, and the bot steps
 * back as if an operator had taken the conversation.
 */
export type HumanReply = { inboxId: string; externalThreadId: string; externalUserId: string; externalMessageId: string; text: string; sentAt: Date }

/** An operator acting where operators work (a Telegram group, a Slack channel). */
export type OperatorAction = {
  inboxId: string
  /** The operator's id in the channel, looked up among linked accounts. */
  externalUserId: string
  userName?: string
  /** The chat or channel where the operator acted. */
  place: string
  /** What the channel needs to answer the operator in place (a callback id, the message to reply to); never read by core. */
  reply: Record<string, string | number>
} & (
  /** Take or hand back the conversation of an announcement's button. */
  | { kind: 'take' | 'release'; conversationId: string }
  /** Hand back the conversation this operator holds at this desk, when the channel cannot say which (Slack: /switchboard release). */
  | { kind: 'release_held' }
  /** A message written in reply to one of the desk's posts; `release` hands the conversation back instead. */
  | { kind: 'reply'; postId: string; text: string; release?: boolean }
  /** An admin makes this place the inbox's desk (Telegram: /operatorgroup in a group). */
  | { kind: 'claim_desk' }
)

/** How an operator's action ended, told back to the operator where they work. */
export type OperatorOutcome =
  | 'taken'
  | 'released'
  | 'replied'
  | 'desk_claimed'
  | 'not_linked'
  | 'not_admin'
  | 'taken_by_other'
  | 'not_open'
  | 'unknown_conversation'
  /** The channel refused to deliver the operator's reply (a closed messaging window); the desk says why. */
  | 'not_delivered'
  /** release_held: the operator holds no conversation here, or several (then they choose with the buttons). */
  | 'none_held'
  | 'several_held'
  | 'ignored'

/** `author`: who wrote it (a person's reply may go where the bot's may not: Meta's HUMAN_AGENT tag). */
export type OutboundMessage = { text: string; sources?: Source[]; choices?: Choice[]; attachments?: Attachment[]; author?: MessageAuthor }
/**
 * The code of the AppError a channel throws when the service's rules forbid this message now (a
 * closed messaging window): never retried; the message is kept as not sent, with the reason.
 */
export const DELIVERY_REFUSED = 'delivery_refused'
/** Where a message goes: the conversation's thread, and the reply context of the message it answers, if any. */
export type ThreadRef = { conversationId: string; externalThreadId: string; replyContext?: Record<string, string> }
export type SendResult = { externalMessageId?: string }
export type RawRequest = { headers: Record<string, string | string[] | undefined>; rawBody: Buffer; query: Record<string, unknown> }
export type RawResponse = { status: number; body: string; contentType?: string }

/** `customers`: a channel customers write to; `test`: the admin web's test chat of an agent (not billed, not in reports). */
export type InboxPurpose = 'customers' | 'test'

export type Inbox = {
  id: string
  organizationId: string
  agentId: string
  channel: ChannelKind
  name: string
  publicKey: string | null
  purpose: InboxPurpose
  /** The channel's own non-secret settings: read them with the channel module's schema, never by a cast. */
  settings: Record<string, unknown>
  /**
   * Where this inbox's handoffs go: another inbox of the organization whose channel has an
   * operators' desk (a Slack channel for a Telegram bot's customers); null = its own desk, if any.
   */
  deskInboxId: string | null
}

export interface ChannelAdapter {
  kind: ChannelKind
  /**
   * A set-up check the service makes (Meta's GET with hub.challenge, Slack's url_verification):
   * the answer, or undefined when this request is not one. A POST reaches it only once verified.
   */
  handshake?(req: RawRequest, inbox: Inbox): RawResponse | undefined
  /** Checks the request came from the service (a signature over the raw bytes, a secret header); false = 401. */
  verify(req: RawRequest, inbox: Inbox): boolean | Promise<boolean>
  /**
   * For a service that posts every workspace's events to one address (an app installed with OAuth):
   * the inbox a request to POST /webhooks/{kind} is for, from its parsed body; null when none (401).
   * The route then verifies the request with that inbox's secrets, as on its own address.
   */
  locate?(req: RawRequest, body: unknown): Promise<Inbox | null>
  /**
   * The same for a service whose one body may batch several installations' events (Meta: entries of
   * several Pages or accounts, of different organizations): the request checked ONCE with the app's
   * own secret, then every inbox it names. null = not signed by the app (401); [] = signed, but for
   * no inbox here (acknowledged with 200: Meta turns off an endpoint that keeps failing). Each inbox
   * is given the whole body; its `normalize` keeps only its own entries. Throws a 4xx AppError for a
   * malformed body.
   */
  locateAll?(req: RawRequest, body: unknown): Promise<Inbox[] | null>
  /**
   * For a service that posts to an address whose last segment is its own key rather than an inbox
   * id (Kommo's chats: one hook URL per channel, /webhooks/kommo/{scope_id}): the inbox of that key,
   * called when the segment is not an inbox of this kind. The request is checked first with the
   * app's own secret: 'unauthorized' = not signed (401, nothing stored); null = signed, but no inbox
   * has that key (404). The route then verifies and delivers as on the inbox's own address.
   */
  locateKey?(key: string, req: RawRequest): Promise<Inbox | null | 'unauthorized'>
  /**
   * The set-up check of that one address, which names no installation, checked with the app's own
   * secrets: Slack's url_verification (a POST), Meta's hub.challenge (a GET, with the app's verify
   * token). Called for a GET (without its body) and for a POST before `locate`.
   */
  appHandshake?(req: RawRequest): RawResponse | undefined
  /** The events of one webhook body or polled update, parsed once; [] for what needs no answer. Throws a 4xx AppError for a malformed body. */
  normalize(body: unknown, inbox: Inbox): ChannelEvent[] | Promise<ChannelEvent[]>
  /** The body of the 2xx answer, when the service shows it (Slack shows a slash command's); JSON { ok: true } otherwise. */
  respond?(events: ChannelEvent[], inbox: Inbox): RawResponse | undefined
  /** Tells the service a received event was taken (Telegram: stops a pressed button's spinner); failures are only logged. */
  acknowledge?(input: { inbox: Inbox; event: ChannelEvent }): Promise<void>
  /** The most characters one message may have; longer replies are split. */
  maxMessageLength?: number
  /** `sendKey` is derived from the turn, so a retried job never sends the same reply twice. */
  send(input: { to: ThreadRef; message: OutboundMessage; inbox: Inbox; sendKey: string }): Promise<SendResult>
  /** Shows that an answer is being written (Telegram's "typing..."); called again while the turn runs. */
  typing?(input: { to: ThreadRef; inbox: Inbox }): Promise<void>
  /** Replaces the text of a message this channel sent earlier (progress messages). */
  edit?(input: { to: ThreadRef; externalMessageId: string; text: string; inbox: Inbox }): Promise<void>
  /** The bytes of an attachment a customer or admin sent (the channel fetches it with its own credentials). */
  download?(input: { attachment: Attachment; inbox: Inbox; maxBytes: number }): Promise<Buffer>
  /** Sets the command menu one chat sees (e.g. admin commands for a linked admin only). */
  setCommandMenu?(input: { inbox: Inbox; externalThreadId: string; commands: { name: string; description: string }[] }): Promise<void>
}

// ---------- domain records ----------
export type Role = 'owner' | 'admin' | 'operator' | 'member'
export type Organization = { id: string; name: string; createdAt: Date }
export type User = { id: string; email: string; name: string; passwordHash: string }
export type Membership = { organizationId: string; userId: string; role: Role }
export type Agent = {
  id: string
  organizationId: string
  name: string
  instructions: string
  model: string | null
  temperature: number
  maxTokens: number
  /** ProviderKey of the primary model; null = the environment's provider (OPENAI_*), or the offline answerer when none. */
  providerKeyId: string | null
  /** Tried in order when the primary model fails. */
  fallbacks: ModelRef[]
  /** Minimum time before a reply is sent, so answers do not feel instant-robotic. */
  responseDelayMs: number
  /** The language of Switchboard's own messages to customers: 'auto' (the customer's, from their messages) or a fixed one ('en', 'ru'). */
  language: AgentLanguage
  createdAt: Date
  updatedAt: Date
}
export type ModelRef = { providerKeyId: string | null; model: string }
export type AgentInput = Partial<Pick<Agent, 'name' | 'instructions' | 'model' | 'temperature' | 'maxTokens' | 'providerKeyId' | 'fallbacks' | 'responseDelayMs' | 'language'>>
export type ConversationState = 'bot' | 'handoff' | 'closed'
export type Conversation = {
  id: string
  organizationId: string
  inboxId: string
  agentId: string
  contactId: string
  externalThreadId: string
  state: ConversationState
  /** The language the customer writes in, as last told from their messages (null: not known yet). */
  language: Language | null
  createdAt: Date
  lastMessageAt: Date
}
export type MessageDirection = 'in' | 'out'
export type MessageAuthor = 'contact' | 'agent' | 'operator' | 'system'
export type MessageStatus = 'pending' | 'done' | 'failed' | 'sent'
export type Message = {
  id: string
  seq: number
  organizationId: string
  inboxId: string
  conversationId: string
  externalMessageId: string
  direction: MessageDirection
  author: MessageAuthor
  text: string
  sources: Source[]
  attachments: Attachment[]
  status: MessageStatus
  replyToId: string | null
  meta: ReplyMeta
  createdAt: Date
}
/** How a reply was made: shown in the test chat and kept for reports. */
export type ReplyMeta = {
  provider?: string
  model?: string
  inputTokens?: number
  outputTokens?: number
  costUsd?: number
  streaming?: boolean
  choices?: Choice[]
  /** Inbound: who wrote it (in a group, the conversation has many writers). */
  externalUserId?: string
  /** Inbound: written in a one-to-one chat with the bot. */
  privateThread?: boolean
  /** Inbound: the command the channel recognised. */
  command?: InboundCommand
  /** Inbound: the button pressed. */
  choiceId?: string
  /** Inbound: what the channel needs to answer it where it was written (InboundMessage.replyContext). */
  replyContext?: Record<string, string>
}
export type KnowledgeSourceStatus = 'queued' | 'processing' | 'ready' | 'failed'
export type KnowledgeSource = {
  id: string
  organizationId: string
  agentId: string | null
  title: string
  /** markdown/text: typed or pasted; file: an uploaded document (PDF, DOCX, CSV, HTML, ...); url: a web page or sitemap. */
  kind: 'markdown' | 'text' | 'file' | 'url'
  uri: string | null
  checksum: string
  status: KnowledgeSourceStatus
  progress: number
  error: string | null
  chunkCount: number
  /** The collection (category) it belongs to; null = uncategorised. */
  collectionId: string | null
  createdAt: Date
  updatedAt: Date
}
/** A category of knowledge (as managers organise articles); agents are given collections to answer from. */
export type KnowledgeCollection = { id: string; organizationId: string; name: string; description: string; sourceCount: number; createdAt: Date; updatedAt: Date }
/** Where in its source a passage sits: the page of a PDF, the row of a CSV, the heading path, the page's URL. */
export type ChunkLocation = { page?: number; row?: number; heading?: string; url?: string }
/** `embedding` null: stored without a vector (KNOWLEDGE_VECTORS=off). */
export type ChunkInput = { ordinal: number; heading: string; text: string; language: FtsLanguage; embedding: number[] | null; location?: ChunkLocation }
export type FtsLanguage = 'english' | 'russian' | 'simple'
/** A source's new chunks and outcome, for Store['knowledge'].indexSources. */
export type SourceIndex = {
  sourceId: string
  title: string
  checksum: string
  chunks: ChunkInput[]
  outcome: { status: 'ready'; dropContent: boolean } | { status: 'failed'; error: string }
}
export type Passage = {
  chunkId: string
  sourceId: string
  title: string
  heading: string
  text: string
  score: number
  ftsRank: number | null
  vectorRank: number | null
  similarity: number | null
  /** BM25 score of the passage for the question (null when only the vector search found it). */
  bm25: number | null
  collectionId: string | null
  location?: ChunkLocation
}
/** A document turned into text: sections in reading order, each with where it came from. */
export type ParsedSection = { text: string; heading?: string; location: ChunkLocation }
export type ParsedDocument = { title: string; sections: ParsedSection[] }
export type DocumentInput =
  | { kind: 'file'; filename: string; mimeType?: string; bytes: Buffer }
  | { kind: 'url'; url: string; sitemap?: boolean; maxPages?: number }
/** Reads files and web pages (adapters/files); throws AppError with the file or URL and the reason. */
export interface DocumentParser {
  /** The format of a file by its extension, content type and first bytes; throws 415 unsupported_format. */
  formatOf(file: { filename: string; mimeType?: string; bytes: Buffer }): string
  /** onProgress gets 0..1 as pages of a sitemap are fetched. */
  parse(input: DocumentInput, onProgress?: (fraction: number) => Promise<void> | void): Promise<ParsedDocument>
  /**
   * Refuses at once (422) a URL the server may not fetch: another scheme, or a host that is or
   * resolves to a private address. The import checks again at every request and redirect.
   */
  checkUrl(url: string): Promise<void>
}
export type ChannelAdmin = { id: string; organizationId: string; userId: string; inboxId: string; contactId: string; externalThreadId: string; currentAgentId: string | null; pendingCommand: string | null; createdAt: Date }
export type Handoff = { id: string; organizationId: string; conversationId: string; status: 'open' | 'taken' | 'closed'; reason: string; operatorUserId: string | null; createdAt: Date }

export type ApiCall = { provider: string; model: string; inputTokens: number; outputTokens: number; latencyMs: number; costUsd: number; success: boolean; error?: string }
type UsageTotals = { calls: number; failed: number; inputTokens: number; outputTokens: number; costUsd: number }
export type ApiCallSummary = { totals: UsageTotals; byDay: (UsageTotals & { day: string })[]; byAgent: (UsageTotals & { agentId: string | null })[]; byModel: (UsageTotals & { provider: string; model: string })[] }
/** An organization's own provider key; the secret itself is never part of this. */
export type ProviderKey = { id: string; organizationId: string; name: string; provider: string; baseUrl: string | null; keyId: string; last4: string; createdAt: Date }

/** A person in an organization, as the admin web lists them. */
export type Member = { userId: string; email: string; name: string; role: Role; joinedAt: Date }
/** An invitation to join an organization; the token itself is never stored, only its hash. */
export type Invitation = { id: string; organizationId: string; email: string; role: Role; invitedByUserId: string | null; expiresAt: Date; acceptedAt: Date | null; createdAt: Date }
export type ReportBucket = 'day' | 'week' | 'month'
/** Agent responses in one period, one channel and one agent (admins' test chats not counted). */
export type ResponseRow = { period: string; channel: ChannelKind; agentId: string; responses: number }
export type InboxStatus = { id: string; agentId: string; agentName: string; channel: ChannelKind; name: string; publicKey: string | null; lastMessageAt: Date | null; failedReplies: number; lastError: string | null }
export type BillingEventRow = { id: string; provider: string; type: string; occurredAt: Date; result: string }
/** One conversation as the CSV export and the conversation list show it. */
export type ConversationRow = { id: string; channel: ChannelKind; agentId: string; agentName: string; state: ConversationState; contactName: string | null; messages: number; createdAt: Date; lastMessageAt: Date }

// ---------- repositories ----------
export type Tx = unknown

/** One audit record: who did what to which object of an organization. */
export type AuditEntry = { organizationId: string; actorUserId: string | null; action: string; target?: string; data?: Record<string, unknown> }

export interface Store {
  organizations: {
    create(input: { name: string }): Promise<Organization>
    get(id: string): Promise<Organization | null>
  }
  users: {
    create(input: { email: string; name: string; passwordHash: string }): Promise<User>
    findByEmail(email: string): Promise<User | null>
    addMembership(input: Membership): Promise<void>
    membership(userId: string, organizationId?: string): Promise<Membership | null>
    get(id: string): Promise<User | null>
    /** Sets the password and voids every outstanding password reset link of the account. */
    setPassword(userId: string, passwordHash: string): Promise<void>
  }
  members: {
    list(organizationId: string): Promise<Member[]>
    setRole(organizationId: string, userId: string, role: Role): Promise<boolean>
    remove(organizationId: string, userId: string): Promise<boolean>
  }
  passwordResets: {
    create(input: { tokenHash: string; userId: string; expiresAt: Date }): Promise<void>
    /**
     * Uses the link once and returns its user; every other outstanding link of that user is voided
     * with it, in one statement. A second call, an expired or a voided link returns null.
     */
    consume(tokenHash: string, now: Date): Promise<string | null>
  }
  invitations: {
    create(input: { organizationId: string; email: string; role: Role; tokenHash: string; invitedByUserId: string | null; expiresAt: Date }): Promise<Invitation>
    list(organizationId: string): Promise<Invitation[]>
    /** Withdraws an invitation not yet accepted; false when the organization has no such invitation. */
    delete(organizationId: string, id: string): Promise<boolean>
    find(tokenHash: string): Promise<Invitation | null>
    /** Marks the invitation accepted, once: a second call, or an expired one, returns null. */
    accept(tokenHash: string, now: Date): Promise<Invitation | null>
  }
  reports: {
    responses(organizationId: string, input: { from: Date; to: Date; bucket: ReportBucket }): Promise<ResponseRow[]>
    conversationStats(organizationId: string, input: { from: Date; to: Date }): Promise<{ conversations: number; handoffs: number }>
    conversations(organizationId: string, input: { from: Date; to: Date; limit: number }): Promise<ConversationRow[]>
    /** Each channel inbox (not the test chat) with its last customer message and failed replies in the last 7 days. */
    inboxes(organizationId: string): Promise<InboxStatus[]>
    /** Payment events applied to the organization, newest first. */
    billingEvents(organizationId: string, limit: number): Promise<BillingEventRow[]>
  }
  sessions: {
    create(input: { tokenHash: string; userId: string; organizationId: string; expiresAt: Date }): Promise<void>
    find(tokenHash: string): Promise<{ userId: string; organizationId: string; expiresAt: Date } | null>
    delete(tokenHash: string): Promise<void>
    deleteForUser(userId: string): Promise<void>
  }
  agents: {
    list(organizationId: string): Promise<Agent[]>
    get(organizationId: string, id: string): Promise<Agent | null>
    create(organizationId: string, input: AgentInput & { name: string }): Promise<Agent>
    update(organizationId: string, id: string, input: AgentInput): Promise<Agent | null>
    delete(organizationId: string, id: string): Promise<boolean>
  }
  inboxes: {
    create(input: Omit<Inbox, 'id' | 'purpose' | 'deskInboxId'> & { purpose?: InboxPurpose; credentials?: string | null }): Promise<Inbox>
    get(id: string): Promise<Inbox | null>
    /**
     * The inbox as read at most a moment ago (2 s): for the reads every delivery starts with. A
     * change made by this process is seen at once, another process's within that moment.
     */
    recent(id: string): Promise<Inbox | null>
    /** The web chat's inbox of a public key, read like `recent`. */
    findByPublicKey(publicKey: string): Promise<Inbox | null>
    listByAgent(organizationId: string, agentId: string): Promise<Inbox[]>
    /** Every inbox of the organization, oldest first (test chats included: filter by `purpose`). */
    listByOrganization(organizationId: string): Promise<Inbox[]>
    /** System-wide: every inbox of a channel (e.g. the Telegram bots to poll at start-up). */
    listByChannel(channel: ChannelKind): Promise<Inbox[]>
    /** The sealed credentials envelope of the inbox (open it with the secret box); null when none. */
    credentials(id: string): Promise<string | null>
    /** The sealed credentials as read at most a moment ago, like `recent`: for checking a delivery's signature. */
    recentCredentials(id: string): Promise<string | null>
    update(organizationId: string, id: string, patch: { name?: string; settings?: Record<string, unknown>; credentials?: string | null; deskInboxId?: string | null }): Promise<Inbox | null>
    /** Removes the inbox and its sealed credentials; its conversations stay. False when the organization has no such inbox. */
    delete(organizationId: string, id: string): Promise<boolean>
  }
  conversations: {
    /** Finds or creates the contact, its identity in the inbox, and the conversation of the thread. */
    resolve(input: { inbox: Inbox; externalThreadId: string; externalUserId: string; userName?: string }): Promise<Conversation>
    get(organizationId: string, id: string): Promise<Conversation | null>
    findByThread(inboxId: string, externalThreadId: string): Promise<Conversation | null>
    list(organizationId: string, input: { limit: number; state?: ConversationState }): Promise<Conversation[]>
    setState(organizationId: string, id: string, state: ConversationState): Promise<void>
    setLanguage(organizationId: string, id: string, language: Language): Promise<void>
  }
  messages: {
    /** Inserts an inbound message; a second insert with the same (inboxId, externalMessageId) returns the first one and `created: false`. */
    insertInbound(input: { conversation: Conversation; message: InboundMessage }): Promise<{ message: Message; created: boolean }>
    /**
     * Ingress: the thread's conversation (created with its contact when new) and the inbound message,
     * in one transaction. A redelivery (same inboxId and externalMessageId) returns the stored message and `created: false`.
     */
    receive(input: { inbox: Inbox; message: InboundMessage }): Promise<{ conversation: Conversation; message: Message; created: boolean; /** The thread's first message made its conversation. */ conversationCreated?: boolean }>
    /** Inserts the reply to an inbound message at most once (keyed by the inbound id); returns the existing one otherwise. */
    insertReply(input: { organizationId: string; inboxId: string; conversationId: string; replyToId: string | null; externalMessageId: string; author: MessageAuthor; text: string; sources: Source[]; meta?: ReplyMeta }): Promise<{ message: Message; created: boolean }>
    get(organizationId: string, id: string): Promise<Message | null>
    nextPending(organizationId: string, conversationId: string): Promise<Message | null>
    /**
     * What a turn reads before its steps run, in one query: the conversation's oldest pending
     * inbound message with its conversation, inbox, agent, the reply stored by an earlier run (if
     * any), the `historyTurns` messages before it and the organization's subscription. Null when
     * nothing is pending. Everything is read fresh: nothing here is cached between turns.
     */
    nextTurn(organizationId: string, conversationId: string, input: { historyTurns: number }): Promise<TurnLoad | null>
    /**
     * The end of a turn in one statement: the inbound message done or failed (with the error) and,
     * when given, its reply marked sent.
     */
    settle(input: { organizationId: string; inboundId: string; status: 'done' | 'failed'; error?: string; sentReplyId?: string }): Promise<void>
    replyTo(organizationId: string, inboundId: string): Promise<Message | null>
    setStatus(organizationId: string, id: string, status: MessageStatus, error?: string): Promise<void>
    /** The text of an inbound message read from its attachment (a transcribed voice message). */
    setText(organizationId: string, id: string, text: string): Promise<void>
    history(organizationId: string, conversationId: string, input: { limit: number; beforeSeq?: number; afterSeq?: number }): Promise<Message[]>
    countByOrganization(organizationId: string): Promise<number>
    /** When the customer last wrote in the conversation (messaging windows are counted from it); null when never. */
    lastInboundAt(organizationId: string, conversationId: string): Promise<Date | null>
  }
  knowledge: {
    /**
     * Adds a source, queued, unless the organization has one under the same URI already: that one
     * is returned instead (`created` false) and nothing is written. `audit` is recorded with the
     * new source (its target), in the same statement.
     */
    createSource(input: {
      organizationId: string
      agentId: string | null
      collectionId?: string | null
      title: string
      kind: KnowledgeSource['kind']
      uri: string | null
      checksum: string
      content: string
      audit?: Omit<AuditEntry, 'organizationId' | 'target'>
    }): Promise<{ source: KnowledgeSource; created: boolean }>
    listSources(organizationId: string, filter?: { collectionId?: string; kind?: KnowledgeSource['kind'] }): Promise<KnowledgeSource[]>
    getSource(organizationId: string, id: string): Promise<KnowledgeSource | null>
    sourceContent(organizationId: string, id: string): Promise<string | null>
    findSourceByUri(organizationId: string, uri: string): Promise<KnowledgeSource | null>
    updateSource(organizationId: string, id: string, patch: Partial<Pick<KnowledgeSource, 'status' | 'progress' | 'error' | 'chunkCount' | 'title' | 'checksum' | 'collectionId'>> & { content?: string | null }): Promise<void>
    /**
     * Marks for processing, in one statement, the source `sourceId` (unless it is ready: processed
     * already) and, when it is small, up to `limit - 1` more of the organization's queued sources
     * whose content is at most `maxBytes` (not URLs, which are fetched): the sources one ingest job
     * processes together. Returns them with their content, `sourceId` first; none when it is ready or gone.
     */
    claimSources(input: { organizationId: string; sourceId: string; limit: number; maxBytes: number; progress: number }): Promise<{ source: KnowledgeSource; content: string | null }[]>
    /**
     * Replaces every chunk of each source, its postings and the term statistics, and writes each
     * source's outcome (ready with its chunk count, or failed with no chunks), all in one
     * transaction: search never sees half of a source. An outcome is written only while the
     * source's checksum is the one given (content added meanwhile keeps it queued for its own job);
     * returns the ids whose outcome was written. Sources deleted meanwhile are skipped.
     */
    indexSources(input: { organizationId: string; embedder: string; dimensions: number; sources: SourceIndex[] }): Promise<string[]>
    deleteSource(organizationId: string, id: string): Promise<boolean>
    /**
     * Hybrid search: BM25 over the chunks' lexemes fused with vector similarity, over the ready
     * sources the agent may use (its collections, or all when it has none; `agentId` null = every
     * source), optionally within one collection. `embedding` null: BM25 only, no vector is read
     * (KNOWLEDGE_VECTORS=off, where the database may have no pgvector).
     */
    search(input: { organizationId: string; agentId: string | null; collectionId?: string | null; query: string; language: FtsLanguage; embedding: number[] | null; embedder: string; dimensions: number; vectorWeight: number; limit: number }): Promise<Passage[]>
    countChunks(organizationId: string): Promise<number>
    /** Chunks embedded by another embedder than `embedder` (or another size): to embed again. */
    staleEmbeddings(input: { embedder: string; dimensions: number; limit: number }): Promise<{ id: string; organizationId: string; title: string; heading: string; text: string }[]>
    setEmbeddings(input: { embedder: string; dimensions: number; vectors: { id: string; embedding: number[] }[] }): Promise<void>
  }
  collections: {
    list(organizationId: string): Promise<KnowledgeCollection[]>
    get(organizationId: string, id: string): Promise<KnowledgeCollection | null>
    /** Throws AppError 409 when the organization has a collection of that name. */
    create(organizationId: string, input: { name: string; description?: string }): Promise<KnowledgeCollection>
    update(organizationId: string, id: string, input: { name?: string; description?: string }): Promise<KnowledgeCollection | null>
    /** Its sources stay, uncategorised. */
    delete(organizationId: string, id: string): Promise<boolean>
    forAgent(organizationId: string, agentId: string): Promise<string[]>
    setForAgent(organizationId: string, agentId: string, collectionIds: string[]): Promise<void>
  }
  handoffs: {
    open(input: { organizationId: string; conversationId: string; reason: string }): Promise<Handoff>
    list(organizationId: string, status?: Handoff['status']): Promise<Handoff[]>
    get(organizationId: string, id: string): Promise<Handoff | null>
    /** The open or taken handoff of a conversation. */
    current(organizationId: string, conversationId: string): Promise<Handoff | null>
    /**
     * An open handoff becomes the operator's (null: a person outside Switchboard), as does one held
     * outside Switchboard when an operator takes it; false when someone has it already or it is closed (atomic: one winner).
     */
    take(input: { organizationId: string; conversationId: string; operatorUserId: string | null }): Promise<boolean>
    close(organizationId: string, conversationId: string): Promise<void>
    /** Remembers a message posted where operators work, so a reply to it reaches the conversation. */
    addPost(input: { organizationId: string; inboxId: string; conversationId: string; externalMessageId: string }): Promise<void>
    findPost(inboxId: string, externalMessageId: string): Promise<{ organizationId: string; conversationId: string } | null>
    /** The newest post about the conversation at that desk (Slack relays into its thread); null when none. */
    latestPost(organizationId: string, inboxId: string, conversationId: string): Promise<string | null>
    /** The handoffs an operator has taken and not handed back, oldest first. */
    heldBy(organizationId: string, operatorUserId: string): Promise<Handoff[]>
  }
  /** People who run admin commands from a messenger chat, linked with a one-time code. */
  channelAdmins: {
    createLinkCode(input: { organizationId: string; userId: string; codeHash: string; expiresAt: Date }): Promise<void>
    /** Marks the code used and returns whom it belongs to; null when unknown, expired or used already (atomic: one winner). */
    consumeLinkCode(input: { codeHash: string; organizationId: string; now: Date }): Promise<{ organizationId: string; userId: string } | null>
    link(input: { organizationId: string; userId: string; inboxId: string; contactId: string; externalThreadId: string; currentAgentId: string | null }): Promise<ChannelAdmin>
    findByContact(organizationId: string, contactId: string): Promise<ChannelAdmin | null>
    /** The linked person behind a channel account (the contact of that user id in the inbox), wherever they write. */
    findByUser(inboxId: string, externalUserId: string): Promise<ChannelAdmin | null>
    listByInbox(organizationId: string, inboxId: string): Promise<ChannelAdmin[]>
    setCurrentAgent(organizationId: string, id: string, agentId: string): Promise<void>
    setPendingCommand(organizationId: string, id: string, command: string | null): Promise<void>
  }
  usage: {
    recordApiCall(input: ApiCall & { organizationId: string; agentId: string | null; kind: 'chat' | 'embedding' }): Promise<void>
    /** Model calls between two dates: totals by day, agent and model. */
    apiCallSummary(organizationId: string, input: { from: Date; to: Date }): Promise<ApiCallSummary>
  }
  providerKeys: {
    create(input: { organizationId: string; name: string; provider: string; baseUrl: string | null; secret: string; keyId: string; last4: string }): Promise<ProviderKey>
    list(organizationId: string): Promise<ProviderKey[]>
    /** With the sealed secret: only for calling the provider. */
    getSealed(organizationId: string, id: string): Promise<(ProviderKey & { secret: string }) | null>
    reseal(organizationId: string, id: string, input: { secret: string; keyId: string }): Promise<void>
    delete(organizationId: string, id: string): Promise<boolean>
  }
  audit: {
    record(input: AuditEntry): Promise<void>
  }
  /** System-wide, not per organization: what a restarted process must pick up again. */
  recovery: {
    pendingTurns(limit: number): Promise<{ organizationId: string; conversationId: string; messageId: string }[]>
    unfinishedSources(limit: number): Promise<{ organizationId: string; sourceId: string; checksum: string }[]>
  }
  ping(): Promise<void>
  close(): Promise<void>
}

/**
 * Where operators work for a channel (a Telegram group, a Slack channel): handoffs are announced
 * there with their transcript, and the customer's further messages are relayed.
 */
/**
 * Where a channel's operators work. `inbox` is always the desk's own inbox (its credentials, its
 * chosen place); `from` is the customer's inbox, which may be another channel's (handoffs routed
 * with Inbox.deskInboxId).
 */
export interface HandoffDesk {
  /** Whether the inbox has its operators' place chosen (a group, a channel). */
  ready(inbox: Inbox): boolean
  /** The chosen place, for the admin web (a chat or channel id); null when none. */
  place(inbox: Inbox): string | null
  /** false when this inbox has no desk set up. */
  announce(input: { inbox: Inbox; from: Inbox; conversation: Conversation; handoff: Handoff; transcript: Message[] }): Promise<boolean>
  relay(input: { inbox: Inbox; from: Inbox; conversation: Conversation; message: Message }): Promise<void>
  notice(input: { inbox: Inbox; from: Inbox; conversation: Conversation; text: string }): Promise<void>
  /** Tells the operator how their action ended, where they acted (and updates the announcement's buttons); `detail` says why, when it was refused. */
  answer(input: { inbox: Inbox; action: OperatorAction; outcome: OperatorOutcome; conversationId?: string; detail?: string }): Promise<void>
  /** Makes `place` the inbox's desk; returns the inbox's new settings. */
  claim(input: { inbox: Inbox; place: string }): Promise<Record<string, unknown>>
}

/** What a turn starts from (Store.messages.nextTurn). */
export type TurnLoad = {
  message: Message
  conversation: Conversation | null
  inbox: Inbox | null
  agent: Agent | null
  /** The reply an earlier run of this turn stored (and may not have sent). */
  reply: Message | null
  /** The messages of the conversation before this one, oldest first. */
  history: Message[]
  subscription: BillingSubscription | null
}

// ---------- jobs ----------
export type JobContext = { jobId: string; attempt: number; maxAttempts: number }
export type JobOptions = {
  /** Jobs with the same group key run one at a time, in the order they were added. */
  groupKey?: string
  /** A job with the id of a job that is still waiting is not added twice. */
  jobId?: string
  delayMs?: number
  attempts?: number
  backoffMs?: number
}
export type JobHandler = (data: unknown, ctx: JobContext) => Promise<void>

export interface Queue {
  kind: 'in-process' | 'bullmq'
  add(name: string, data: unknown, options?: JobOptions): Promise<void>
  /** Starts consuming jobs of that name. */
  process(name: string, handler: JobHandler, options?: { concurrency?: number }): void
  depth(): Promise<number>
  /**
   * Removes jobs of that name that wait to start (by the jobIds they were added with); a job that
   * is running, or gone already, is left as it is. Returns how many were removed.
   */
  cancel(name: string, jobIds: string[]): Promise<number>
  ping(): Promise<void>
  close(): Promise<void>
}

/** Tells waiting requests (web chat, streams) that something happened, across processes when needed. */
export interface Notifier {
  publish(topic: string, payload: unknown): Promise<void>
  subscribe(topic: string, handler: (payload: unknown) => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

// ---------- AI ----------
export interface Embedder {
  /** Identifies the model, e.g. `local-hash-v1` or `openai:text-embedding-3-small`. */
  name: string
  dimensions: number
  /**
   * Weight of vector similarity against BM25 in the hybrid search (BM25's best score counts 1):
   * high for a semantic model, low for the local hashing embedder, whose similarity is lexical.
   */
  searchWeight: number
  embed(texts: string[]): Promise<number[][]>
}

/** Speech to text, for voice messages. */
export interface Transcriber {
  name: string
  transcribe(input: { bytes: Buffer; filename: string; mimeType?: string }): Promise<string>
}

export type ChatTurn = { role: 'user' | 'assistant' | 'system'; content: string }
export type AnswerInput = {
  agent: Agent
  question: string
  history: ChatTurn[]
  passages: Passage[]
  /** False when retrieval found nothing relevant: the answer must say so instead of inventing. */
  relevant: boolean
  /** Who is asking where: tools and memory act on these. */
  context?: { organizationId: string; contactId: string; conversationId: string }
  /** Receives the answer's text as it is generated (streaming channels). */
  onDelta?: (text: string) => void
  /** The language of the conversation: the answerer's own words (framing, apologies) are in it. */
  language?: Language
}
export type Answer = {
  text: string
  sources: Source[]
  /** Every model call the answer took, failed ones included. */
  calls?: ApiCall[]
  meta?: ReplyMeta
  /** The answer handed the conversation to a person (a tool call). */
  handoff?: boolean
}
export interface ChatModel {
  name: string
  answer(input: AnswerInput): Promise<Answer>
}

// ---------- language models (any OpenAI-compatible API) ----------
export type ToolCall = { id: string; name: string; arguments: string }
export type LlmMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; toolCalls?: ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string }
export type ToolSpec = { name: string; description: string; parameters: Record<string, unknown> }
/** One provider+model to try. `key` identifies the provider account for the circuit breaker. */
export type ProviderTarget = { provider: string; baseURL?: string; apiKey: string; model: string; providerKeyId: string | null }
export type LlmAttempt = { provider: string; model: string; providerKeyId: string | null; inputTokens: number; outputTokens: number; latencyMs: number; success: boolean; error?: string }
export type LlmRequest = {
  /** Tried in order: the primary, then the fallbacks. */
  targets: ProviderTarget[]
  messages: LlmMessage[]
  tools?: ToolSpec[]
  temperature: number
  maxTokens: number
  /** When given, the answer is streamed and each text delta is passed here as it arrives. */
  onDelta?: (text: string) => void
}
export type LlmResult = {
  content: string
  toolCalls: ToolCall[]
  provider: string
  model: string
  providerKeyId: string | null
  usage: { inputTokens: number; outputTokens: number }
  latencyMs: number
  /** Every call made, failed ones included, for usage and cost records. */
  attempts: LlmAttempt[]
}
export interface LlmClient {
  /** Throws AppError `llm_unavailable` (with the attempts in `details`) when every target failed. */
  complete(request: LlmRequest): Promise<LlmResult>
}
/** A test of a provider key: one real call to its OpenAI-compatible API (the model list). */
export type ProviderProbeResult = { ok: boolean; status: number | null; latencyMs: number; message: string | null; models: string[] }
export interface ProviderProbe {
  probe(input: { baseURL: string | undefined; apiKey: string }): Promise<ProviderProbeResult>
}

// ---------- CRM (built-in records now; Kommo later) ----------
/** `owner`: who is responsible for it in the connected CRM (Kommo's user name); null for built-in leads or when not known. */
export type Lead = { id: string; organizationId: string; contactId: string; conversationId: string | null; title: string; value: number | null; stage: string; owner: string | null; createdAt: Date; updatedAt: Date }
export interface CrmPort {
  upsertLead(input: { organizationId: string; contactId: string; conversationId: string | null; title: string; value?: number | null; leadId?: string }): Promise<Lead>
  moveLead(input: { organizationId: string; leadId: string; stage: string }): Promise<Lead>
  addNote(input: { organizationId: string; leadId: string; text: string }): Promise<{ id: string }>
  createTask(input: { organizationId: string; leadId: string; text: string; dueAt?: Date | null }): Promise<{ id: string }>
  listLeads(organizationId: string, input?: { contactId?: string }): Promise<Lead[]>
  /** The stage names leads move between, as the CRM names them (an outside CRM's pipeline); null = the built-in stages. */
  stages?(organizationId: string): Promise<string[] | null>
  /** A conversation went to a person: the CRM gets the transcript on the customer's lead and a task for the responsible user. */
  handoff?(input: { organizationId: string; conversationId: string; contactId: string; reason: string; transcript: Message[] }): Promise<void>
  /** The people a lead can be given to, as the CRM names them; null = the CRM has no users (the built-in one). */
  users?(organizationId: string): Promise<string[] | null>
  /** Makes a person of the CRM responsible for the lead. */
  assignLead?(input: { organizationId: string; leadId: string; user: string }): Promise<Lead>
  /** A customer the agent is about to answer: the CRM makes them a lead when the organization wants one for every new customer. */
  customerWrote?(input: { organizationId: string; contactId: string; conversationId: string }): Promise<void>
  /** What the admin console's /crm says: the connection, where new leads go, the last leads. */
  describe?(organizationId: string): Promise<string>
}

// ---------- the operators' view of conversations and contacts ----------
/** One row of the conversations list: what an operator needs to pick the next customer, in one query. */
export type ConversationListRow = {
  id: string
  inboxId: string
  agentId: string
  contactId: string
  state: ConversationState
  createdAt: Date
  lastMessageAt: Date
  channel: ChannelKind | null
  inboxName: string | null
  /** The agent's test chat in the admin web, not a customer. */
  test: boolean
  agent: { id: string; name: string } | null
  contact: { id: string; name: string | null }
  /** The newest message, its text cut to 200 characters. */
  lastMessage: { author: MessageAuthor; text: string; createdAt: Date } | null
  /** The handoff waiting for or held by a person. */
  handoff: { id: string; status: 'open' | 'taken'; reason: string; createdAt: Date } | null
  /** Who holds the conversation: a person of the organization; null with a taken handoff = a person outside Switchboard. */
  holder: { userId: string; name: string } | null
  /** Since when the customer waits for an answer: the open handoff, or their unanswered last message; null when nobody waits. */
  waitingSince: Date | null
}
export type ConversationFilter = {
  limit: number
  state?: ConversationState
  channel?: ChannelKind
  agentId?: string
  /** Only conversations this user holds. */
  heldBy?: string
  includeTests?: boolean
  /** Keyset pagination: rows older than this one (lastMessageAt, then id, both descending). */
  after?: { lastMessageAt: Date; id: string }
}
export type ContactProfile = {
  contact: { id: string; name: string | null; createdAt: Date }
  identities: { inboxId: string; channel: ChannelKind; inboxName: string; createdAt: Date }[]
  conversations: number
  leads: (Lead & { notes: { id: string; text: string; createdAt: Date }[]; tasks: { id: string; text: string; dueAt: Date | null; done: boolean; createdAt: Date }[] })[]
}
/** What erasing a contact removed. */
export type ContactErasure = { conversations: number; messages: number; handoffs: number; facts: number; leads: number; notes: number; tasks: number; identities: number }
export interface ConversationDirectory {
  list(organizationId: string, filter: ConversationFilter): Promise<ConversationListRow[]>
  get(organizationId: string, id: string): Promise<ConversationListRow | null>
  contactProfile(organizationId: string, contactId: string): Promise<ContactProfile | null>
  /** Deletes the contact and everything of theirs (conversations, messages, handoffs, facts, leads with notes and tasks, identities) in one transaction; null when the organization has no such contact. */
  eraseContact(organizationId: string, contactId: string): Promise<ContactErasure | null>
}

export type ContactFact = { key: string; value: string; source: string; updatedAt: Date }
export interface ContactMemory {
  list(organizationId: string, contactId: string): Promise<ContactFact[]>
  remember(input: { organizationId: string; contactId: string; key: string; value: string; source?: string }): Promise<void>
  forget(organizationId: string, contactId: string, key?: string): Promise<number>
}

// ---------- infrastructure ----------
export interface Clock {
  now(): Date
}

export interface Logger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** Where one key stands after an attempt was counted: `count` includes that attempt. */
export type RateLimitHit = { allowed: boolean; count: number; remaining: number; resetMs: number }

/** Fixed-window counters. Every method is atomic, so concurrent attempts cannot all slip under a limit. */
export interface RateLimiter {
  /** Returns true when the key may act now; counts the attempt. */
  take(key: string, input: { limit: number; windowMs: number }): Promise<boolean>
  /** Counts the attempt like take() and tells how many are left and when the window ends. */
  hit(key: string, input: { limit: number; windowMs: number }): Promise<RateLimitHit>
  /** Gives back one attempt counted in the current window (one that turned out not to count); never below zero. */
  refund(key: string): Promise<void>
  /** How many attempts the key made in its current window, without counting one. */
  count(key: string): Promise<number>
}

/** Sends mail (password reset and invitation links); without a mail transport the message goes to the log. */
export interface Mailer {
  kind: 'smtp' | 'log'
  send(input: { to: string; subject: string; text: string }): Promise<void>
}

export type Metrics = {
  turnDuration(seconds: number, outcome: string): void
  turnError(step: string): void
}
