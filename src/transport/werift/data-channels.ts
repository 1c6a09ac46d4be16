import type { RTCDataChannel, RTCPeerConnection } from "werift"
import type { PeerHandlers } from "../transport.ts"

/**
 * The client's SCTP data channels on a server peer connection, by label: the first channel
 * of each label is the one used (a repeated label is ignored). Incoming messages and opens
 * go to the handlers; sending never throws and never queues beyond `maxBufferedBytes`.
 */
export interface DataChannels {
  readonly send: (label: string, message: string | Uint8Array, maxBufferedBytes: number) => boolean
}

/** More channels than any client of the protocol opens; the rest are left unanswered. */
const MAX_CHANNELS = 16

export const wireDataChannels = (pc: RTCPeerConnection, handlers: () => PeerHandlers): DataChannels => {
  const byLabel = new Map<string, RTCDataChannel>()
  const open = new Set<string>()
  pc.onDataChannel.subscribe((channel) => {
    const label = channel.label
    if (byLabel.has(label) || byLabel.size >= MAX_CHANNELS) return
    byLabel.set(label, channel)
    const opened = () => {
      if (open.has(label)) return
      open.add(label)
      try {
        handlers().onDataChannelOpen(label)
      } catch {
        // a handler bug must not unwind werift's SCTP stack
      }
    }
    channel.stateChanged.subscribe((state) => {
      if (state === "open") opened()
      else if (state === "closed") open.delete(label)
    })
    if (channel.readyState === "open") opened()
    channel.onMessage.subscribe((message) => {
      try {
        handlers().onDataMessage(
          label,
          typeof message === "string"
            ? message
            : new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
        )
      } catch {
        // as above
      }
    })
  })
  return {
    send: (label, message, maxBufferedBytes) => {
      const channel = byLabel.get(label)
      if (!channel || !open.has(label) || channel.readyState !== "open") return false
      if (channel.bufferedAmount > maxBufferedBytes) return false
      try {
        channel.send(
          typeof message === "string"
            ? message
            : Buffer.from(message.buffer, message.byteOffset, message.byteLength)
        )
        return true
      } catch {
        return false
      }
    }
  }
}
