import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { bundleGroupMids, bundleOnlySections } from "../../src/transport/sdp-bundle-only.ts"
import { type OfferedMedia, readOffer } from "../../src/transport/sdp-offer.ts"
import { DISCARD_PORT, withBundleOnlyPortsOpened } from "../../src/transport/werift/bundle-only-ports.ts"

const session = (...groups: ReadonlyArray<string>) => [
  "v=0",
  "o=- 1 0 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  ...groups.map((group) => `a=group:${group}`)
]

interface SectionSpec {
  readonly kind: "audio" | "video"
  readonly port: number
  readonly mid: string
  readonly bundleOnly?: boolean
}

const section = ({ kind, port, mid, bundleOnly }: SectionSpec) => [
  `m=${kind} ${port} UDP/TLS/RTP/SAVPF ${kind === "audio" ? 111 : 96}`,
  "c=IN IP4 0.0.0.0",
  ...(bundleOnly ? ["a=bundle-only"] : []),
  "a=sendonly",
  kind === "audio" ? "a=rtpmap:111 OPUS/48000/2" : "a=rtpmap:96 VP8/90000",
  `a=mid:${mid}`
]

const offer = (groups: ReadonlyArray<string>, sections: ReadonlyArray<SectionSpec>) =>
  `${[...session(...groups), ...sections.flatMap(section)].join("\r\n")}\r\n`

const mediaOf = (sdp: string): ReadonlyArray<OfferedMedia> => {
  const checked = readOffer(sdp)
  if (!checked.ok) throw new Error(checked.reason)
  return checked.summary.media
}

const flags = (media: ReadonlyArray<OfferedMedia>) =>
  media.map((m) => ({ mid: m.mid, rejected: m.rejected, bundleOnly: m.bundleOnly }))

