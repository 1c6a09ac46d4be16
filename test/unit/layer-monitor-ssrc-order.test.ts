import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { LayerMonitor } from "../../src/media/layer-monitor.ts"

/** A VP8 delta frame's first packet: it announces no picture size. */
const delta = new Uint8Array([0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])

const distinctSsrcs = fc.uniqueArray(fc.integer({ min: 1, max: 0xffffffff }), { minLength: 2, maxLength: 4 })

describe("layer order of simulcast signalled by an SSRC group", () => {
  it("without sizes or a second of bitrate, follows the SIM group's order, whatever order the layers appear in", () => {
    fc.assert(
      fc.property(
        distinctSsrcs.chain((declared) =>
          fc.tuple(fc.constant(declared), fc.shuffledSubarray(declared, { minLength: declared.length }))
        ),
        ([declared, arrival]) => {
          const monitor = new LayerMonitor([], declared)
          for (const [i, ssrc] of arrival.entries()) {
            monitor.onPacket(
              { ssrc, rid: undefined, timestamp: 1000 * i, payload: delta },
              "VP8",
              false,
              10 * i
            )
          }
          expect(monitor.layers(100).map((l) => l.ssrc)).toEqual(declared)
        }
      )
    )
  })

  it("puts SSRCs the group does not name after the declared ones, in the order they appeared", () => {
    const monitor = new LayerMonitor([], [30, 10])
    for (const [i, ssrc] of [99, 10, 77, 30].entries()) {
      monitor.onPacket({ ssrc, rid: undefined, timestamp: 0, payload: delta }, "VP8", false, i)
    }
    expect(monitor.layers(10).map((l) => l.ssrc)).toEqual([30, 10, 99, 77])
  })
})
