/**
 * A circuit breaker for one provider account. Closed: calls go through and consecutive failures
 * are counted; at `threshold` it opens. Open: calls are refused for `openMs`. Then half-open:
 * exactly one probe call at a time; its success closes the breaker, its failure re-opens it.
 *
 * Results of calls that started before the breaker opened ("normal" tickets arriving while it is
 * open or half-open) are ignored, so a burst of in-flight calls neither extends the open period
 * nor closes it behind the probe's back.
 */
export type BreakerState = 'closed' | 'open' | 'half_open'
/** What `acquire` hands out: null = refused, 'normal' = a call while closed, 'probe' = the half-open probe. */
export type BreakerTicket = 'normal' | 'probe' | null

export type CircuitBreakerOptions = { threshold: number; openMs: number; now: () => number }

export class CircuitBreaker {
  private current: BreakerState = 'closed'
  private failures = 0
  private openedAt = 0
  private probing = false
  private readonly threshold: number
  private readonly openMs: number
  private readonly now: () => number

  constructor(options: CircuitBreakerOptions) {
    this.threshold = Math.max(1, options.threshold)
    this.openMs = options.openMs
    this.now = options.now
  }

  /** May a call go now? In half-open state this takes the single probe slot. */
  acquire(): BreakerTicket {
    if (this.current === 'closed') return 'normal'
    if (this.current === 'open') {
      if (this.now() - this.openedAt < this.openMs) return null
      this.current = 'half_open'
      this.probing = false
    }
    if (this.probing) return null
    this.probing = true
    return 'probe'
  }

  success(ticket: BreakerTicket): void {
    if (ticket === 'probe' || this.current === 'closed') {
      this.current = 'closed'
      this.failures = 0
      this.probing = false
    }
  }

  /** Returns true when this failure opened (or re-opened) the breaker. */
  failure(ticket: BreakerTicket): boolean {
    if (ticket === 'probe') {
      this.trip()
      return true
    }
    if (this.current !== 'closed') return false
    if (++this.failures >= this.threshold) {
      this.trip()
      return true
    }
    return false
  }

  /** A call that says nothing about the provider's health (e.g. a 400 for this request): frees the probe slot. */
  release(ticket: BreakerTicket): void {
    if (ticket === 'probe' && this.current === 'half_open') this.probing = false
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAt >= this.openMs) return 'half_open'
    return this.current
  }

  snapshot(): { state: BreakerState; consecutiveFailures: number; openedAt: number | null } {
    return { state: this.state, consecutiveFailures: this.failures, openedAt: this.current === 'closed' ? null : this.openedAt }
  }

  private trip(): void {
    this.current = 'open'
    this.openedAt = this.now()
    this.probing = false
    this.failures = 0
  }
}
