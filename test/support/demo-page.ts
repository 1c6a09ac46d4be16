import type { BrowserContext, Locator, Page } from "playwright-core"

/** Polls `probe` until it returns a value, throwing after `timeoutMs` with `what` and the last error. */
export const pollUntil = async <A>(
  probe: () => Promise<A | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 200
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** A `<video>` element's state as the page sees it. */
export interface VideoState {
  readonly width: number
  readonly height: number
  readonly currentTime: number
}

export interface ChatLine {
  readonly from: string
  readonly text: string
  readonly mine: boolean
}

/** The demo page as a person uses it: through its form, buttons and what it shows. */
export interface DemoPage {
  readonly name: string
  readonly page: Page
  /** Errors the page's scripts threw or logged, for failure messages. */
  readonly problems: ReadonlyArray<string>
  /** The visible remote tile named `name`, once there is one. */
  readonly remoteTileNamed: (name: string, timeoutMs: number) => Promise<Locator>
  readonly video: (tile: Locator) => Promise<VideoState>
  readonly tileStats: (tile: Locator) => Promise<string>
  /** Waits until `name`'s tile is (or is not) highlighted as speaking. */
  readonly expectSpeaking: (name: string, speaking: boolean, timeoutMs?: number) => Promise<void>
  readonly toggleMute: () => Promise<void>
  readonly sendChat: (text: string) => Promise<void>
  readonly chatLines: () => Promise<ReadonlyArray<ChatLine>>
  /** Names in the People list, without notes such as "(you)". */
  readonly rosterNames: () => Promise<ReadonlyArray<string>>
  readonly leave: () => Promise<void>
}

/** Opens `/?room=…&name=…` in a new page of `context`, clicks Join and waits until connected. */
export const openDemoPage = async (
  context: BrowserContext,
  origin: string,
  room: string,
  name: string
): Promise<DemoPage> => {
  const page = await context.newPage()
  const problems: Array<string> = []
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`))
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning")
      problems.push(`${message.type()}: ${message.text()}`)
  })
  const withProblems = (error: unknown) =>
    new Error(`${String(error)}\n${name}'s page said:\n${problems.slice(-10).join("\n") || "(nothing)"}`)

  await page.goto(`${origin}/?${new URLSearchParams({ room, name })}`)
  await page.getByRole("button", { name: "Join" }).click()
  await pollUntil(
    async () => ((await page.locator("#status").textContent()) === "Connected" ? true : undefined),
    15_000,
    `${name}'s page to connect`
  ).catch((error) => {
    throw withProblems(error)
  })

  const remoteTiles = page.locator(".tile[data-mid]:not([hidden])")
  const tileOf = (other: string) =>
    remoteTiles.filter({ has: page.locator(".tile-name", { hasText: other }) })

  return {
    name,
    page,
    problems,
    remoteTileNamed: async (other, timeoutMs) => {
      const tile = tileOf(other)
      await pollUntil(
        async () => ((await tile.count()) === 1 ? true : undefined),
        timeoutMs,
        `a tile named ${other} on ${name}'s page`
      ).catch((error) => {
        throw withProblems(error)
      })
      return tile
    },
    video: (tile) =>
      tile.locator("video").evaluate((element) => {
        const video = element as unknown as VideoState & { videoWidth: number; videoHeight: number }
        return { width: video.videoWidth, height: video.videoHeight, currentTime: video.currentTime }
      }),
    tileStats: async (tile) => (await tile.locator(".tile-stats").textContent()) ?? "",
    expectSpeaking: async (other, speaking, timeoutMs = 10_000) => {
      const tile = tileOf(other)
      await pollUntil(
        async () => {
          const classes = (await tile.getAttribute("class", { timeout: 1000 })) ?? ""
          return classes.split(" ").includes("speaking") === speaking ? true : undefined
        },
        timeoutMs,
        `${other}'s tile on ${name}'s page to be ${speaking ? "" : "not "}highlighted as speaking`
      ).catch((error) => {
        throw withProblems(error)
      })
    },
    toggleMute: () => page.locator("#mute-button").click(),
    sendChat: async (text) => {
      await page.getByLabel("Message").fill(text)
      await page.getByRole("button", { name: "Send" }).click()
    },
    chatLines: () =>
      page.locator("#chat-log li").evaluateAll((items) =>
        items.map((item) => {
          const li = item as unknown as {
            classList: { contains(c: string): boolean }
            querySelector(s: string): { textContent: string | null } | null
          }
          return {
            from: li.querySelector(".from")?.textContent ?? "",
            text: li.querySelector(".text")?.textContent ?? "",
            mine: li.classList.contains("mine")
          }
        })
      ),
    rosterNames: () => page.locator("#roster li .name").allTextContents(),
    leave: () => page.getByRole("button", { name: "Leave" }).click()
  }
}
