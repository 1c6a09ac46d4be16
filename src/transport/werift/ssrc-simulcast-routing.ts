import { MediaStreamTrack, type RTCPeerConnection, type RTCRtpTransceiver } from "werift"
import type { SsrcSimulcastLayer } from "../sdp-ssrc-simulcast.ts"

interface WeriftRouter {
  ssrcTable: Record<number, unknown>
  registerRtpReceiver: (receiver: unknown, ssrc: number) => void
}

interface WeriftReceiver {
  ssrcByRtx: Record<number, number>
  trackBySSRC: Record<number, MediaStreamTrack | undefined>
  tracks: ReadonlyArray<MediaStreamTrack>
}

/**
 * werift routes only the first `a=ssrc` of an m-line, and its retransmissions only when the
 * m-line declares exactly two SSRCs, so the other layers of an `a=ssrc-group:SIM` publication
 * and every layer's RTX would be dropped. This registers each layer's SSRC with werift's
 * router as a track of the publication's receiver and each FID RTX SSRC as a retransmission
 * of its layer, which werift then unwraps into that track. werift wipes the RTX map whenever
 * it (re)applies a description, so this runs after each answer is set. An SSRC that already
 * belongs to another m-line (or to one of the server's senders) is left alone: an offer may
 * not take over another stream's routing.
 */
export const routeSsrcSimulcast = (
  pc: RTCPeerConnection,
  transceiver: RTCRtpTransceiver,
  layers: ReadonlyArray<SsrcSimulcastLayer>
): void => {
  const router = (pc as unknown as { router?: Partial<WeriftRouter> }).router
  const receiver = transceiver.receiver as unknown as Partial<WeriftReceiver>
  if (
    typeof router?.registerRtpReceiver !== "function" ||
    typeof router.ssrcTable !== "object" ||
    typeof receiver.ssrcByRtx !== "object" ||
    typeof receiver.trackBySSRC !== "object" ||
    !Array.isArray(receiver.tracks)
  ) {
    throw new Error("werift changed: RtpRouter.registerRtpReceiver or RTCRtpReceiver.ssrcByRtx is gone")
  }
  const codec = receiver.tracks[0]?.codec
  const free = (ssrc: number) => {
    const owner = router.ssrcTable![ssrc]
    return owner === undefined || owner === transceiver.receiver
  }
  for (const layer of layers) {
    if (!free(layer.ssrc)) continue
    router.registerRtpReceiver(transceiver.receiver, layer.ssrc)
    if (!receiver.trackBySSRC[layer.ssrc]) {
      // Fires the transceiver's onTrack, through which the publication subscribes to it.
      transceiver.addTrack(
        new MediaStreamTrack({
          ssrc: layer.ssrc,
          kind: transceiver.kind,
          id: transceiver.sender.trackId,
          remote: true,
          ...(codec ? { codec } : {})
        })
      )
    }
    if (layer.rtxSsrc !== undefined && free(layer.rtxSsrc)) {
      router.registerRtpReceiver(transceiver.receiver, layer.rtxSsrc)
      receiver.ssrcByRtx[layer.rtxSsrc] = layer.ssrc
    }
  }
}
