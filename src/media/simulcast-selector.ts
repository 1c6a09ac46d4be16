/**
 * Picks which simulcast layer of one publication is forwarded: the highest that is
 * flowing, judged by measured bitrate (rid names say nothing about size). A change of
 * layer takes effect only at a keyframe of the new layer, so subscribers never see a
 * frame whose references were on another layer; until then the old layer keeps flowing.
 */

const WINDOW_MS = 1000
/** A layer that sent nothing for this long has been paused by the publisher's encoder. */
const STALE_MS = 1500
/** Switch up only to a layer clearly better than the current one, so close rates do not flap. */
const UPGRADE_FACTOR = 1.3

interface LayerState {
  readonly ssrc: number
  bytesInWindow: number
  windowStartMs: number
  bitrate: number
  lastPacketMs: number
}

export type LayerDecision =
  /** forward this packet */
  | "forward"
  /** not the forwarded layer */
  | "skip"

export class SimulcastSelector {
  private readonly layers = new Map<number, LayerState>()
  private current: number | undefined
  private target: number | undefined
  private lastEvaluationMs = 0

  /** The SSRC whose keyframe the selector is waiting for, if a switch is pending. */
  get pendingSsrc(): number | undefined {
    return this.target
  }

  get currentSsrc(): number | undefined {
    return this.current
  }

  bitrateOf(ssrc: number): number {
    return this.layers.get(ssrc)?.bitrate ?? 0
  }

  onPacket(ssrc: number, bytes: number, keyframe: boolean, nowMs: number): LayerDecision {
    let layer = this.layers.get(ssrc)
    if (!layer) {
      layer = { ssrc, bytesInWindow: 0, windowStartMs: nowMs, bitrate: 0, lastPacketMs: nowMs }
      this.layers.set(ssrc, layer)
    }
    layer.lastPacketMs = nowMs
    layer.bytesInWindow += bytes
    if (nowMs - layer.windowStartMs >= WINDOW_MS) {
      layer.bitrate = (layer.bytesInWindow * 8 * 1000) / (nowMs - layer.windowStartMs)
      layer.bytesInWindow = 0
      layer.windowStartMs = nowMs
    }
    if (this.current === undefined) {
      this.current = ssrc
      this.target = undefined
    }
    if (ssrc === this.target && keyframe) {
      this.current = ssrc
      this.target = undefined
    }
    return ssrc === this.current ? "forward" : "skip"
  }

  /**
   * Re-evaluates the choice about once a second. Returns the SSRC to ask a keyframe from
   * when it starts a switch, undefined otherwise.
   */
  evaluate(nowMs: number): number | undefined {
    if (nowMs - this.lastEvaluationMs < WINDOW_MS) return undefined
    this.lastEvaluationMs = nowMs
    const flowing = [...this.layers.values()].filter((l) => nowMs - l.lastPacketMs < STALE_MS)
    if (flowing.length === 0) return undefined
    const best = flowing.reduce((a, b) => (b.bitrate > a.bitrate ? b : a))
    const current = this.current === undefined ? undefined : this.layers.get(this.current)
    const currentFlowing = current !== undefined && nowMs - current.lastPacketMs < STALE_MS
    const wanted =
      !currentFlowing || best.bitrate > (current?.bitrate ?? 0) * UPGRADE_FACTOR ? best.ssrc : this.current
    if (wanted === this.current || wanted === undefined) {
      this.target = undefined
      return undefined
    }
    if (!currentFlowing && current === undefined) {
      this.current = wanted
      return wanted
    }
    if (this.target === wanted) return undefined
    this.target = wanted
    return wanted
  }

  remove(ssrc: number): void {
    this.layers.delete(ssrc)
    if (this.current === ssrc) this.current = undefined
    if (this.target === ssrc) this.target = undefined
  }
}
