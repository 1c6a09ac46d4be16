import type { Page } from "playwright-core"

/**
 * A Chromium subscriber page that restarts ICE when told to: it joins `?room=` on the SFU at
 * `?sfu=` with one video slot, notes when its decoded-frame count grows (every 20 ms, on the
 * page's clock), reads the video freezes Chromium counts (`window.freezes`, in ms), and
 * exposes `window.restartIce` (new credentials, PATCH with the ETag, the
 * answer applied, optionally with the server's candidate at the lowest priority so Chromium
 * stays on its old pair).
 */
export const RESTARTING_SUBSCRIBER_PAGE = `<!doctype html>
<html>
<head><meta charset="utf-8"><title>Prism restarting subscriber</title></head>
<body>
<video id="remote" autoplay muted playsinline width="320" height="240"></video>
<script type="module">
const params = new URLSearchParams(location.search)
const sfu = params.get("sfu")
const room = params.get("room")
const state = (window.state = { phase: "starting", error: null, connectionState: "new" })
const gathered = (pc, timeoutMs) => new Promise((resolve) => {
  if (pc.iceGatheringState === "complete") return resolve()
  const timer = setTimeout(resolve, timeoutMs)
  pc.addEventListener("icegatheringstatechange", () => {
    if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve() }
  })
})
try {
  const pc = (window.pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" }))
  pc.addEventListener("connectionstatechange", () => { state.connectionState = pc.connectionState })
  const video = document.getElementById("remote")
  pc.addEventListener("track", (event) => {
    video.srcObject = new MediaStream([event.track])
    video.play().catch(() => undefined)
  })
  pc.addTransceiver("video", { direction: "recvonly" })
  await pc.setLocalDescription()
  await gathered(pc, 2000)
  const response = await fetch(sfu + "/api/v1/rooms/" + room + "/participants", {
    method: "POST",
    headers: { "content-type": "application/sdp" },
    body: pc.localDescription.sdp
  })
  const answer = await response.text()
  if (response.status !== 201) throw new Error("join failed: " + response.status + " " + answer)
  const session = { location: response.headers.get("location"), etag: response.headers.get("etag") }
  await pc.setRemoteDescription({ type: "answer", sdp: answer })

  const decodeTimes = []
  let decoded = 0
  setInterval(async () => {
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== "inbound-rtp" || s.kind !== "video") continue
      if (s.framesDecoded > decoded) decodeTimes.push(performance.now())
      decoded = s.framesDecoded
    }
  }, 20)
  window.now = () => performance.now()
  window.framesSince = (from) => decodeTimes.filter((t) => t >= from).length
  window.largestGap = (from, to) => {
    let previous = from
    let largest = 0
    for (const t of decodeTimes) {
      if (t < from || t > to) continue
      largest = Math.max(largest, t - previous)
      previous = t
    }
    return Math.max(largest, to - previous)
  }
  window.freezes = async () => {
    let durationMs = 0
    for (const s of (await pc.getStats()).values()) {
      if (s.type !== "inbound-rtp" || s.kind !== "video") continue
      durationMs += ((s.totalFreezesDuration ?? 0) + (s.totalPausesDuration ?? 0)) * 1000
    }
    return durationMs
  }
  window.pairs = async () => {
    let selected
    const known = []
    for (const s of (await pc.getStats()).values()) {
      if (s.type === "transport") selected = s.selectedCandidatePairId
      if (s.type === "candidate-pair") known.push(s.id)
    }
    return { selected, known }
  }
  window.restartIce = async (lowest) => {
    const from = performance.now()
    pc.restartIce()
    await pc.setLocalDescription()
    await gathered(pc, 2000)
    const response = await fetch(sfu + session.location, {
      method: "PATCH",
      headers: { "content-type": "application/sdp", "if-match": session.etag },
      body: pc.localDescription.sdp
    })
    const answer = await response.text()
    if (response.status !== 200) throw new Error("ICE restart refused: " + response.status + " " + answer)
    session.etag = response.headers.get("etag")
    const sdp = lowest ? answer.replace(/^(a=candidate:\\S+ \\d+ udp )\\d+ /gm, (_, head) => head + "1 ") : answer
    await pc.setRemoteDescription({ type: "answer", sdp })
    return { from, answeredAt: performance.now() }
  }
  state.phase = "joined"
} catch (error) {
  state.error = String(error && error.stack ? error.stack : error)
}
</script>
</body>
</html>`

/** What the page puts on `window` (this project compiles without the DOM lib). */
interface PageGlobals {
  readonly state: { readonly phase: string; readonly error: string | null; readonly connectionState: string }
  readonly now: () => number
  readonly framesSince: (from: number) => number
  readonly largestGap: (from: number, to: number) => number
  readonly freezes: () => Promise<number>
  readonly pairs: () => Promise<{
    readonly selected: string | undefined
    readonly known: ReadonlyArray<string>
  }>
  readonly restartIce: (lowest: boolean) => Promise<{ readonly from: number; readonly answeredAt: number }>
}

/** The page's API, from the test's side; times are the page's `performance.now()`. */
export const restartingSubscriber = (page: Page) => ({
  state: () => page.evaluate(() => (globalThis as unknown as Partial<PageGlobals>).state ?? null),
  now: () => page.evaluate(() => (globalThis as unknown as PageGlobals).now()),
  framesSince: (from: number) =>
    page.evaluate((f) => (globalThis as unknown as PageGlobals).framesSince(f), from),
  largestGap: (from: number, to: number) =>
    page.evaluate(([f, t]) => (globalThis as unknown as PageGlobals).largestGap(f, t), [from, to] as const),
  freezes: () => page.evaluate(() => (globalThis as unknown as PageGlobals).freezes()),
  pairs: () => page.evaluate(() => (globalThis as unknown as PageGlobals).pairs()),
  restartIce: (lowest: boolean) =>
    page.evaluate((l) => (globalThis as unknown as PageGlobals).restartIce(l), lowest)
})