/** What GStreamer's webrtcbin offers under max-bundle: the second section bundle-only. */
const webrtcbinOffer = offer(
  ["BUNDLE video0 audio1"],
  [
    { kind: "video", port: 9, mid: "video0" },
    { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
  ]
)

describe("reading bundle-only m-lines (RFC 8843)", () => {
  it("accepts a bundle-only section of a BUNDLE group as the media it describes", () => {
    expect(flags(mediaOf(webrtcbinOffer))).toEqual([
      { mid: "video0", rejected: false, bundleOnly: false },
      { mid: "audio1", rejected: false, bundleOnly: true }
    ])
  })

  it("accepts every bundle-only section after the tagged one, in any group order, next to other groups", () => {
    const media = mediaOf(
      offer(
        ["LS a v", "BUNDLE v a d", "BUNDLE x y"],
        [
          { kind: "audio", port: 0, mid: "a", bundleOnly: true },
          { kind: "video", port: 9, mid: "v" },
          { kind: "video", port: 0, mid: "d", bundleOnly: true },
          { kind: "audio", port: 9, mid: "x" },
          { kind: "audio", port: 0, mid: "y", bundleOnly: true }
        ]
      )
    )
    expect(media.map((m) => m.bundleOnly)).toEqual([true, false, true, false, true])
    expect(media.every((m) => !m.rejected)).toBe(true)
  })

  it.each([
    [
      "port 0 without a=bundle-only (the offerer disables it)",
      ["BUNDLE video0 audio1"],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1" }
      ]
    ],
    [
      "a=bundle-only without any group",
      [],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
      ]
    ],
    [
      "a=bundle-only outside the BUNDLE group",
      ["BUNDLE video0"],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
      ]
    ],
    [
      "a=bundle-only in a group of other semantics",
      ["LS video0 audio1"],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
      ]
    ],
    [
      "a group whose tagged section is rejected",
      ["BUNDLE video0 audio1"],
      [
        { kind: "video", port: 0, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true },
        { kind: "video", port: 9, mid: "video2" }
      ]
    ],
    [
      "a group whose tag names no section",
      ["BUNDLE gone audio1"],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
      ]
    ]
  ] satisfies Array<[string, string[], SectionSpec[]]>)("keeps rejecting %s", (_, groups, sections) => {
    const media = mediaOf(offer(groups, sections))
    expect(media[1]).toMatchObject({ rejected: true, bundleOnly: false })
  })

  it("reads a bundle-only tagged section (RFC 8843 §7.2.1 forbids it) as rejected, with its group's other bundle-only sections", () => {
    const media = mediaOf(
      offer(
        ["BUNDLE audio0 video1 audio2"],
        [
          { kind: "audio", port: 0, mid: "audio0", bundleOnly: true },
          { kind: "video", port: 9, mid: "video1" },
          { kind: "audio", port: 0, mid: "audio2", bundleOnly: true }
        ]
      )
    )
    expect(media.map((m) => m.rejected)).toEqual([true, false, true])
    expect(media.some((m) => m.bundleOnly)).toBe(false)
  })

  it("takes BUNDLE groups from the session only, not from inside an m-section", () => {
    const sdp = offer(
      [],
      [
        { kind: "video", port: 9, mid: "video0" },
        { kind: "audio", port: 0, mid: "audio1", bundleOnly: true }
      ]
    ).replace("a=mid:video0", "a=mid:video0\r\na=group:BUNDLE video0 audio1")
    expect(mediaOf(sdp)[1]).toMatchObject({ rejected: true, bundleOnly: false })
  })

  it("refuses an offer whose only media is bundle-only without a group to join", () => {
    const checked = readOffer(offer([], [{ kind: "audio", port: 0, mid: "a", bundleOnly: true }]))
    expect(checked).toEqual({ ok: false, reason: "the offer has no active audio or video m-line" })
  })

  it("reads BUNDLE group values, and nothing else, as lists of mids", () => {
    expect(bundleGroupMids("BUNDLE video0 audio1")).toEqual(["video0", "audio1"])
    expect(bundleGroupMids("  BUNDLE   0\t1 ")).toEqual(["0", "1"])
    expect(bundleGroupMids("BUNDLE")).toEqual([])
    expect(bundleGroupMids("LS 0 1")).toBeUndefined()
    expect(bundleGroupMids("bundle 0 1")).toBeUndefined()
    expect(bundleGroupMids("")).toBeUndefined()
  })

  it("places a mid in the first group that names it, whose tag must be its own", () => {
    const sections = [
      { port: 9, mid: "a", hasBundleOnly: false },
      { port: 0, mid: "b", hasBundleOnly: true },
      { port: 0, mid: "c", hasBundleOnly: true }
    ]
    // b belongs to the first group (tag a); c's group is tagged by a, which belongs elsewhere.
    expect(bundleOnlySections(sections, [["a", "b"], ["b"], ["a", "c"]])).toEqual([false, true, false])
  })

  const mid = fc.constantFrom("0", "1", "2", "a", "v", "x", "")
  const hostileSection = fc.record({
    port: fc.constantFrom(0, 9, 1),
    mid: fc.option(mid, { nil: undefined }),
    hasBundleOnly: fc.boolean()
  })
  const hostileGroups = fc.array(fc.array(mid, { maxLength: 5 }), { maxLength: 4 })

  it("accepts a section as bundle-only exactly when RFC 8843 makes it one", () => {
    let found = 0
    fc.assert(
      fc.property(fc.array(hostileSection, { maxLength: 6 }), hostileGroups, (sections, groups) => {
        const accepted = bundleOnlySections(sections, groups)
        expect(accepted).toHaveLength(sections.length)
        for (const [index, { port, mid, hasBundleOnly }] of sections.entries()) {
          const group = mid === undefined ? undefined : groups.find((g) => g.includes(mid))
          const tag = group?.[0]
          const joinable =
            tag !== undefined &&
            tag !== mid &&
            groups.find((g) => g.includes(tag)) === group &&
            (sections.find((s) => s.mid === tag)?.port ?? 0) !== 0
          expect(accepted[index]).toBe(port === 0 && hasBundleOnly && joinable)
          if (accepted[index]) found++
        }
      }),
      { numRuns: 500 }
    )
    expect(found).toBeGreaterThan(0)
  })
})

