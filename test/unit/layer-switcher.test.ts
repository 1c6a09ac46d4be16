import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isKeyframe } from "../../src/media/keyframe.ts"
import { LayerSwitcher, type LayerTarget, type SwitchPacket } from "../../src/media/layer-switcher.ts"
import type { RtpPacket } from "../../src/media/rtp-packet.ts"
import { seqDiff, tsDiff } from "../../src/media/sequence-number.ts"
import { SlotForwarder } from "../../src/media/slot-forwarder.ts"

const p = (ssrc: number, keyframe = false, marker = true, late = false): SwitchPacket => ({
  ssrc,
  keyframe,
  late,
  marker
})

describe("LayerSwitcher", () => {
  it("forwards nothing until a keyframe of the target", () => {
    const switcher = new LayerSwitcher()
    expect(switcher.accept(p(1, true))).toBe(false)
    switcher.setTarget(1)
    expect(switcher.waitingForKeyframe).toBe(true)
    expect(switcher.accept(p(1))).toBe(false)
    expect(switcher.accept(p(2, true))).toBe(false)
    expect(switcher.accept(p(1, true))).toBe(true)
    expect(switcher.startedLayer).toBe(true)
    expect(switcher.accept(p(1))).toBe(true)
    expect(switcher.startedLayer).toBe(false)
    expect(switcher.waitingForKeyframe).toBe(false)
    expect(switcher.switches).toBe(1)
  })

  it("keeps the current layer until the target's keyframe, then drops the old layer", () => {
    const switcher = new LayerSwitcher()
    switcher.setTarget(1)
    switcher.accept(p(1, true))
    switcher.setTarget(2)
    expect(switcher.waitingForKeyframe).toBe(true)
    expect(switcher.accept(p(1))).toBe(true)
    expect(switcher.accept(p(2))).toBe(false)
    expect(switcher.accept(p(2, true))).toBe(true)
    expect(switcher.currentSsrc).toBe(2)
    expect(switcher.accept(p(1))).toBe(false)
    expect(switcher.accept(p(1, false, true, true))).toBe(false)
    expect(switcher.switches).toBe(2)
  })

  it("does not switch on a late keyframe of the target", () => {
    const switcher = new LayerSwitcher()
    switcher.setTarget(1)
    switcher.accept(p(1, true))
    switcher.setTarget(2)
    expect(switcher.accept(p(2, true, true, true))).toBe(false)
    expect(switcher.currentSsrc).toBe(1)
    expect(switcher.accept(p(2, true))).toBe(true)
  })

  it("cancels a pending switch when the target goes back to the current layer", () => {
    const switcher = new LayerSwitcher()
    switcher.setTarget(1)
    switcher.accept(p(1, true))
    switcher.setTarget(2)
    switcher.setTarget(1)
    expect(switcher.waitingForKeyframe).toBe(false)
    expect(switcher.accept(p(2, true))).toBe(false)
    expect(switcher.accept(p(1))).toBe(true)
  })

  it("is not stuck when the current layer stops mid-frame: the target starts at its keyframe", () => {
    const switcher = new LayerSwitcher()
    switcher.setTarget(1)
    switcher.accept(p(1, true, false))
    // layer 1 goes silent without finishing its frame; the caller retargets
    switcher.setTarget(3)
    expect(switcher.accept(p(3, false, true))).toBe(false)
    expect(switcher.waitingForKeyframe).toBe(true)
    expect(switcher.accept(p(3, true, false))).toBe(true)
    expect(switcher.currentSsrc).toBe(3)
  })

  it("pausing finishes the current frame, then forwards nothing; resuming waits for a keyframe", () => {
    const switcher = new LayerSwitcher()
    switcher.setTarget(1)
    switcher.accept(p(1, true, false))
    switcher.setTarget("paused")
    expect(switcher.waitingForKeyframe).toBe(false)
    expect(switcher.accept(p(1, false, false))).toBe(true)
    expect(switcher.accept(p(1, false, true, true))).toBe(true) // a straggler does not end the frame
    expect(switcher.accept(p(1, false, true))).toBe(true)
    expect(switcher.currentSsrc).toBe(undefined)
    expect(switcher.accept(p(1, true))).toBe(false)
    expect(switcher.accept(p(1))).toBe(false)
    switcher.setTarget(1)
    expect(switcher.accept(p(1))).toBe(false)
    expect(switcher.accept(p(1, true))).toBe(true)
    expect(switcher.startedLayer).toBe(true)
    expect(switcher.switches).toBe(2)
  })
})

