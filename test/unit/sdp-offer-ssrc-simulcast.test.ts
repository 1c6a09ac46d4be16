import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type OfferedMedia, readOffer } from "../../src/transport/sdp-offer.ts"
import { MAX_SECTION_GROUPS, MAX_SECTION_SSRCS } from "../../src/transport/sdp-ssrc-simulcast.ts"

const session = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1"]

const audioSection = (extra: ReadonlyArray<string> = []) => [
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:0",
  "a=sendonly",
  "a=rtpmap:111 opus/48000/2",
  ...extra
]

const videoSection = (extra: ReadonlyArray<string>) => [
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
  "a=mid:1",
  "a=sendonly",
  "a=rtpmap:96 VP8/90000",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  ...extra
]

const offerWith = (video: ReadonlyArray<string>, audio: ReadonlyArray<string> = []) =>
  [...session, ...audioSection(audio), ...videoSection(video)].join("\r\n")

const videoOf = (sdp: string): OfferedMedia => {
  const checked = readOffer(sdp)
  if (!checked.ok) throw new Error(checked.reason)
  return checked.summary.media.find((m) => m.kind === "video")!
}

const ssrcLines = (ssrc: number) => [`a=ssrc:${ssrc} cname:publisher`, `a=ssrc:${ssrc} msid:stream track`]

/** What a Jitsi-style munged Chrome offer carries: SIM low→high, one FID pair per layer. */
const jitsiStyle = [
  "a=ssrc-group:FID 1001 2001",
  "a=ssrc-group:FID 1002 2002",
  "a=ssrc-group:FID 1003 2003",
  "a=ssrc-group:SIM 1001 1002 1003",
  ...[1001, 2001, 1002, 2002, 1003, 2003].flatMap(ssrcLines)
]

