import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { artifactPath, launchChromium } from "../support/chromium.ts"
import { type DemoPage, openDemoPage, pollUntil } from "../support/demo-page.ts"
import { writeSpeechLikeWav } from "../support/fake-audio.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"

/**
 * The demo page at `/`, driven as a person would: headless Chromium pages (fake camera and
 * microphone; the microphone plays synthetic speech) join one room through the form, and the
 * test reads what the page shows.
 */
describe("demo page", () => {
  const room = `demo-${Date.now().toString(36)}`
  let server: RunningServer
  let browser: Browser
  let origin: string
  let alice: DemoPage
  let bob: DemoPage
  const contexts: Array<BrowserContext> = []

  const open = async (name: string) => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 720 } })
    contexts.push(context)
    return openDemoPage(context, origin, room, name)
  }

  const screenshot = async (page: Page, name: string) => {
    await page.screenshot({ path: await artifactPath(`demo-${name}.png`) })
  }

  beforeAll(async () => {
    const speech = await writeSpeechLikeWav()
    ;[server, browser] = await Promise.all([
      startServer(),
      launchChromium({ args: [`--use-file-for-fake-audio-capture=${speech}`] })
    ])
    // http://localhost is a secure context (getUserMedia needs one) and the page's own origin.
    origin = server.baseUrl.replace("127.0.0.1", "localhost")
  })

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined)
    await browser?.close()
    await server?.close()
  })

  it("two pages join and each plays the other's video, named, with a layer and bitrate overlay", async () => {
    ;[alice, bob] = await Promise.all([open("Alice"), open("Bob")])
    for (const [viewer, other] of [
      [alice, "Bob"],
      [bob, "Alice"]
    ] as const) {
      const tile = await viewer.remoteTileNamed(other, 20_000)
      // The tile is named as soon as the binding arrives; its first frame follows the keyframe.
      const first = await pollUntil(
        async () => {
          const video = await viewer.video(tile)
          return video.width > 0 ? video : undefined
        },
        10_000,
        `${other}'s first frame on ${viewer.name}'s page`
      )
      expect(first.width).toBeGreaterThan(0)
      const later = await pollUntil(
        async () => {
          const now = await viewer.video(tile)
          return now.currentTime > first.currentTime + 0.5 ? now : undefined
        },
        5_000,
        `${other}'s video on ${viewer.name}'s page to advance`
      )
      expect(later.height).toBeGreaterThan(0)
      const overlay = await pollUntil(
        async () => {
          const text = await viewer.tileStats(tile)
          return /\d+×\d+ · \d+(\.\d)? (k|M)bit\/s/.test(text) ? text : undefined
        },
        5_000,
        "the layer/bitrate overlay"
      )
      // The layer the server forwards from a simulcast publisher is one of its rids.
      expect(overlay).toMatch(/^[qhf] · /)
    }
    // The signaling API is still where it was.
    const view = (await (await fetch(`${server.baseUrl}/api/v1/rooms/${room}`)).json()) as {
      participants: Array<unknown>
    }
    expect(view.participants).toHaveLength(2)
    await screenshot(alice.page, "alice-and-bob")
  }, 60_000)

  it("the speaker highlight follows the page whose microphone is live", async () => {
    await bob.toggleMute() // Bob sends silence, Alice her fake microphone
    await alice.expectSpeaking("Bob", false)
    await bob.expectSpeaking("Alice", true)
    await screenshot(bob.page, "alice-speaking")

    await alice.toggleMute()
    await bob.toggleMute() // now the other way round
    await bob.expectSpeaking("Alice", false)
    await alice.expectSpeaking("Bob", true)
    await screenshot(alice.page, "bob-speaking")
    await alice.toggleMute()
  }, 45_000)

  it("chat messages reach the other page once and are not echoed", async () => {
    await alice.sendChat("hello from Alice")
    await bob.sendChat("hi Alice, Bob here")
    for (const page of [alice, bob]) {
      await pollUntil(async () => ((await page.chatLines()).length >= 2 ? true : undefined), 5_000, "chat")
    }
    expect(await alice.chatLines()).toEqual([
      { from: "You", text: "hello from Alice", mine: true },
      { from: "Bob", text: "hi Alice, Bob here", mine: false }
    ])
    expect(await bob.chatLines()).toEqual([
      { from: "Alice", text: "hello from Alice", mine: false },
      { from: "You", text: "hi Alice, Bob here", mine: true }
    ])
    // Nothing else arrives later (an echo would).
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await alice.chatLines()).toHaveLength(2)
    expect(await bob.chatLines()).toHaveLength(2)
    await screenshot(bob.page, "chat")
  }, 30_000)

  it("a third participant joining and leaving updates both rosters", async () => {
    const expectRoster = async (page: DemoPage, names: ReadonlyArray<string>) =>
      pollUntil(
        async () => {
          const now = await page.rosterNames()
          return JSON.stringify([...now].sort()) === JSON.stringify([...names].sort()) ? now : undefined
        },
        10_000,
        `${page.name}'s roster to be ${names.join(", ")}`
      )
    await expectRoster(alice, ["Alice", "Bob"])
    await expectRoster(bob, ["Alice", "Bob"])
    const carol = await open("Carol")
    await expectRoster(alice, ["Alice", "Bob", "Carol"])
    await expectRoster(bob, ["Alice", "Bob", "Carol"])
    await expectRoster(carol, ["Alice", "Bob", "Carol"])
    await alice.remoteTileNamed("Carol", 15_000)
    await screenshot(alice.page, "three")
    await carol.leave()
    await expectRoster(alice, ["Alice", "Bob"])
    await expectRoster(bob, ["Alice", "Bob"])
    expect(await alice.page.locator(".tile:not([hidden]) .tile-name", { hasText: "Carol" }).count()).toBe(0)
  }, 45_000)

  /**
   * Runs `script` in a page of the demo's origin, where `join` is the SDK imported from
   * `/prism-client.js` (the module other pages use), and returns what it returns.
   */
  const withSdk = async <A>(script: string): Promise<A> => {
    const context = await browser.newContext()
    contexts.push(context)
    const page = await context.newPage()
    await page.goto(`${origin}/`)
    return (await page.evaluate(`(async () => {
      const { join } = await import("/prism-client.js")
      const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
      const received = async (session) => (await session.slotStats())[0].bytesReceived
      ${script}
    })()`)) as A
  }

  it("SDK module: a publisher's ICE restart goes through PATCH and the subscriber keeps receiving", async () => {
    const result = await withSdk<{
      states: Array<string>
      restarts: number
      before: number
      after: number
      ids: Array<string>
    }>(`
      const room = "restart-" + Math.random().toString(36).slice(2)
      const publisher = await join("/", room, { name: "pub", publish: { video: true }, slots: { video: 0, audio: 0 } })
      const viewer = await join("/", room, { name: "view", slots: { video: 1, audio: 0 } })
      const states = []
      publisher.on("state", (state) => states.push(state))
      while ((await received(viewer)) === 0) await wait(200)
      states.length = 0
      await publisher.restartIce()
      while (publisher.state !== "connected") await wait(100)
      const before = await received(viewer)
      await wait(1500)
      const after = await received(viewer)
      const view = await (await fetch("/api/v1/rooms/" + room)).json()
      states.push("leave")
      await publisher.leave()
      await viewer.leave()
      return { states, restarts: publisher.counters.iceRestarts, before, after,
               ids: view.participants.map((p) => p.id).concat([publisher.participantId, viewer.participantId]) }
    `)
    expect(result.restarts).toBe(1)
    expect(result.states).toEqual(["reconnecting", "connected", "leave", "closed"])
    // The same two participants (a restart is not a new join), media still arriving.
    expect(new Set(result.ids).size).toBe(2)
    expect(result.after - result.before).toBeGreaterThan(10_000)
  }, 45_000)

  it("SDK module: a restart the server refuses ends the session; one that fails on the way is retried", async () => {
    const result = await withSdk<{ refused: { state: string; codes: Array<string> }; retried: unknown }>(`
      const room = "refused-" + Math.random().toString(36).slice(2)
      const codes = []
      const gone = await join("/", room, { publish: { audio: true }, slots: { video: 0, audio: 0 } })
      gone.on("error", (e) => codes.push(e.code))
      while (gone.state !== "connected") await wait(100)
      await fetch(gone.location, { method: "DELETE" }) // the server forgets the participant
      await gone.restartIce()
      // (ICE may have noticed first and started the restart itself)
      while (gone.state === "reconnecting") await wait(50)
      const refused = { state: gone.state, codes }

      // The first PATCH fails as if the network were down; the next one goes through.
      let patches = 0
      const flaky = (input, init) => {
        if (init?.method === "PATCH" && patches++ === 0) return Promise.reject(new TypeError("network down"))
        return fetch(input, init)
      }
      const session = await join("/", room, { publish: { audio: true }, slots: { video: 0, audio: 0 }, fetch: flaky })
      const errors = []
      session.on("error", (e) => errors.push(e.code))
      while (session.state !== "connected") await wait(100)
      await session.restartIce()
      while (session.state !== "connected") await wait(100)
      const retried = { state: session.state, restarts: session.counters.iceRestarts, patches, errors }
      await session.leave()
      return { refused, retried }
    `)
    expect(result.refused).toEqual({ state: "failed", codes: ["ice-restart-refused"] })
    expect(result.retried).toEqual({
      state: "connected",
      restarts: 2,
      patches: 2,
      errors: ["ice-restart-failed"]
    })
  }, 45_000)

  it("SDK module: a subscriber's ICE restart keeps its slots receiving", async () => {
    const grew = await withSdk<number>(`
      const room = "restart-sub-" + Math.random().toString(36).slice(2)
      const publisher = await join("/", room, { publish: { video: true }, slots: { video: 0, audio: 0 } })
      const viewer = await join("/", room, { slots: { video: 1, audio: 0 } })
      while ((await received(viewer)) === 0) await wait(200)
      await viewer.restartIce()
      while (viewer.state !== "connected") await wait(100)
      const before = await received(viewer)
      await wait(1500)
      const grew = (await received(viewer)) - before
      await publisher.leave()
      await viewer.leave()
      return grew
    `)
    expect(grew).toBeGreaterThan(10_000)
  }, 45_000)
})
