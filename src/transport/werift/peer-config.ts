import { isIPv4 } from "node:net"
import { networkInterfaces } from "node:os"
import {
  type PeerConfig,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useAudioLevelIndication,
  useFIR,
  useNACK,
  usePLI,
  useREMB,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
  useTransportWideCC,
  useTWCC
} from "werift"

/**
 * The server's side of every negotiation, as ../shared/werift-notes.md advises: ICE-lite,
 * max-bundle (the default policy leaks sockets), one host candidate with the announced IP,
 * and codecs and header extensions listed explicitly (werift negotiates none by default).
 */

/**
 * transport-cc is negotiated (when the client offers it) with the server's own transport-wide
 * feedback and send history: werift's receiver-side feedback is malformed and per m-line, so
 * the werift peer switches it off (werift-notes §5).
 */
const videoFeedback = () => [useNACK(), usePLI(), useFIR(), useREMB(), useTWCC()]

const video = (mimeType: string, payloadType: number, parameters?: string) => [
  new RTCRtpCodecParameters({
    mimeType,
    clockRate: 90000,
    payloadType,
    rtcpFeedback: videoFeedback(),
    ...(parameters === undefined ? {} : { parameters })
  }),
  new RTCRtpCodecParameters({
    mimeType: "video/rtx",
    clockRate: 90000,
    payloadType: payloadType + 1,
    rtcpFeedback: [],
    parameters: `apt=${payloadType}`
  })
]

/** Order is preference: VP8 first because every browser encodes it. */
export const serverCodecs = () => ({
  audio: [
    new RTCRtpCodecParameters({
      mimeType: "audio/opus",
      clockRate: 48000,
      channels: 2,
      payloadType: 111,
      rtcpFeedback: [useTWCC()],
      parameters: "minptime=10;useinbandfec=1"
    })
  ],
  video: [
    ...video("video/VP8", 96),
    ...video("video/VP9", 98),
    ...video("video/H264", 100, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    ...video("video/AV1", 45)
  ]
})

export const serverHeaderExtensions = () => ({
  audio: [useSdesMid(), useAbsSendTime(), useAudioLevelIndication(), useTransportWideCC()],
  video: [
    useSdesMid(),
    useSdesRTPStreamId(),
    useRepairedRtpStreamId(),
    useAbsSendTime(),
    useTransportWideCC()
  ]
})

export interface ServerPeerOptions {
  readonly announcedIp: string
  readonly udpPortMin: number
  readonly udpPortMax: number
}

/** Whether `ip` is an IPv4 address of one of this host's interfaces (loopback included). */
const isLocalIpv4 = (ip: string): boolean =>
  isIPv4(ip) &&
  Object.values(networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === ip) ?? false)

/**
 * The ICE socket is bound to the announced address when that address is one of this host's
 * own: bound to 0.0.0.0, a reply to a client check from another local address (a browser
 * on the same machine also offers its LAN address) leaves with that address as source, not
 * the advertised candidate's, the client drops it, and werift (ICE-lite) keeps the first
 * nominated pair, so DTLS never completes. Behind NAT the announced address is not local
 * and the socket stays on every interface.
 */
export const serverPeerConfig = (options: ServerPeerOptions): Partial<PeerConfig> => ({
  ...(isLocalIpv4(options.announcedIp) ? { iceInterfaceAddresses: { udp4: options.announcedIp } } : {}),
  iceLite: true,
  bundlePolicy: "max-bundle",
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: [options.announcedIp],
  icePortRange: [options.udpPortMin, options.udpPortMax],
  iceServers: [],
  codecs: serverCodecs(),
  headerExtensions: serverHeaderExtensions()
})
