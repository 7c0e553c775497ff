/*
 * When a Page or Instagram account may answer a person (the same rules for both):
 * - the standard messaging window: any message, for 24 hours after the person's last message
 *   (https://developers.facebook.com/docs/messenger-platform/policy/policy-overview);
 * - after that, only a message written by a human agent, sent with messaging_type MESSAGE_TAG and
 *   tag HUMAN_AGENT, up to 7 days after the person's last message; the app needs the Human Agent
 *   permission, granted by Meta's App Review
 *   (https://developers.facebook.com/docs/messenger-platform/send-messages/message-tags,
 *   https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message).
 * A business can never write first: nothing may be sent before the person has written.
 *
 * The tag is used only when it is needed, as Chatwoot does
 * (app/services/facebook/human_agent_tag_helpers.rb): a reply inside the 24 hours goes as RESPONSE
 * even when a person wrote it, and a bot's reply is never tagged. Meta refuses a bot's message
 * outside the window with error 10/2018278, and counts a tag on automated messages as misuse.
 */

export const STANDARD_WINDOW_MS = 24 * 3600_000
export const HUMAN_AGENT_WINDOW_MS = 7 * 24 * 3600_000

export type WindowDecision = { send: true; messagingType: 'RESPONSE' } | { send: true; messagingType: 'MESSAGE_TAG'; tag: 'HUMAN_AGENT' } | { send: false; reason: string }

/** "30 hours", "8 days": how long ago, as the reason tells it. */
function ago(ms: number): string {
  const hours = Math.floor(ms / 3600_000)
  if (hours < 48) return `${hours} ${hours === 1 ? 'hour' : 'hours'}`
  const days = Math.floor(hours / 24)
  return `${days} days`
}

/**
 * `lastCustomerAt` null = the person never wrote (nothing may be sent). `author` 'operator' = a person
 * wrote it. Follows Chatwoot's rule: the tag only when a human wrote it AND the last incoming message
 * is older than 24 h. The `reason` of a refusal is shown to operators and admins as it is.
 */
export function replyWindow(input: { lastCustomerAt: Date | null; now: Date; author: 'agent' | 'system' | 'operator'; humanAgentAllowed: boolean }): WindowDecision {
  if (!input.lastCustomerAt) {
    return { send: false, reason: 'The customer has not written in this conversation yet. Messenger and Instagram let a business answer only after the person writes first.' }
  }
  // A clock slightly behind Meta's makes the last message look a little in the future: still inside.
  const elapsed = Math.max(0, input.now.getTime() - input.lastCustomerAt.getTime())
  if (elapsed <= STANDARD_WINDOW_MS) return { send: true, messagingType: 'RESPONSE' }

  const since = `The customer last wrote ${ago(elapsed)} ago; Messenger and Instagram allow replies for 24 hours after the customer's last message.`
  if (elapsed > HUMAN_AGENT_WINDOW_MS) {
    return { send: false, reason: `${since} Even a person may answer only within 7 days, so nothing can be sent until the customer writes again.` }
  }
  if (input.author !== 'operator') {
    return {
      send: false,
      reason: input.humanAgentAllowed
        ? `${since} An operator may still answer in person for 7 days; the bot may not.`
        : `${since} A person may still answer for 7 days with the Human Agent permission (META_HUMAN_AGENT=true).`,
    }
  }
  if (!input.humanAgentAllowed) {
    return {
      send: false,
      reason: `${since} A person may still answer for 7 days with Meta's Human Agent permission, which is not enabled here: once the Meta app has it (App Review), set META_HUMAN_AGENT=true.`,
    }
  }
  return { send: true, messagingType: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' }
}
