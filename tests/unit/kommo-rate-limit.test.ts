import { describe, expect, it } from 'vitest'
import { createMemoryBucket, KOMMO_REQUESTS_PER_SECOND } from '../../adapters/kommo/rate-limit.ts'

/** The most calls that fall in any one window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b)
  let most = 0
  for (let i = 0; i < sorted.length; i++) {
    let n = 0
    while (i + n < sorted.length && sorted[i + n]! < sorted[i]! + windowMs) n++
    most = Math.max(most, n)
  }
  return most
}

/** A clock that only moves when told; `sleep` records the wait and moves it only if `advance`. */
function fakeClock(advance: boolean) {
  let t = 1_700_000_000_000
  const waits: number[] = []
  return {
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms)
      if (advance) t += ms
    },
    tick: (ms: number) => void (t += ms),
    waits,
  }
}

describe('createMemoryBucket (Kommo: at most 7 calls a second per account)', () => {
  it('spreads 20 calls made at once so that no second holds more than 7, queued rather than refused', async () => {
    const clock = fakeClock(false)
    const bucket = createMemoryBucket({ now: clock.now, sleep: clock.sleep, marginMs: 0 })
    const start = clock.now()
    const waits = await Promise.all(Array.from({ length: 20 }, () => bucket.acquire('acme')))
    const slots = waits.map((w) => start + w)
    expect(KOMMO_REQUESTS_PER_SECOND).toBe(7)
    expect(maxInWindow(slots)).toBe(7)
    expect([...waits].sort((a, b) => a - b)).toEqual([...Array(7).fill(0), ...Array(7).fill(1000), ...Array(6).fill(2000)])
    // Nobody was refused: every call got its slot, the 8th and later ones by waiting.
    expect(clock.waits).toHaveLength(13)
  })

  it('keeps the default 50 ms margin between one second and the next', async () => {
    const clock = fakeClock(false)
    const bucket = createMemoryBucket({ now: clock.now, sleep: clock.sleep })
    const waits = await Promise.all(Array.from({ length: 15 }, () => bucket.acquire('acme')))
    expect([...new Set(waits)].sort((a, b) => a - b)).toEqual([0, 1050, 2100])
    expect(maxInWindow(waits, 1050)).toBe(7)
  })

  it('holds callers that arrive one after another as time passes', async () => {
    const clock = fakeClock(true)
    const bucket = createMemoryBucket({ now: clock.now, sleep: clock.sleep })
    const at: number[] = []
    for (let i = 0; i < 20; i++) {
      await bucket.acquire('acme')
      at.push(clock.now())
      clock.tick(10) // each call takes 10 ms before the next one asks
    }
    expect(maxInWindow(at)).toBeLessThanOrEqual(7)
    expect(at[19]! - at[0]!).toBeGreaterThanOrEqual(2 * 1050)
  })

  it('lets a call go at once after a quiet second, and keeps accounts apart', async () => {
    const clock = fakeClock(false)
    const bucket = createMemoryBucket({ now: clock.now, sleep: clock.sleep, perSecond: 2 })
    expect(await bucket.acquire('a')).toBe(0)
    expect(await bucket.acquire('a')).toBe(0)
    expect(await bucket.acquire('b')).toBe(0)
    expect(await bucket.acquire('a')).toBe(1050)
    clock.tick(5000)
    expect(await bucket.acquire('a')).toBe(0)
  })

  it('refuses a limit below one', () => {
    expect(() => createMemoryBucket({ perSecond: 0 })).toThrow(RangeError)
  })
})
