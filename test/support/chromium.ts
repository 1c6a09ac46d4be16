import { mkdir } from "node:fs/promises"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { type Browser, chromium, type LaunchOptions } from "playwright-core"

/**
 * Headless Chromium for end-to-end tests, through playwright-core and the system Chromium
 * (CHROMIUM_PATH, /usr/bin/chromium by default). The flags keep it quiet and offline, fake
 * the camera and microphone and grant them, and let WebRTC use the loopback interface, so
 * a page can publish to and subscribe from a server on 127.0.0.1.
 */
export const CHROMIUM_ARGS: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  // WebRTC: gather host candidates on loopback too (libwebrtc skips loopback interfaces by
  // default), and don't replace host addresses with mDNS names.
  "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  // Hidden or unfocused pages must keep rendering and decoding at full rate.
  "--disable-renderer-backgrounding",
  "--disable-background-timer-throttling",
  "--disable-backgrounding-occluded-windows",
  "--autoplay-policy=no-user-gesture-required"
]

export const chromiumPath = (): string => process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"

export const launchChromium = (options: LaunchOptions = {}): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    timeout: 20_000,
    ...options,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])]
  })

export interface PageServer {
  /** http://localhost:<port>, a secure context for getUserMedia and WebRTC. */
  readonly origin: string
  readonly close: () => Promise<void>
}

/** Serves fixed HTML pages by path from http://localhost on a free port. */
export const servePages = async (pages: Readonly<Record<string, string>>): Promise<PageServer> => {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname
    const page = pages[path]
    if (page === undefined) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found")
      return
    }
    response
      .writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
      .end(page)
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** test-artifacts/ at the repository root (gitignored), created on demand. */
export const artifactPath = async (name: string): Promise<string> => {
  const dir = join(import.meta.dirname, "..", "..", "test-artifacts")
  await mkdir(dir, { recursive: true })
  return join(dir, name)
}
