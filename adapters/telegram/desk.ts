import type { ConversationOps } from '../../core/conversation/operator-service.ts'
import type { HandoffDesk, Inbox, Logger, Message, Store } from '../../core/ports.ts'
import { hasRole } from '../../core/tenancy/auth-service.ts'
import { escapeHtml } from './format.ts'
import { messageKey, settingsOf, updateSchema, type TelegramChannel, type TelegramSettings } from './telegram-channel.ts'

const who: Record<Message['author'], string> = { contact: 'Customer', agent: 'Bot', operator: 'Operator', system: 'Bot' }
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

/**
 * The operators' Telegram group of an inbox: handoffs arrive there with their transcript and a
 * "Take" button; the operator who took one replies to the bot's message in the group and the reply
 * reaches the customer as the business; /release or "Back to bot" returns the conversation.
 * An admin chooses the group by sending /operatorgroup in it.
 */
export function createTelegramDesk(deps: { store: Store; channel: TelegramChannel; logger: Logger }) {
  const { store, channel } = deps

  /** Sends to the operators' group and remembers the post, so replies to it find the conversation. */
  async function post(input: { inbox: Inbox; conversationId: string; html: string; buttons?: { text: string; callback_data: string }[] }): Promise<number | null> {
    const chatId = settingsOf(input.inbox).operatorsChatId
    if (!chatId) return null
    const { api } = await channel.apiFor(input.inbox)
    const sent = await api.sendMessage(chatId, input.html, { parse_mode: 'HTML', ...(input.buttons ? { reply_markup: { inline_keyboard: [input.buttons] } } : {}) })
    await store.handoffs.addPost({ organizationId: input.inbox.organizationId, inboxId: input.inbox.id, conversationId: input.conversationId, externalMessageId: messageKey(chatId, sent.message_id) })
    return sent.message_id
  }

  const desk: HandoffDesk = {
    async announce({ inbox, conversation, handoff, transcript }) {
      if (!settingsOf(inbox).operatorsChatId) return false
      // The newest lines that fit in one message (4096 characters), oldest first.
      const lines: string[] = []
      let size = 0
      for (const m of [...transcript].reverse()) {
        const line = `<b>${who[m.author]}:</b> ${escapeHtml(clip(m.text || (m.attachments.length ? `[${m.attachments.map((a) => a.kind).join(', ')}]` : ''), 600))}`
        if (size + line.length > 3300) break
        lines.unshift(line)
        size += line.length + 1
      }
      const html = `🙋 <b>A customer wants a person</b> (${escapeHtml(handoff.reason.replace(/_/g, ' '))})\nConversation ${conversation.id.slice(0, 8)} in ${escapeHtml(inbox.name)}\n\n${lines.join('\n')}\n\nPress Take, then reply to this message to answer the customer.`
      await post({ inbox, conversationId: conversation.id, html, buttons: [{ text: 'Take', callback_data: `op:take:${conversation.id}` }] })
      return true
    },
    async relay({ inbox, conversation, message }) {
      const text = message.text || (message.attachments.length ? `[${message.attachments.map((a) => a.kind).join(', ')}]` : '')
      await post({ inbox, conversationId: conversation.id, html: `💬 <b>Customer</b> (${conversation.id.slice(0, 8)}): ${escapeHtml(clip(text, 3500))}` })
    },
    async notice({ inbox, conversation, text }) {
      await post({ inbox, conversationId: conversation.id, html: `ℹ️ ${escapeHtml(text)} (${conversation.id.slice(0, 8)})` })
    },
  }

  /** The linked Switchboard user behind a Telegram account, if they may operate (operator role or higher). */
  async function operatorOf(inbox: Inbox, telegramUserId: number) {
    const linked = await store.channelAdmins.findByThread(inbox.id, String(telegramUserId))
    if (!linked || linked.organizationId !== inbox.organizationId) return null
    const membership = await store.users.membership(linked.userId, inbox.organizationId)
    return membership && hasRole(membership, 'operator') ? { ...linked, role: membership.role } : null
  }

  /**
   * Takes updates that belong to the operators' side: /operatorgroup in a group, button presses
   * and messages in the operators' group. Returns true when the update was handled here.
   */
  function ingress(operators: ConversationOps) {
    return async (inbox: Inbox, body: unknown): Promise<boolean> => {
      const parsed = updateSchema.safeParse(body)
      if (!parsed.success) return false
      const update = parsed.data
      const settings = settingsOf(inbox)
      const { api } = await channel.apiFor(inbox)
      const say = (chatId: number, text: string, replyTo?: number) => api.sendMessage(chatId, text, replyTo ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {})

      const query = update.callback_query
      if (query?.data?.startsWith('op:') && query.message) {
        const [, action, conversationId] = query.data.split(':')
        const operator = await operatorOf(inbox, query.from.id)
        if (!operator) {
          await api.answerCallbackQuery(query.id, { text: 'Link your Telegram account first: make a code in the admin web and send /start <code> to me in a private chat.', show_alert: true })
          return true
        }
        const conversation = await store.conversations.get(inbox.organizationId, conversationId ?? '')
        if (!conversation || conversation.inboxId !== inbox.id) {
          await api.answerCallbackQuery(query.id, { text: 'This conversation no longer exists.' })
          return true
        }
        const name = query.from.first_name ?? 'An operator'
        if (action === 'take') {
          const taken = await operators.take({ organizationId: inbox.organizationId, conversationId: conversation.id, operatorUserId: operator.userId })
          await api.answerCallbackQuery(query.id, { text: taken ? 'It is yours: reply to the messages here to answer.' : 'Someone has taken it already, or it is closed.' })
          if (taken) {
            await api.editMessageReplyMarkup(query.message.chat.id, query.message.message_id, { reply_markup: { inline_keyboard: [[{ text: 'Back to bot', callback_data: `op:release:${conversation.id}` }]] } }).catch(() => undefined)
            await say(query.message.chat.id, `${name} took conversation ${conversation.id.slice(0, 8)}. Reply to its messages to answer; /release or "Back to bot" hands it back.`, query.message.message_id)
          }
          return true
        }
        if (action === 'release') {
          await operators.release({ organizationId: inbox.organizationId, conversationId: conversation.id, operatorUserId: operator.userId })
          await api.answerCallbackQuery(query.id, { text: 'Back with the bot.' })
          await api.editMessageReplyMarkup(query.message.chat.id, query.message.message_id, { reply_markup: { inline_keyboard: [] } }).catch(() => undefined)
          await say(query.message.chat.id, `${name} handed conversation ${conversation.id.slice(0, 8)} back to the bot.`, query.message.message_id)
          return true
        }
        await api.answerCallbackQuery(query.id)
        return true
      }

      const m = update.message
      if (!m || !m.from || m.chat.type === 'private' || m.chat.type === 'channel') return false
      const text = (m.text ?? m.caption ?? '').trim()
      const command = /^\/(\w+)(?:@(\w+))?/.exec(text)
      const forUs = !command?.[2] || command[2].toLowerCase() === settings.botUsername?.toLowerCase()

      if (command?.[1] === 'operatorgroup' && forUs) {
        const operator = await operatorOf(inbox, m.from.id)
        if (!operator || !hasRole({ userId: operator.userId, organizationId: inbox.organizationId, role: operator.role }, 'admin')) {
          await say(m.chat.id, 'Only a linked admin can choose the operators’ group.', m.message_id)
          return true
        }
        const next: Partial<TelegramSettings> = { ...settings, operatorsChatId: String(m.chat.id) }
        await store.inboxes.update(inbox.organizationId, inbox.id, { settings: next as Record<string, unknown> })
        await store.audit.record({ organizationId: inbox.organizationId, actorUserId: operator.userId, action: 'channel.operators_chat_set', target: inbox.id, data: { chatId: String(m.chat.id) } })
        await say(m.chat.id, 'This group now receives the conversations customers hand to a person.', m.message_id)
        return true
      }

      if (String(m.chat.id) !== settings.operatorsChatId) return false
      // The operators' group is for operators: the agent never answers here.
      const repliedTo = m.reply_to_message
      if (!repliedTo || repliedTo.from?.id !== settings.botId) return true
      const target = await store.handoffs.findPost(inbox.id, messageKey(m.chat.id, repliedTo.message_id))
      if (!target || target.organizationId !== inbox.organizationId) return true
      const operator = await operatorOf(inbox, m.from.id)
      if (!operator) {
        await say(m.chat.id, 'Link your Telegram account first (a code from the admin web, sent to me as /start <code> in a private chat).', m.message_id)
        return true
      }
      if (command?.[1] === 'release' && forUs) {
        await operators.release({ organizationId: inbox.organizationId, conversationId: target.conversationId, operatorUserId: operator.userId })
        await say(m.chat.id, `Conversation ${target.conversationId.slice(0, 8)} is back with the bot.`, m.message_id)
        return true
      }
      if (!text) return true
      const handoff = await store.handoffs.current(inbox.organizationId, target.conversationId)
      if (handoff?.status === 'open') await operators.take({ organizationId: inbox.organizationId, conversationId: target.conversationId, operatorUserId: operator.userId })
      else if (handoff?.status === 'taken' && handoff.operatorUserId !== operator.userId) {
        await say(m.chat.id, 'Another operator has this conversation.', m.message_id)
        return true
      }
      await operators.operatorReply({ organizationId: inbox.organizationId, conversationId: target.conversationId, text, operatorUserId: operator.userId })
      return true
    }
  }

  return { desk, ingress }
}
