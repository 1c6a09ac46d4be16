import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { afterEach, describe, expect, it } from "vitest"
import { RTCPeerConnection } from "werift"
import { freePort } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

interface Started {
  readonly child: ChildProcess
  readonly baseUrl: string
  readonly internalUrl: string
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const children: ChildProcess[] = []

/** Runs a TypeScript entry point the way `npm start` does, on free ports. */
const launch = async (entry: string, env: Record<string, string> = {}): Promise<Started> => {
  const httpPort = await freePort()
  const internalPort = await freePort()
  const child = spawn("node_modules/.bin/tsx", [entry], {
    env: {
      ...process.env,
      HTTP_PORT: String(httpPort),
      INTERNAL_PORT: String(internalPort),
      HTTP_HOST: "127.0.0.1",
      ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  children.push(child)
  let output = ""
  child.stdout!.on("data", (chunk) => {
    output += chunk
  })
  child.stderr!.on("data", (chunk) => {
    output += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  const internalUrl = `http://127.0.0.1:${internalPort}`
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await fetch(`${internalUrl}/healthz`).then(
      (r) => r.ok,
      () => false
    )
    if (ok) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { child, baseUrl: `http://127.0.0.1:${httpPort}`, internalUrl, output: () => output, exited }
}

const offer = async () => {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", iceStunGatherTimeout: 1 })
  pc.addTransceiver("video", { direction: "sendonly" })
  await pc.setLocalDescription(await pc.createOffer())
  const sdp = pc.localDescription!.sdp
  await pc.close()
  return sdp
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL")
})

describe("running Prism as a process", () => {
  it("the README's embedding example runs with its own authorizer and JSON logger", async () => {
    const example = readFileSync("examples/embed.ts", "utf8")
    expect(readFileSync("README.md", "utf8")).toContain(example.trim())
    const server = await launch("examples/embed.ts", { PRISM_TOKEN: "s3cret" })
    const url = `${server.baseUrl}/api/v1/rooms/embedded/participants`
    const sdp = await offer()
    const denied = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: sdp
    })
    expect(denied.status).toBe(401)
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("unauthorized")
    const allowed = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/sdp", authorization: "Bearer s3cret" },
      body: sdp
    })
    expect(allowed.status).toBe(201)
    const listing = await fetch(`${server.baseUrl}/api/v1/rooms`)
    expect(listing.status).toBe(401)
    const logLine = server
      .output()
      .split("\n")
      .find((line) => line.includes("Prism is listening"))
    expect(logLine).toBeDefined()
    expect(JSON.parse(logLine!).level).toBe("INFO")
    server.child.kill("SIGTERM")
    await server.exited
  })

  it("npm start's entry point closes every peer connection and exits 0 on SIGTERM", async () => {
    const server = await launch("src/main.ts", { LOG_FORMAT: "json" })
    const client = await TestClient.join(server.baseUrl, "shutdown", { publish: { video: true } })
    try {
      await client.connected()
      client.startPublishing()
      await waitFor(() => server.output().includes("participant joined"), 5000, "the join to be logged")
      server.child.kill("SIGTERM")
      const code = await Promise.race([
        server.exited,
        new Promise((r) => setTimeout(() => r("timeout"), 10_000))
      ])
      expect(code).toBe(0)
      expect(server.output()).toContain("closing every room")
    } finally {
      await client.close()
    }
  })

  it("rejects impossible configuration at start-up with a clear message", async () => {
    const started = launch("src/main.ts", { UDP_PORT_MIN: "50000", UDP_PORT_MAX: "40000" })
    await expect(started).rejects.toThrow(/UDP_PORT_MIN/)
  })
})
