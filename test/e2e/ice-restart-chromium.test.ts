import type { Browser, BrowserContext } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { summarize } from "../support/arrival-log.ts"
import { launchChromium, type PageServer, servePages } from "../support/chromium.ts"
import { RESTARTING_SUBSCRIBER_PAGE, restartingSubscriber } from "../support/chromium-restart-page.ts"
import { LoopStalls } from "../support/loop-stalls.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { SyntheticCamera, waitForConnected, wrtc } from "../support/wrtc-client.ts"
import { restartablePeerConnection } from "../support/wrtc-ice-restart.ts"
import { WrtcSession } from "../support/wrtc-session.ts"

/**
 * A Chromium subscriber restarts ICE again and again while a libwebrtc publisher sends 30
 * frames a second; half the restarts keep Chromium on its old pair (the answer's candidate at
 * the lowest priority), as it sometimes chose to by itself. Each time the page must decode 15
 * frames after Chromium selected a pair of the new generation (or after the answer, when it
 * stays), and its silence must be under a second: the smaller of the video freezes Chromium
 * counts (its own stats) from just before the restart's offer to just before the next one,
 * less the longest time this process's event loop, which runs the server, was frozen then;
 * and the largest silence between decoded frames on the page's clock (the count polled every
 * 20 ms).
 */

const RESUME_MS = 1_000

const poll = async <A>(probe: () => Promise<A | undefined>, timeoutMs: number): Promise<A | undefined> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe("ICE restart with a Chromium subscriber", () => {
  let server: RunningServer
  let pages: PageServer
  let browser: Browser
  beforeAll(async () => {
    ;[server, pages, browser] = await Promise.all([
      startServer(),
      servePages({ "/subscriber.html": RESTARTING_SUBSCRIBER_PAGE }),
      launchChromium()
    ])
  })
  afterAll(async () => {
    await browser?.close()
    await pages?.close()
    await server?.close()
  })

  it("a Chromium subscriber restarts ICE 8 times and its video is back within a second each time", async () => {
    const room = "restart-chromium"
    const camera = new SyntheticCamera(160, 120, 30)
    const publisherPc = restartablePeerConnection()
    let context: BrowserContext | undefined
    const stalls = LoopStalls.start()
    try {
      publisherPc.addTransceiver(camera.track, {
        direction: "sendonly",
        streams: [new wrtc.MediaStream([camera.track])]
      })
      camera.start()
      await WrtcSession.join(publisherPc, server.baseUrl, room)
      await waitForConnected(publisherPc)

      context = await browser.newContext()
      const page = await context.newPage()
      await page.goto(
        `${pages.origin}/subscriber.html?sfu=${encodeURIComponent(server.baseUrl)}&room=${room}`
      )
      const subscriber = restartingSubscriber(page)
      const joined = await poll(async () => {
        const state = await subscriber.state()
        if (state?.error) throw new Error(`subscriber page failed: ${state.error}`)
        return state?.phase === "joined" && state.connectionState === "connected" ? state : undefined
      }, 20_000)
      expect(joined).toBeDefined()
      const started = await subscriber.now()
      expect(
        await poll(async () => ((await subscriber.framesSince(started)) >= 30 ? true : undefined), 15_000)
      ).toBe(true)

      const gaps: number[] = []
      const frozen: number[] = []
      const loopFrozen: number[] = []
      const moves: string[] = []
      const resumed: boolean[] = []
      let freezes = await subscriber.freezes()
      let windowStart = performance.now()
      for (let i = 0; i < 8; i++) {
        const stay = i % 4 >= 2
        const known = new Set((await subscriber.pairs()).known)
        const { from, answeredAt } = await subscriber.restartIce(stay)
        const moved = await poll(
          async () => {
            const { selected } = await subscriber.pairs()
            return selected !== undefined && !known.has(selected) ? true : undefined
          },
          stay ? 500 : 3_000
        )
        const settledAt = moved ? await subscriber.now() : answeredAt
        const back = await poll(
          async () => ((await subscriber.framesSince(settledAt)) >= 15 ? true : undefined),
          5_000
        )
        resumed.push(back === true)
        gaps.push(await subscriber.largestGap(from, await subscriber.now()))
        const now = await subscriber.freezes()
        frozen.push(now - freezes)
        freezes = now
        loopFrozen.push(stalls.longestWithin(windowStart, performance.now()))
        windowStart = performance.now()
        moves.push(moved ? "m" : "s")
      }
      const silence = frozen.map((ms, i) => Math.min(Math.max(0, ms - loopFrozen[i]!), gaps[i]!))
      console.log(
        `Chromium subscriber: silence per restart ${summarize(silence)}; freezes ${summarize(frozen)}; ` +
          `longest loop stall ${summarize(loopFrozen)}; largest gap on the page ${summarize(gaps)}; ` +
          `new pair selected (m) or not (s): ${moves.join("")}`
      )
      expect(resumed).not.toContain(false)
      expect(Math.max(...silence)).toBeLessThan(RESUME_MS)
    } finally {
      stalls.stop()
      await context?.close()
      camera.stop()
      publisherPc.close()
    }
  }, 90_000)
})
