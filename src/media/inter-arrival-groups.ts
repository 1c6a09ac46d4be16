/**
 * Groups acknowledged packets into send bursts and yields the delay variation between
 * consecutive bursts, the input of the delay-based estimator (GCC, draft-ietf-rmcat-gcc §5.1).
 * One packet alone says little about queueing: a burst sent within `BURST_MS` and compared with
 * the previous burst does. Arrival times are in the receiver's own epoch, so only their
 * differences are used, and a jump of that epoch resets the grouping instead of being read as
 * seconds of queueing.
 */

/** Packets sent within this span of a group's first packet belong to the group. */
const BURST_MS = 5
/** Packets that arrive this close together, sooner than they were sent apart, are one queued burst. */
const BURST_ARRIVAL_MS = 5
const MAX_BURST_DURATION_MS = 100
/** A delay variation larger than this is a receiver clock jump, not queueing. */
const CLOCK_JUMP_MS = 3000
/** After this many groups in a row arrive before their predecessor, start over. */
const REORDER_RESET_COUNT = 3

export interface DelayVariation {
  /** Send time of the newer group's last packet minus that of the older group's. */
  readonly sendDeltaMs: number
  /** Arrival of the newer group's last packet minus that of the older group's. */
  readonly arrivalDeltaMs: number
  /** Arrival time of the newer group (receiver epoch). */
  readonly arrivalTimeMs: number
}

interface PacketGroup {
  firstSendMs: number
  lastSendMs: number
  firstArrivalMs: number
  lastArrivalMs: number
}

export type GroupingResult =
  | { readonly _tag: "None" }
  | { readonly _tag: "Variation"; readonly variation: DelayVariation }
  /** The history was discarded (clock jump or persistent reordering); downstream state should be too. */
  | { readonly _tag: "Reset" }

const none: GroupingResult = { _tag: "None" }
const reset: GroupingResult = { _tag: "Reset" }

export class InterArrivalGroups {
  private current: PacketGroup | undefined
  private previous: PacketGroup | undefined
  private reorderedInARow = 0

  /** Feeds one received packet; packets should come in send order. */
  add(sendTimeMs: number, arrivalTimeMs: number): GroupingResult {
    const current = this.current
    if (current === undefined) {
      this.current = newGroup(sendTimeMs, arrivalTimeMs)
      return none
    }
    // Sent before the group being built: a straggler whose group is already closed.
    if (sendTimeMs < current.firstSendMs) return none
    if (this.belongsTo(current, sendTimeMs, arrivalTimeMs)) {
      current.lastSendMs = Math.max(current.lastSendMs, sendTimeMs)
      current.lastArrivalMs = Math.max(current.lastArrivalMs, arrivalTimeMs)
      return none
    }
    let result = none
    const previous = this.previous
    if (previous !== undefined) {
      const sendDeltaMs = current.lastSendMs - previous.lastSendMs
      const arrivalDeltaMs = current.lastArrivalMs - previous.lastArrivalMs
      if (Math.abs(arrivalDeltaMs - sendDeltaMs) > CLOCK_JUMP_MS) {
        this.startOver(sendTimeMs, arrivalTimeMs)
        return reset
      }
      if (arrivalDeltaMs < 0) {
        this.reorderedInARow++
        if (this.reorderedInARow >= REORDER_RESET_COUNT) {
          this.startOver(sendTimeMs, arrivalTimeMs)
          return reset
        }
        return none
      }
      this.reorderedInARow = 0
      result = {
        _tag: "Variation",
        variation: { sendDeltaMs, arrivalDeltaMs, arrivalTimeMs: current.lastArrivalMs }
      }
    }
    this.previous = current
    this.current = newGroup(sendTimeMs, arrivalTimeMs)
    return result
  }

  private belongsTo(group: PacketGroup, sendTimeMs: number, arrivalTimeMs: number): boolean {
    if (sendTimeMs - group.firstSendMs <= BURST_MS) return true
    const arrivalDeltaMs = arrivalTimeMs - group.lastArrivalMs
    const sendDeltaMs = sendTimeMs - group.lastSendMs
    return (
      arrivalDeltaMs >= 0 &&
      arrivalDeltaMs - sendDeltaMs < 0 &&
      arrivalDeltaMs <= BURST_ARRIVAL_MS &&
      arrivalTimeMs - group.firstArrivalMs < MAX_BURST_DURATION_MS
    )
  }

  private startOver(sendTimeMs: number, arrivalTimeMs: number): void {
    this.previous = undefined
    this.current = newGroup(sendTimeMs, arrivalTimeMs)
    this.reorderedInARow = 0
  }
}

const newGroup = (sendTimeMs: number, arrivalTimeMs: number): PacketGroup => ({
  firstSendMs: sendTimeMs,
  lastSendMs: sendTimeMs,
  firstArrivalMs: arrivalTimeMs,
  lastArrivalMs: arrivalTimeMs
})
