import type { HandoffDesk, Message, OperatorAction, OperatorOutcome, Store } from '../../core/ports.ts'
import { escapeHtml } from './format.ts'
import { messageKey, settingsOf, type TelegramChannel } from './telegram-channel.ts'

const who: Record<Message['author'], string> = { contact: 'Customer', agent: 'Bot', operator: 'Operator', system: 'Bot' }
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
const LINK_FIRST = 'Link your Telegram account first: make a code in the admin web and send /start <code> to me in a private chat.'

/** What an operator's press of a button is answered with (a toast over the button). */
const buttonAnswers: Partial<Record<OperatorOutcome, { text: string; alert?: boolean }>> = {
  not_linked: { text: LINK_FIRST, alert: true },
  unknown_conversation: { text: 'This conversation no longer exists.' },
  taken: { text: 'It is yours: reply to the messages here to answer.' },
  not_open: { text: 'Someone has taken it already, or it is closed.' },
  released: { text: 'Back with the bot.' },
}

/**
 * The operators' Telegram group of an inbox: handoffs arrive there with their transcript and a
 * "Take" button; the operator who took one replies to the bot's message in the group and the reply
 * reaches the customer as the business; /release or "Back to bot" returns the conversation.
 * An admin chooses the group by sending /operatorgroup in it. Who may do what is decided in core
 * (core/conversation/desk-service.ts); this posts and answers in Telegram.
 */
export function createTelegramDesk(deps: { store: Store; channel: TelegramChannel }): HandoffDesk {
  const { store, channel } = deps

  /** Sends to the operators' group and remembers the post, so replies to it find the conversation. */
  async function post(input: { inbox: Parameters<HandoffDesk['notice']>[0]['inbox']; conversationId: string; html: string; buttons?: { text: string; callback_data: string }[] }): Promise<void> {
    const chatId = settingsOf(input.inbox).operatorsChatId
    if (!chatId) return
    const { api } = await channel.apiFor(input.inbox)
    const sent = await api.sendMessage(chatId, input.html, { parse_mode: 'HTML', ...(input.buttons ? { reply_markup: { inline_keyboard: [input.buttons] } } : {}) })
    await store.handoffs.addPost({ organizationId: input.inbox.organizationId, inboxId: input.inbox.id, conversationId: input.conversationId, externalMessageId: messageKey(chatId, sent.message_id) })
  }

  return {
    ready: (inbox) => Boolean(settingsOf(inbox).operatorsChatId),
    place: (inbox) => settingsOf(inbox).operatorsChatId ?? null,
    async announce({ inbox, from, conversation, handoff, transcript }) {
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
      const html = `🙋 <b>A customer wants a person</b> (${escapeHtml(handoff.reason.replace(/_/g, ' '))})\nConversation ${conversation.id.slice(0, 8)} in ${escapeHtml(from.id === inbox.id ? inbox.name : `${from.name} (${from.channel})`)}\n\n${lines.join('\n')}\n\nPress Take, then reply to this message to answer the customer.`
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
    async claim({ inbox, place }) {
      return { ...settingsOf(inbox), operatorsChatId: place }
    },
    async answer({ inbox, action, outcome, conversationId, detail }) {
      const { api } = await channel.apiFor(inbox)
      const chatId = Number(action.reply.chatId)
      const messageId = Number(action.reply.messageId)
      const say = (text: string) => api.sendMessage(chatId, text, { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } })
      const short = conversationId?.slice(0, 8) ?? ''
      const name = action.userName ?? 'An operator'
      if (isButton(action)) {
        const answer = buttonAnswers[outcome]
        await api.answerCallbackQuery(String(action.reply.callbackQueryId), answer ? { text: answer.text, ...(answer.alert ? { show_alert: true } : {}) } : {})
        if (outcome === 'taken') {
          await api.editMessageReplyMarkup(chatId, messageId, { reply_markup: { inline_keyboard: [[{ text: 'Back to bot', callback_data: `op:release:${conversationId}` }]] } }).catch(() => undefined)
          await say(`${name} took conversation ${short}. Reply to its messages to answer; /release or "Back to bot" hands it back.`)
        }
        if (outcome === 'released') {
          await api.editMessageReplyMarkup(chatId, messageId, { reply_markup: { inline_keyboard: [] } }).catch(() => undefined)
          await say(`${name} handed conversation ${short} back to the bot.`)
        }
        return
      }
      const text: Partial<Record<OperatorOutcome, string>> = {
        not_admin: 'Only a linked admin can choose the operators’ group.',
        desk_claimed: 'This group now receives the conversations customers hand to a person.',
        not_linked: 'Link your Telegram account first (a code from the admin web, sent to me as /start <code> in a private chat).',
        released: `Conversation ${short} is back with the bot.`,
        taken_by_other: 'Another operator has this conversation.',
        not_delivered: `Not delivered to the customer: ${detail ?? 'the channel refused it'}`,
      }
      if (text[outcome]) await say(text[outcome]!)
    },
  }
}

const isButton = (action: OperatorAction) => action.reply.callbackQueryId !== undefined
