import { Logger, References } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Buggify, BuggifySite } from "../../src/fault/buggify.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { TestClient, waitFor } from "../support/werift-client.ts"

/**
 * A fiber of a participant or of a room that fails takes its owner down cleanly instead of
 * leaving a zombie: the participant leaves (publications withdrawn, slots rebound, `DELETE`
 * answered 404), the room closes and the next join gets a fresh one. The cause is logged at
 * Error with the room and participant, and counted by component. The failures are injected
 * through the server's Buggify hook, as the simulation does.
 */

interface LogEntry {
  readonly level: string
  readonly text: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A Buggify that fires only what a test dooms: one site for one participant or room, once. */
class Doom implements Buggify {
  readonly enabled = true
  private readonly doomed = new Set<string>()

  doom(site: BuggifySite, subject: string): void {
    this.doomed.add(`${site} ${subject}`)
  }

  fires(site: BuggifySite, subject?: string): boolean {
    return this.doomed.delete(`${site} ${subject}`)
  }

  delayMs(): number {
    return 0
  }
}

interface RoomView {
  readonly participants: ReadonlyArray<{
    readonly id: string
    readonly publications: ReadonlyArray<{ readonly id: string }>
    readonly slots: ReadonlyArray<{ readonly trackId: string | null }>
  }>
}

const idOf = (client: TestClient) => client.location.split("/").at(-1)!

describe("supervision of participant and room fibers", () => {
  let server: RunningServer
  const doom = new Doom()
  const logs: LogEntry[] = []

  beforeAll(async () => {
    const logger = Logger.make<unknown, void>(({ message, logLevel, fiber }) => {
      logs.push({
        level: logLevel,
        text: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        annotations: fiber.getRef(References.CurrentLogAnnotations)
      })
    })
    server = await startServer({}, undefined, { logger, buggify: doom })
  })
  afterAll(async () => {
    await server?.close()
  })

  const view = async (room: string): Promise<RoomView> => {
    const response = await fetch(`${server.baseUrl}/api/v1/rooms/${room}`)
    return response.status === 200 ? ((await response.json()) as RoomView) : { participants: [] }
  }

  const failures = async (component: string): Promise<number> => {
    const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
    const line = text
      .split("\n")
      .find((l) => l.startsWith("prism_component_failures_total{") && l.includes(`component="${component}"`))
    return line ? Number(line.split(" ").at(-1)) : 0
  }

  const pollUntil = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  it("a dead slot forwarder takes its participant down whole; the others go on", {
    timeout: 60_000
  }, async () => {
    const room = "supervised-participant"
    const publisher = await TestClient.join(server.baseUrl, room, { publish: { video: true }, tag: 3 })
    const victim = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    const other = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    try {
      await Promise.all([publisher.connected(), victim.connected(), other.connected()])
      publisher.startPublishing()
      await waitFor(() => victim.packetsOn(victim.slotMids[0]!).length > 10, 10_000, "media at the victim")
      doom.doom("fiber.slot-forwarder", idOf(victim))
      await pollUntil(
        async () => !(await view(room)).participants.some((p) => p.id === idOf(victim)),
        "the victim to leave the room"
      )
      expect((await fetch(`${server.baseUrl}${victim.location}`, { method: "DELETE" })).status).toBe(404)
      await pollUntil(async () => (await failures("slot-forwarder")) >= 1, "the failure to be counted")
      const logged = logs.find((l) => l.level === "Error" && l.text.includes("slot-forwarder failed"))
      expect(logged?.annotations).toMatchObject({ room, participant: idOf(victim) })

      // Everyone else is untouched: the publisher's track still reaches the other subscriber.
      const before = other.packetsOn(other.slotMids[0]!).length
      await waitFor(
        () => other.packetsOn(other.slotMids[0]!).length > before + 30,
        10_000,
        "media at the other"
      )
      const now = await view(room)
      expect(now.participants.map((p) => p.id).sort()).toEqual([idOf(publisher), idOf(other)].sort())
    } finally {
      await Promise.all([publisher.leave(), victim.close(), other.leave()])
    }
  })

  it("a dead room fiber closes the room; the next join gets a fresh one", { timeout: 60_000 }, async () => {
    const room = "supervised-room"
    const first = await TestClient.join(server.baseUrl, room, { publish: { video: true } })
    const second = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
    try {
      await Promise.all([first.connected(), second.connected()])
      doom.doom("fiber.room", room)
      await pollUntil(async () => (await view(room)).participants.length === 0, "the room to close")
      expect((await fetch(`${server.baseUrl}${second.location}`, { method: "DELETE" })).status).toBe(404)
      expect(await failures("room")).toBeGreaterThanOrEqual(1)
      const logged = logs.find((l) => l.level === "Error" && l.text.includes("room failed"))
      expect(logged?.annotations).toMatchObject({ room })

      const fresh = await TestClient.join(server.baseUrl, room, { subscribe: { video: 1 } })
      try {
        await fresh.connected()
        expect((await view(room)).participants.map((p) => p.id)).toEqual([idOf(fresh)])
      } finally {
        await fresh.leave()
      }
    } finally {
      await Promise.all([first.close(), second.close()])
    }
  })
})
