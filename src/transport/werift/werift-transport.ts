import { Clock, Effect, Layer, Schedule } from "effect"
import { PrismConfig } from "../../config.ts"
import { forkSupervised } from "../../fault/supervision.ts"
import { Transport } from "../transport.ts"
import { installFastSrtp } from "./fast-srtp.ts"
import { installIngressGuard } from "./ingress-guard.ts"
import { installRtcpTap } from "./rtcp-tap.ts"
import { makeWeriftPeer } from "./werift-peer.ts"

const SENDER_REPORT_INTERVAL = "1 second"
/** Transport-wide feedback cadence toward publishers (libwebrtc's receivers use 50–250 ms). */
const TRANSPORT_FEEDBACK_INTERVAL = "50 millis"

/** The production Transport: one werift peer connection per participant. */
export const WeriftTransport = Layer.effect(
  Transport,
  Effect.gen(function* () {
    const config = yield* PrismConfig
    const clock = yield* Clock.Clock
    installFastSrtp()
    installIngressGuard()
    installRtcpTap()
    const options = {
      announcedIp: config.announcedIp,
      udpPortMin: config.udpPortMin,
      udpPortMax: config.udpPortMax
    }
    return Transport.of({
      connect: (request) =>
        Effect.gen(function* () {
          const werift = yield* Effect.acquireRelease(makeWeriftPeer(request.offer, options, clock), (w) =>
            Effect.promise(() => w.close())
          )
          yield* forkSupervised(
            "transport-timer",
            Clock.currentTimeMillis.pipe(
              Effect.map((now) => werift.sendReports(now)),
              Effect.repeat(Schedule.spaced(SENDER_REPORT_INTERVAL))
            )
          )
          if (werift.receivesTransportWide) {
            yield* forkSupervised(
              "transport-timer",
              Effect.sync(werift.sendTransportFeedback).pipe(
                Effect.repeat(Schedule.spaced(TRANSPORT_FEEDBACK_INTERVAL))
              )
            )
          }
          return werift.peer
        })
    })
  })
)
