import { describe, expect, it } from 'vitest'
import { HUMAN_AGENT_WINDOW_MS, replyWindow, STANDARD_WINDOW_MS } from '../../adapters/meta/window.ts'

const now = new Date('2026-03-10T12:00:00Z')
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3600_000)
const decide = (lastCustomerAt: Date | null, author: 'agent' | 'system' | 'operator', humanAgentAllowed = false) => replyWindow({ lastCustomerAt, now, author, humanAgentAllowed })

describe('replyWindow', () => {
  it('lets anyone answer within 24 hours, untagged', () => {
    for (const author of ['agent', 'system', 'operator'] as const) {
      expect(decide(hoursAgo(1), author, true)).toEqual({ send: true, messagingType: 'RESPONSE' })
      expect(decide(hoursAgo(24), author)).toEqual({ send: true, messagingType: 'RESPONSE' })
    }
    // A last message slightly in the future (clock skew) is inside the window.
    expect(decide(hoursAgo(-0.01), 'agent')).toEqual({ send: true, messagingType: 'RESPONSE' })
  })

  it('refuses the bot after 24 hours, and says why', () => {
    const decision = decide(hoursAgo(25), 'agent')
    expect(decision.send).toBe(false)
    if (decision.send) return
    expect(decision.reason).toContain('last wrote 25 hours ago')
    expect(decision.reason).toContain('24 hours')
    expect(decision.reason).toContain('META_HUMAN_AGENT=true')
    // With the permission the bot still may not; the reason says a person may.
    const allowed = decide(hoursAgo(25), 'system', true)
    expect(allowed).toMatchObject({ send: false, reason: expect.stringContaining('operator may still answer') })
  })

  it('tags an operator\'s reply with HUMAN_AGENT after 24 hours when the app has the permission', () => {
    expect(decide(hoursAgo(25), 'operator', true)).toEqual({ send: true, messagingType: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' })
    expect(decide(hoursAgo(7 * 24), 'operator', true)).toEqual({ send: true, messagingType: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' })
  })

  it('refuses an operator after 24 hours without the permission, saying how to get it', () => {
    const decision = decide(hoursAgo(30), 'operator', false)
    expect(decision).toMatchObject({ send: false })
    if (decision.send) return
    expect(decision.reason).toContain('last wrote 30 hours ago')
    expect(decision.reason).toContain('Human Agent permission')
    expect(decision.reason).toContain('META_HUMAN_AGENT=true')
  })

  it('refuses everyone after 7 days', () => {
    for (const author of ['agent', 'operator'] as const) {
      const decision = decide(hoursAgo(8 * 24), author, true)
      expect(decision).toMatchObject({ send: false, reason: expect.stringContaining('8 days ago') })
      if (!decision.send) expect(decision.reason).toContain('until the customer writes again')
    }
  })

  it('refuses a conversation where the customer never wrote', () => {
    const decision = decide(null, 'operator', true)
    expect(decision).toMatchObject({ send: false, reason: expect.stringContaining('has not written') })
  })

  it('exports the windows Meta documents', () => {
    expect(STANDARD_WINDOW_MS).toBe(86_400_000)
    expect(HUMAN_AGENT_WINDOW_MS).toBe(7 * 86_400_000)
  })
})
