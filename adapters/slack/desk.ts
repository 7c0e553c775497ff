import type { HandoffDesk, Inbox, Message, OperatorAction, OperatorOutcome, Store } from '../../core/ports.ts'
import { escapeMrkdwn, plainText, SECTION_TEXT_LIMIT, type SlackBlock } from './format.ts'
import { settingsOf } from './settings.ts'
import type { SlackChannel } from './slack-channel.ts'

const who: Record<Message['author'], string> = { contact: 'Customer', agent: 'Bot', operator: 'Operator', system: 'Bot' }
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
const textOf = (m: Message) => m.text || (m.attachments.length ? `[${m.attachments.map((a) => a.kind).join(', ')}]` : '')
const LINK_FIRST = 'Link your Slack account first: make a code on the Organization page of the admin web and type /switchboard link <code>.'

/** What an operator is told, only to them, when their action did not go as they meant. */
const privately: Partial<Record<OperatorOutcome, string>> = {
  not_linked: LINK_FIRST,
  not_admin: 'Only a linked admin can choose the operators’ channel.',
  unknown_conversation: 'This conversation is not handed to this channel, or no longer exists.',
  not_open: 'Someone has taken it already, or it is closed.',
  taken_by_other: 'Another operator has this conversation; your message did not reach the customer.',
  none_held: 'You hold no conversation handed to this channel.',
  several_held: 'You hold several conversations here: press “Back to bot” on the one to hand back.',
  released: 'Back with the bot.',
}

/**
 * The operators' Slack channel of an inbox (chosen with `/switchboard operators here`): a handoff
 * from any channel routed here arrives as a post with the transcript and a Take button; the
 * operator who takes it replies in the post's thread and the reply reaches the customer on their
 * own channel; customer messages meanwhile are relayed into the thread; "Back to bot" or
 * `/switchboard release` returns the conversation. Who may do what is decided in core.
 */