// ------------------------------------------------------------------ with the slot forwarder

interface LayerStream {
  readonly ssrc: number
  readonly seqStart: number
  readonly tsStart: number
  readonly packetsPerFrame: number
}

interface Scenario {
  readonly layers: LayerStream[]
  readonly frames: number
  /** Per frame time and layer: is it a keyframe. */
  readonly keyframes: boolean[]
  /** Per frame time, packet and layer: lost before it reached the SFU. */
  readonly losses: boolean[]
  /** Retargeting at frame times: index into layers, or -1 for paused. */
  readonly retargets: Array<{ atFrame: number; layer: number }>
  /** Per frame time: the order the layers' frames arrive in. */
  readonly orders: number[][]
}

const FRAME_TICKS = 3000
const FRAME_MS = 33

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    layerCount: fc.integer({ min: 1, max: 3 }),
    frames: fc.integer({ min: 10, max: 150 })
  })
  .chain(({ layerCount, frames }) =>
    fc.record({
      layers: fc
        .uniqueArray(fc.integer({ min: 1, max: 0xffffffff }), {
          minLength: layerCount,
          maxLength: layerCount
        })
        .chain((ssrcs) =>
          fc.tuple(
            ...ssrcs.map((ssrc) =>
              fc.record({
                ssrc: fc.constant(ssrc),
                seqStart: fc.oneof(
                  fc.integer({ min: 0, max: 0xffff }),
                  fc.integer({ min: 0xff00, max: 0xffff })
                ),
                tsStart: fc.oneof(
                  fc.integer({ min: 0, max: 0xffffffff }),
                  fc.integer({ min: 0xfff00000, max: 0xffffffff })
                ),
                packetsPerFrame: fc.integer({ min: 1, max: 4 })
              })
            )
          )
        ),
      frames: fc.constant(frames),
      keyframes: fc.array(
        fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x < 0.12),
        {
          minLength: frames * 3,
          maxLength: frames * 3
        }
      ),
      losses: fc.array(
        fc.double({ min: 0, max: 1, noNaN: true }).map((x) => x < 0.05),
        {
          minLength: frames * 12,
          maxLength: frames * 12
        }
      ),
      retargets: fc.array(
        fc.record({
          atFrame: fc.integer({ min: 0, max: frames - 1 }),
          layer: fc.integer({ min: -1, max: layerCount - 1 })
        }),
        { minLength: 1, maxLength: 12 }
      ),
      orders: fc.array(fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }), {
        minLength: frames,
        maxLength: frames
      })
    })
  )
  .map((s) => ({ ...s, layers: [...s.layers] }))

/** VP8: the first packet of a frame has S set; a keyframe's first packet has the key bit clear. */
const vp8 = (firstOfFrame: boolean, keyframe: boolean): Uint8Array =>
  firstOfFrame
    ? Uint8Array.of(0x10, keyframe ? 0x50 : 0x51, 0x00, 0x9d)
    : Uint8Array.of(0x00, 0x51, 0x00, 0x00)

