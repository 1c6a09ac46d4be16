// Many subscribers asking for a keyframe at once must not turn into a PLI storm at the publisher.

export class KeyframeRequestThrottle {
  readonly #minIntervalMs: number
  #lastAcceptedMs: number | undefined
  #suppressed = 0

  constructor(minIntervalMs: number) {
    this.#minIntervalMs = minIntervalMs
  }

  /** True (and recorded) if a request may go out now; false if one went out under minIntervalMs ago. */
  tryRequest(nowMs: number): boolean {
    if (this.#lastAcceptedMs !== undefined && nowMs - this.#lastAcceptedMs < this.#minIntervalMs) {
      this.#suppressed++
      return false
    }
    this.#lastAcceptedMs = nowMs
    return true
  }

  get suppressed(): number {
    return this.#suppressed
  }

  /** Forget the last request, e.g. when the publisher's track is replaced. */
  reset(): void {
    this.#lastAcceptedMs = undefined
  }
}
