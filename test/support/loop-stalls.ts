/**
 * When this process's event loop was frozen (a timer due every 5 ms ran more than 20 ms late):
 * the server under test, werift clients and every receive callback share that loop, so a
 * silence in media timed by a callback is partly the loop's, not the network's or the ICE
 * agent's, on a loaded machine. `ArrivalLog.largestGap` can leave those intervals out, and a
 * freeze a client measured itself can be set against the longest one.
 */
export class LoopStalls {
  private readonly stalls: Array<readonly [number, number]> = []
  private timer: NodeJS.Timeout | undefined

  static start(): LoopStalls {
    const stalls = new LoopStalls()
    let last = performance.now()
    stalls.timer = setInterval(() => {
      const now = performance.now()
      if (now - last > 25) stalls.stalls.push([last + 5, now])
      last = now
    }, 5)
    return stalls
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** The longest single freeze of the loop within [from, to]. */
  longestWithin(from: number, to: number): number {
    let longest = 0
    for (const [start, end] of this.stalls)
      longest = Math.max(longest, Math.min(end, to) - Math.max(start, from))
    return longest
  }

  /** How much of [from, to] the loop spent frozen. */
  within(from: number, to: number): number {
    let frozen = 0
    for (const [start, end] of this.stalls) frozen += Math.max(0, Math.min(end, to) - Math.max(start, from))
    return frozen
  }
}
