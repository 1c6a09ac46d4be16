/** What the switcher needs to know of each packet of the slot's track. */
export interface SwitchPacket {
  readonly ssrc: number
  /** The first packet of a keyframe (`isKeyframe` on its payload). */
  readonly keyframe: boolean
  /** A straggler: older than the newest packet already seen of its SSRC. */
  readonly late: boolean
  /** RTP marker: the last packet of a frame. */
  readonly marker: boolean
}

/** A layer's SSRC, or no video at all. */
export type LayerTarget = number | "paused"

/**
 * Decides, per packet, whether one subscription slot forwards it: the slot carries one
 * simulcast layer at a time and moves to its target layer only at a keyframe of that layer,
 * so the subscriber's decoder never sees a frame whose references are on another layer.
 * Until then the current layer keeps flowing (or, if it stopped, nothing does: a new layer
 * is never started on anything but its keyframe). Pausing stops at the end of the current
 * frame.
 *
 * When `startedLayer` is true after `accept`, forwarding (re)started on a layer at this
 * packet: call `SlotForwarder.unbind()` before forwarding it, so that even the same SSRC
 * resumed after a pause is a new source with continuous numbering.
 */
export class LayerSwitcher {
  private current: number | undefined
  private target: LayerTarget | undefined
  private started = false
  private layerStarts = 0

  /** The layer whose packets are forwarded now, if any. */
  get currentSsrc(): number | undefined {
    return this.current
  }

  get targetSsrc(): LayerTarget | undefined {
    return this.target
  }

  /** A keyframe of the target is needed to start or switch: the caller should ask for one (throttled). */
  get waitingForKeyframe(): boolean {
    return typeof this.target === "number" && this.target !== this.current
  }

  /** Times forwarding started on a layer: the first start, every switch, every resume after a pause. */
  get switches(): number {
    return this.layerStarts
  }

  /** The packet just accepted is the first of a layer (see the class comment). */
  get startedLayer(): boolean {
    return this.started
  }

  setTarget(target: LayerTarget): void {
    this.target = target
  }

  accept(packet: SwitchPacket): boolean {
    this.started = false
    const target = this.target
    if (
      typeof target === "number" &&
      target !== this.current &&
      packet.ssrc === target &&
      packet.keyframe &&
      !packet.late
    ) {
      this.current = target
      this.started = true
      this.layerStarts++
      return true
    }
    if (this.current === undefined || packet.ssrc !== this.current) return false
    // Paused: this frame still goes out whole, then nothing.
    if (target === "paused" && packet.marker && !packet.late) this.current = undefined
    return true
  }
}