export function createSlackDesk(deps: { store: Store; channel: SlackChannel }): HandoffDesk {
  const { store, channel } = deps
  const deskOf = (inbox: Inbox) => settingsOf(inbox)?.deskChannelId

  /** Posts in the desk channel (in the conversation's thread when it has one) and remembers the post. */
  async function post(inbox: Inbox, conversationId: string, input: { text: string; blocks?: SlackBlock[]; inThread: boolean }): Promise<void> {
    const desk = deskOf(inbox)
    if (!desk) return
    const root = input.inThread ? await store.handoffs.latestPost(inbox.organizationId, inbox.id, conversationId) : null
    const threadTs = root?.startsWith(`${desk}:`) ? root.slice(desk.length + 1) : undefined
    const id = await channel.post(inbox, { channel: desk, ...(threadTs ? { threadTs } : {}), text: input.text, ...(input.blocks ? { blocks: input.blocks } : {}) })
    if (!threadTs) await store.handoffs.addPost({ organizationId: inbox.organizationId, inboxId: inbox.id, conversationId, externalMessageId: id })
  }

  const takeButton = (conversationId: string) => ({ type: 'actions', block_id: 'handoff', elements: [{ type: 'button', action_id: 'op:take', text: plainText('Take', 75), style: 'primary', value: conversationId }] })
  const releaseButton = (conversationId: string) => ({ type: 'actions', block_id: 'handoff', elements: [{ type: 'button', action_id: 'op:release', text: plainText('Back to bot', 75), value: conversationId }] })

  /** Replaces the buttons of the announcement the operator pressed, keeping its text. */
  async function restyle(inbox: Inbox, action: OperatorAction, blocks: SlackBlock[], note: string): Promise<void> {
    const ts = action.reply.messageTs
    if (typeof ts !== 'string') return
    // The pressed message's blocks come with the press (conversations.history is limited to 1 call a minute).
    let original: SlackBlock[]
    try {
      original = typeof action.reply.blocks === 'string' ? (JSON.parse(action.reply.blocks) as SlackBlock[]) : []
    } catch {
      original = []
    }
    const kept = original.filter((b) => b.type !== 'actions' && b.block_id !== 'handoff-state')
    await channel.call(inbox, 'chat.update', (client) => client.chat.update({ channel: String(action.reply.channel), ts, text: note, blocks: [...kept, { type: 'context', block_id: 'handoff-state', elements: [{ type: 'mrkdwn', text: note }] }, ...blocks] as never }))
  }

  async function tell(inbox: Inbox, action: OperatorAction, text: string): Promise<void> {
    const responseUrl = action.reply.responseUrl
    if (typeof responseUrl === 'string' && (await channel.respondVia(responseUrl, { response_type: 'ephemeral', replace_original: false, text }))) return
    await channel.call(inbox, 'chat.postEphemeral', (client) => client.chat.postEphemeral({ channel: String(action.reply.channel), user: String(action.reply.user), text, ...(typeof action.reply.threadTs === 'string' ? { thread_ts: action.reply.threadTs } : {}) })).catch(() => undefined)
  }

  return {
    ready: (inbox) => Boolean(deskOf(inbox)),
    place: (inbox) => deskOf(inbox) ?? null,

    async announce({ inbox, from, conversation, handoff, transcript }) {
      if (!deskOf(inbox)) return false
      // The newest lines that fit one section block, oldest first.
      const lines: string[] = []
      let size = 0
      for (const m of [...transcript].reverse()) {
        const line = `*${who[m.author]}:* ${escapeMrkdwn(clip(textOf(m), 500))}`
        if (size + line.length + 1 > SECTION_TEXT_LIMIT - 100) break
        lines.unshift(line)
        size += line.length + 1
      }
      const where = from.id === inbox.id ? from.name : `${from.name} (${from.channel})`
      const headline = `A customer wants a person (${handoff.reason.replace(/_/g, ' ')})`
      const blocks: SlackBlock[] = [
        { type: 'header', text: plainText(`🙋 ${headline}`, 150) },
        { type: 'context', elements: [{ type: 'mrkdwn', text: `Conversation \`${conversation.id.slice(0, 8)}\` in ${escapeMrkdwn(where)}` }] },
        ...(lines.length ? [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] : []),
        takeButton(conversation.id),
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Press Take, then reply in this thread to answer the customer.' }] },
      ]
      await post(inbox, conversation.id, { text: `🙋 ${headline}`, blocks, inThread: false })
      return true
    },

    async relay({ inbox, conversation, message }) {
      await post(inbox, conversation.id, { text: `💬 *Customer:* ${escapeMrkdwn(clip(textOf(message), 2900))}`, inThread: true })
    },

    async notice({ inbox, conversation, text }) {
      await post(inbox, conversation.id, { text: `ℹ️ ${escapeMrkdwn(text)}`, inThread: true })
    },

    async claim({ inbox, place }) {
      return { ...inbox.settings, deskChannelId: place }
    },

    async answer({ inbox, action, outcome, conversationId, detail }) {
      const name = action.userName ?? 'An operator'
      const mention = `<@${action.externalUserId}>`
      const short = conversationId?.slice(0, 8) ?? ''
      if (outcome === 'desk_claimed') {
        await tell(inbox, action, 'This channel now receives the conversations customers hand to a person. Invite me here if I am not a member yet.')
        return
      }
      if (outcome === 'replied') {
        // A tick on the operator's message: it reached the customer.
        const ts = action.reply.messageTs
        if (typeof ts === 'string') await channel.call(inbox, 'reactions.add', (client) => client.reactions.add({ channel: String(action.reply.channel), timestamp: ts, name: 'white_check_mark' })).catch(() => undefined)
        return
      }
      if (outcome === 'taken' && conversationId) {
        await restyle(inbox, action, [releaseButton(conversationId)], `Taken by ${mention}`)
        const root = typeof action.reply.messageTs === 'string' ? action.reply.messageTs : undefined
        await channel.post(inbox, { channel: String(action.reply.channel), ...(root ? { threadTs: root } : {}), text: `${mention} took conversation \`${short}\`. Reply in this thread to answer the customer; “Back to bot” or /switchboard release hands it back.` })
        return
      }
      if (outcome === 'released' && conversationId) {
        const desk = deskOf(inbox)
        const root = await store.handoffs.latestPost(inbox.organizationId, inbox.id, conversationId)
        if (action.reply.via === 'button') await restyle(inbox, action, [], `Handed back to the bot by ${mention}`)
        if (desk && root?.startsWith(`${desk}:`)) await channel.post(inbox, { channel: desk, threadTs: root.slice(desk.length + 1), text: `${name} handed conversation \`${short}\` back to the bot.` })
        if (action.reply.via === 'command') await tell(inbox, action, `Conversation ${short} is back with the bot.`)
        return
      }
      const text = outcome === 'not_delivered' ? `Not delivered to the customer: ${detail ?? 'the channel refused it'}` : privately[outcome]
      if (text) await tell(inbox, action, text)
    },
  }
}
