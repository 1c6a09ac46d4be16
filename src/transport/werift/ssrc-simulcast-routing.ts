import { MediaStreamTrack, type RTCPeerConnection, type RTCRtpTransceiver } from "werift"
import type { SsrcSimulcastLayer } from "../sdp-ssrc-simulcast.ts"

interface WeriftRouter {
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
 * it (re)applies a description, so this runs after each answer is set.
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
    typeof receiver.ssrcByRtx !== "object" ||
    typeof receiver.trackBySSRC !== "object" ||
    !Array.isArray(receiver.tracks)
  ) {
    throw new Error("werift changed: RtpRouter.registerRtpReceiver or RTCRtpReceiver.ssrcByRtx is gone")
  }
  const codec = receiver.tracks[0]?.codec
  for (const layer of layers) {
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
    if (layer.rtxSsrc !== undefined) {
      router.registerRtpReceiver(transceiver.receiver, layer.rtxSsrc)
      receiver.ssrcByRtx[layer.rtxSsrc] = layer.ssrc
    }
  }
}