describe("handing werift a bundle-only offer", () => {
  it("gives each bundle-only m-line the discard port and changes nothing else", () => {
    const opened = withBundleOnlyPortsOpened(webrtcbinOffer, mediaOf(webrtcbinOffer))
    expect(opened).toBe(webrtcbinOffer.replace("m=audio 0 ", `m=audio ${DISCARD_PORT} `))
    expect(flags(mediaOf(opened))).toEqual([
      { mid: "video0", rejected: false, bundleOnly: false },
      { mid: "audio1", rejected: false, bundleOnly: false }
    ])
  })

  it("leaves an offer without bundle-only m-lines as it is, rejected m-lines included", () => {
    const sdp = offer(
      ["BUNDLE 0 1"],
      [
        { kind: "video", port: 9, mid: "0" },
        { kind: "audio", port: 0, mid: "1" }
      ]
    )
    expect(withBundleOnlyPortsOpened(sdp, mediaOf(sdp))).toBe(sdp)
  })

  it("keeps the offer's line breaks, whichever they are", () => {
    const lf = webrtcbinOffer.replaceAll("\r\n", "\n")
    expect(withBundleOnlyPortsOpened(lf, mediaOf(lf))).toBe(lf.replace("m=audio 0 ", "m=audio 9 "))
    const mixed = webrtcbinOffer.replace("a=mid:video0\r\n", "a=mid:video0\n")
    expect(withBundleOnlyPortsOpened(mixed, mediaOf(mixed))).toBe(mixed.replace("m=audio 0 ", "m=audio 9 "))
  })

  const spec = fc.record({
    kind: fc.constantFrom("audio" as const, "video" as const),
    port: fc.constantFrom(0, 9),
    bundleOnly: fc.boolean(),
    grouped: fc.boolean()
  })

  it("opens exactly the m-lines the reader accepted as bundle-only, whatever the offer", () => {
    let opened = 0
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 8 }), fc.boolean(), (specs, crlf) => {
        const sections = specs.map((s, i) => ({ ...s, mid: `m${i}` }))
        const group = sections.filter((s) => s.grouped).map((s) => s.mid)
        const sdp = offer(group.length > 0 ? [`BUNDLE ${group.join(" ")}`] : [], sections)
        const text = crlf ? sdp : sdp.replaceAll("\r\n", "\n")
        const checked = readOffer(text)
        if (!checked.ok) return
        const before = checked.summary.media
        const rewritten = withBundleOnlyPortsOpened(text, before)
        const inputLines = text.split(/\r?\n/)
        const outputLines = rewritten.split(/\r?\n/)
        expect(outputLines).toHaveLength(inputLines.length)
        expect(rewritten.match(/\r?\n/g)).toEqual(text.match(/\r?\n/g))
        let index = -1
        for (const [i, line] of inputLines.entries()) {
          if (line.startsWith("m=")) index++
          const changes = line.startsWith("m=") && before[index]!.bundleOnly
          expect(outputLines[i]).toBe(changes ? line.replace(/^(m=\w+) 0 /, "$1 9 ") : line)
        }
        // To werift, the bundle-only m-lines now read as ordinary active ones; the rest as before.
        const after = mediaOf(rewritten)
        for (const [i, m] of before.entries()) {
          expect(after[i]!.rejected).toBe(m.rejected)
          expect(after[i]!.bundleOnly).toBe(false)
          if (m.bundleOnly) opened++
        }
      }),
      { numRuns: 300 }
    )
    expect(opened).toBeGreaterThan(0)
  })
})
