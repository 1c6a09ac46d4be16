/** The JSON shape of `GET /api/v1/rooms/{room}`. */

export interface PublicationView {
  readonly id: string
  readonly mid: string
  readonly kind: "audio" | "video"
  readonly codec: string
  readonly rids: ReadonlyArray<string>
  readonly forwardedRid: string | null
  readonly packetsReceived: number
  readonly subscribers: number
}

export interface SlotView {
  readonly mid: string
  readonly kind: "audio" | "video"
  readonly ssrc: number
  readonly trackId: string | null
  readonly packetsSent: number
  readonly packetsDropped: number
}

export interface ParticipantView {
  readonly id: string
  readonly role: "participant" | "whip" | "whep"
  readonly state: "connecting" | "connected"
  readonly publications: ReadonlyArray<PublicationView>
  readonly slots: ReadonlyArray<SlotView>
}

export interface RoomView {
  readonly name: string
  readonly participants: ReadonlyArray<ParticipantView>
}
