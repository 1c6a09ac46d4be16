import { RTCDtlsTransport } from "werift"

/**
 * werift decrypts an SRTCP compound and parses it with its own (lenient, sometimes throwing)
 * parser before anyone else sees it. Congestion feedback is read from the decrypted bytes
 * instead, with Prism's strict parsers: this tap hands every decrypted compound of a DTLS
 * transport to the listener set with `tapRtcp`. Installed once on the werift module the app
 * imports; idempotent.
 */

const INSTALLED = Symbol.for("prism.rtcp-tap")
const LISTENER = Symbol.for("prism.rtcp-tap.listener")

type Listener = (compound: Buffer) => void

interface SrtcpSessionLike {
  decrypt: (data: Buffer) => Buffer
}
interface TappedDtls {
  srtcp: SrtcpSessionLike | undefined
  [LISTENER]?: Listener
}

export const installRtcpTap = (): void => {
  const proto = RTCDtlsTransport.prototype as unknown as Record<symbol | string, unknown>
  if (proto[INSTALLED]) return
  const original = proto["updateSrtpSession"]
  if (typeof original !== "function")
    throw new Error("werift changed: RTCDtlsTransport.updateSrtpSession is gone")
  proto["updateSrtpSession"] = function (this: TappedDtls, ...args: unknown[]) {
    const result = original.apply(this, args)
    const session = this.srtcp
    if (session && typeof session.decrypt === "function") {
      const decrypt = session.decrypt.bind(session)
      session.decrypt = (data: Buffer) => {
        const plain = decrypt(data)
        const listener = this[LISTENER]
        if (listener) {
          try {
            listener(plain)
          } catch {
            // a listener's bug must not cost werift the packet
          }
        }
        return plain
      }
    }
    return result
  }
  proto[INSTALLED] = true
}

/** Sets the listener for this transport's decrypted RTCP (replacing any earlier one). */
export const tapRtcp = (dtls: RTCDtlsTransport, listener: Listener): void => {
  ;(dtls as unknown as TappedDtls)[LISTENER] = listener
}