describe("LayerSwitcher with SlotForwarder", () => {
  it("switches only at keyframes, and the slot's stream stays continuous across switches, losses and wraparound", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const switcher = new LayerSwitcher()
        const forwarder = new SlotForwarder({
          kind: "video",
          initialSequenceNumber: 0xfff0,
          initialTimestamp: 0xffffff00,
          historyPackets: 64
        })
        const retargetAt = new Map<number, number>()
        for (const r of s.retargets) retargetAt.set(r.atFrame, r.layer)
        interface Out {
          seq: number
          ts: number
          ssrc: number
          inSeq: number
          started: boolean
          keyframeStart: boolean
        }
        const out: Out[] = []
        // lost input sequence numbers per SSRC, to tell holes the input had from holes the slot made
        const lost = new Map<number, Set<number>>()
        let pausedAndDone = false
        for (let frame = 0; frame < s.frames; frame++) {
          if (retargetAt.has(frame)) {
            const layer = retargetAt.get(frame)!
            const target: LayerTarget = layer < 0 ? "paused" : s.layers[layer]!.ssrc
            switcher.setTarget(target)
            if (target !== "paused") pausedAndDone = false
          }
          for (const l of s.orders[frame]!) {
            const layer = s.layers[l]
            if (!layer) continue
            const keyframe = s.keyframes[frame * 3 + l]!
            for (let i = 0; i < layer.packetsPerFrame; i++) {
              const seq = (layer.seqStart + frame * layer.packetsPerFrame + i) & 0xffff
              if (s.losses[(frame * 3 + l) * 4 + i]) {
                const set = lost.get(layer.ssrc) ?? new Set<number>()
                set.add(seq)
                lost.set(layer.ssrc, set)
                continue
              }
              const packet: RtpPacket = {
                payloadType: 96,
                sequenceNumber: seq,
                timestamp: (layer.tsStart + frame * FRAME_TICKS) >>> 0,
                ssrc: layer.ssrc,
                marker: i === layer.packetsPerFrame - 1,
                payload: vp8(i === 0, keyframe),
                audioLevel: undefined,
                receivedAtMs: frame * FRAME_MS + l
              }
              const keyframeStart = isKeyframe("VP8", packet.payload)
              const wasWaiting = switcher.waitingForKeyframe
              const target = switcher.targetSsrc
              const accepted = switcher.accept({
                ssrc: packet.ssrc,
                keyframe: keyframeStart,
                late: false,
                marker: packet.marker
              })
              // liveness: a keyframe of the awaited target is always taken
              if (wasWaiting && packet.ssrc === target && keyframeStart) expect(accepted).toBe(true)
              expect(switcher.waitingForKeyframe).toBe(
                typeof switcher.targetSsrc === "number" && switcher.targetSsrc !== switcher.currentSsrc
              )
              if (!accepted) continue
              expect(pausedAndDone).toBe(false)
              if (switcher.startedLayer) forwarder.unbind()
              const result = forwarder.forward(packet, "VP8")
              expect(result._tag).toBe("Send")
              if (result._tag !== "Send") continue
              out.push({
                seq: result.packet.sequenceNumber,
                ts: result.packet.timestamp,
                ssrc: packet.ssrc,
                inSeq: seq,
                started: switcher.startedLayer,
                keyframeStart
              })
              // paused: the frame in flight ends with its marker, and nothing follows
              if (switcher.targetSsrc === "paused" && packet.marker) pausedAndDone = true
            }
          }
        }
        for (let i = 0; i < out.length; i++) {
          const o = out[i]!
          const previous = out[i - 1]
          // every start of a layer is the first packet of one of its keyframes
          if (o.started || previous === undefined || previous.ssrc !== o.ssrc) {
            expect(o.started).toBe(true)
            expect(o.keyframeStart).toBe(true)
          }
          if (!previous) continue
          expect(tsDiff(o.ts, previous.ts)).toBeGreaterThanOrEqual(0)
          if (o.started) {
            expect(seqDiff(o.seq, previous.seq)).toBe(1)
          } else {
            const inputGap = seqDiff(o.inSeq, previous.inSeq)
            expect(seqDiff(o.seq, previous.seq)).toBe(inputGap)
            for (let k = 1; k < inputGap; k++)
              expect(lost.get(o.ssrc)?.has((previous.inSeq + k) & 0xffff)).toBe(true)
          }
        }
        if (out.length > 0) expect(out[0]!.seq).toBe(0xfff0)
      }),
      { seed: 41, numRuns: 300 }
    )
  })
})