describe("reading simulcast signalled by a=ssrc-group:SIM", () => {
  it("reads the layers in the SIM group's order, each with the RTX SSRC of its FID pair", () => {
    expect(videoOf(offerWith(jitsiStyle)).ssrcLayers).toEqual([
      { ssrc: 1001, rtxSsrc: 2001 },
      { ssrc: 1002, rtxSsrc: 2002 },
      { ssrc: 1003, rtxSsrc: 2003 }
    ])
  })

  it("takes the declared order, not the numeric or line order, and works without RTX", () => {
    const media = videoOf(offerWith(["a=ssrc-group:SIM 30 10 20", ...[10, 20, 30].flatMap(ssrcLines)]))
    expect(media.ssrcLayers).toEqual([
      { ssrc: 30, rtxSsrc: undefined },
      { ssrc: 10, rtxSsrc: undefined },
      { ssrc: 20, rtxSsrc: undefined }
    ])
  })

  it("leaves plain m-lines, rid simulcast and audio without SSRC layers", () => {
    const plain = videoOf(offerWith(["a=ssrc-group:FID 5 6", ...ssrcLines(5), ...ssrcLines(6)]))
    expect(plain.ssrcLayers).toEqual([])
    const rids = videoOf(offerWith(["a=rid:q send", "a=rid:f send", "a=simulcast:send q;f", ...jitsiStyle]))
    expect(rids.sendRids).toEqual(["q", "f"])
    expect(rids.ssrcLayers).toEqual([])
    const checked = readOffer(offerWith([], ["a=ssrc-group:SIM 7 8", ...ssrcLines(7), ...ssrcLines(8)]))
    expect(checked.ok && checked.summary.media[0]!.ssrcLayers).toEqual([])
  })

  it.each([
    ["a non-numeric SSRC", ["a=ssrc-group:SIM 10 x20", ...[10, 20].flatMap(ssrcLines)]],
    ["SSRC 0", ["a=ssrc-group:SIM 0 20", ...[0, 20].flatMap(ssrcLines)]],
    ["an SSRC above 32 bits", ["a=ssrc-group:SIM 4294967296 20", ...[4294967296, 20].flatMap(ssrcLines)]],
    ["a negative SSRC", ["a=ssrc-group:SIM -5 20", ...ssrcLines(20)]],
    ["a repeated SSRC", ["a=ssrc-group:SIM 10 10 20", ...[10, 20].flatMap(ssrcLines)]],
    ["one layer", ["a=ssrc-group:SIM 10", ...ssrcLines(10)]],
    ["five layers", ["a=ssrc-group:SIM 1 2 3 4 5", ...[1, 2, 3, 4, 5].flatMap(ssrcLines)]],
    ["an SSRC no a=ssrc line declares", ["a=ssrc-group:SIM 10 20 30", ...[10, 20].flatMap(ssrcLines)]],
    [
      "two SIM groups",
      ["a=ssrc-group:SIM 10 20", "a=ssrc-group:SIM 30 40", ...[10, 20, 30, 40].flatMap(ssrcLines)]
    ],
    ["an empty group", ["a=ssrc-group:", "a=ssrc-group:SIM", ...ssrcLines(10)]],
    ["an overlong group", [`a=ssrc-group:SIM 10 20${" ".repeat(300)}`, ...[10, 20].flatMap(ssrcLines)]]
  ])("ignores a SIM group with %s", (_, lines) => {
    expect(videoOf(offerWith(lines)).ssrcLayers).toEqual([])
  })

  it("pairs RTX only when the FID groups are unambiguous", () => {
    const media = videoOf(
      offerWith([
        "a=ssrc-group:SIM 10 20 30",
        // 10 is paired twice: neither pair counts
        "a=ssrc-group:FID 10 11",
        "a=ssrc-group:FID 10 12",
        // RTX may not be another layer
        "a=ssrc-group:FID 20 30",
        // three SSRCs is no FID pair
        "a=ssrc-group:FID 30 31 32",
        ...[10, 11, 12, 20, 30, 31, 32].flatMap(ssrcLines)
      ])
    )
    expect(media.ssrcLayers).toEqual([
      { ssrc: 10, rtxSsrc: undefined },
      { ssrc: 20, rtxSsrc: undefined },
      { ssrc: 30, rtxSsrc: undefined }
    ])
    const undeclared = videoOf(
      offerWith(["a=ssrc-group:SIM 10 20", "a=ssrc-group:FID 10 11", ...[10, 20].flatMap(ssrcLines)])
    )
    expect(undeclared.ssrcLayers[0]).toEqual({ ssrc: 10, rtxSsrc: undefined })
  })

  it("ignores the groups of an m-line that declares too many SSRCs or groups", () => {
    const manySsrcs = Array.from({ length: MAX_SECTION_SSRCS + 1 }, (_, i) => 100 + i).flatMap(ssrcLines)
    expect(videoOf(offerWith([...jitsiStyle, ...manySsrcs])).ssrcLayers).toEqual([])
    const manyGroups = Array.from({ length: MAX_SECTION_GROUPS }, (_, i) => `a=ssrc-group:FEC-FR ${i + 1}`)
    expect(videoOf(offerWith([...jitsiStyle, ...manyGroups])).ssrcLayers).toEqual([])
  })

  const ssrc = fc.integer({ min: 1, max: 0xffffffff })
  const wellFormed = fc.uniqueArray(ssrc, { minLength: 4, maxLength: 8 }).chain((ssrcs) =>
    fc.record({
      layers: fc.constant(ssrcs.slice(0, Math.min(4, Math.max(2, ssrcs.length - 4)))),
      rest: fc.constant(ssrcs.slice(Math.min(4, Math.max(2, ssrcs.length - 4)))),
      withRtx: fc.boolean(),
      order: fc.array(fc.nat(), { minLength: 16, maxLength: 16 })
    })
  )

  it("reads any well-formed SIM group, with or without RTX, whatever the order of the lines", () => {
    fc.assert(
      fc.property(wellFormed, ({ layers, rest, withRtx, order }) => {
        const rtx = layers.map((_, i) => (withRtx ? rest[i] : undefined))
        const lines = [
          `a=ssrc-group:SIM ${layers.join(" ")}`,
          ...layers.flatMap((s, i) => (rtx[i] === undefined ? [] : [`a=ssrc-group:FID ${s} ${rtx[i]}`])),
          ...[...layers, ...rtx.filter((r) => r !== undefined)].map((s) => `a=ssrc:${s} cname:x`)
        ]
        const shuffled = lines
          .map((line, i) => ({ line, key: order[i % order.length]! + i / 100 }))
          .sort((a, b) => a.key - b.key)
          .map((e) => e.line)
        expect(videoOf(offerWith(shuffled)).ssrcLayers).toEqual(
          layers.map((s, i) => ({ ssrc: s, rtxSsrc: rtx[i] }))
        )
      })
    )
  })

  const token = fc.oneof(
    // small numbers, so that groups and a=ssrc lines often name the same SSRCs
    fc.integer({ min: 0, max: 6 }).map(String),
    fc.integer({ min: -2, max: 0x1_0000_0001 }).map(String),
    fc.constantFrom("SIM", "FID", "", " ", "x", "99999999999", "1e3", "0x10", "01"),
    fc.string({ maxLength: 12 })
  )
  const hostileLine = fc.oneof(
    fc.array(token, { maxLength: 8 }).map((t) => `a=ssrc-group:${t.join(" ")}`),
    fc.tuple(token, fc.string({ maxLength: 20 })).map(([s, rest]) => `a=ssrc:${s} ${rest}`),
    fc.array(token, { maxLength: 6 }).map((t) => `a=ssrc-group:SIM ${t.join(" ")}`),
    fc.array(token, { maxLength: 3 }).map((t) => `a=ssrc-group:FID ${t.join(" ")}`)
  )

  it("never throws on hostile SSRC lines, and what it reads is always a consistent set of layers", () => {
    let found = 0
    fc.assert(
      // a valid offer's lines, some dropped, mixed with hostile ones
      fc.property(
        fc.subarray(jitsiStyle),
        fc.array(hostileLine, { maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        (kept, hostile, order) => {
          const clean = [...kept, ...hostile]
            .map((l) => l.replace(/[\r\n]/g, ""))
            .map((line, i) => ({ line, key: order[i % order.length]! + i / 1000 }))
            .sort((a, b) => a.key - b.key)
            .map((e) => e.line)
          const checked = readOffer(offerWith(clean))
          if (!checked.ok) return
          const layers = checked.summary.media.find((m) => m.kind === "video")!.ssrcLayers
          expect(layers.length === 0 || (layers.length >= 2 && layers.length <= 4)).toBe(true)
          const mediaSsrcs = layers.map((l) => l.ssrc)
          const rtxSsrcs = layers.flatMap((l) => (l.rtxSsrc === undefined ? [] : [l.rtxSsrc]))
          const all = [...mediaSsrcs, ...rtxSsrcs]
          expect(new Set(all).size).toBe(all.length)
          const declared = clean
            .filter((l) => l.startsWith("a=ssrc:"))
            .map((l) => Number(l.slice(7).split(" ")[0]))
          for (const s of all) {
            expect(s >= 1 && s <= 0xffffffff).toBe(true)
            expect(declared).toContain(s)
          }
          if (layers.length > 0) found++
        }
      ),
      { numRuns: 500 }
    )
    // the generator does reach the accepting path, so the checks above are not vacuous
    expect(found).toBeGreaterThan(0)
  })
})
