/** The JSON shape of `GET /api/v1/rooms/{room}`. */

/** One SSRC of a publication (a simulcast layer), as measured by the server. */
export interface LayerView {
  readonly rid: string | null
  readonly width: number | null
  readonly height: number | null
  readonly fps: number
  readonly bitrateBps: number
  readonly flowing: boolean
}

export interface PublicationView {
  readonly id: string
  readonly mid: string
  readonly kind: "audio" | "video"
  readonly codec: string
  readonly rids: ReadonlyArray<string>
  /** Lowest quality first. */
  readonly layers: ReadonlyArray<LayerView>
  readonly packetsReceived: number
  readonly subscribers: number
}

export interface SlotView {
  readonly mid: string
  readonly kind: "audio" | "video"
  readonly ssrc: number
  readonly trackId: string | null
  /** The layer of the track this slot forwards now (its SSRC's measurements). */
  readonly layer: LayerView | null
  /** The rid the slot waits to switch to (at that layer's next keyframe), if any. */
  readonly targetRid: string | null
  /** Why the slot forwards nothing though it has a track. */
  readonly paused: "client" | "bandwidth" | "no-layers" | null
  readonly layerSwitches: number
  readonly packetsSent: number
  readonly packetsDropped: number
}

export interface ParticipantView {
  readonly id: string
  readonly role: "participant" | "whip" | "whep"
  readonly state: "connecting" | "connected"
  /** The server's estimate of this client's downlink, and what it is based on. */
  readonly downlink?: {
    readonly estimateBps: number | null
    readonly source: "transport-cc" | "remb" | "receiver-report" | "none"
  }
  readonly publications: ReadonlyArray<PublicationView>
  readonly slots: ReadonlyArray<SlotView>
}

export interface RoomView {
  readonly name: string
  readonly participants: ReadonlyArray<ParticipantView>
}
