import { cleanLink, type LinkSettings } from "./link.ts"

/** Typical access networks, after PulseBeam's simulator profiles. */
export type ProfileName = "fiber" | "wifi" | "cellular" | "lossy" | "slow"

export const profiles: Record<ProfileName, LinkSettings> = {
  fiber: { ...cleanLink, latencyMs: 5, jitterMs: 1 },
  wifi: {
    ...cleanLink,
    latencyMs: 10,
    jitterMs: 3,
    burst: { p: 0.01, r: 0.4, lossGood: 0, lossBad: 0.5 }
  },
  cellular: { ...cleanLink, latencyMs: 48, jitterMs: 4, loss: 0.01, bandwidthKbps: 4000, queueMs: 200 },
  /** 30 % uniform loss, the "no NACK storm" condition. */
  lossy: { ...cleanLink, latencyMs: 20, jitterMs: 2, loss: 0.3 },
  /** A 50 kbit/s link: far less than one video stream. */
  slow: { ...cleanLink, latencyMs: 30, jitterMs: 2, bandwidthKbps: 50, queueMs: 200 }
}
