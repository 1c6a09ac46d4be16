import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { MAX_MESSAGE_BYTES, TOPICS_LABEL, TOPICS_LOSSY_LABEL } from "../../src/protocol/control-protocol.ts"
import { ControlClient } from "../support/control-client.ts"
import { type RunningServer, startServer } from "../support/test-server.ts"
import { waitFor } from "../support/werift-client.ts"

const metric = async (server: RunningServer, pattern: RegExp): Promise<number> => {
  const text = await (await fetch(`${server.internalUrl}/metrics`)).text()
  return text
    .split("\n")
    .filter((line) => pattern.test(line))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0)
}

const metricReaches = async (server: RunningServer, pattern: RegExp, atLeast: number) => {
  const deadline = Date.now() + 5000
  let value = await metric(server, pattern)
  while (value < atLeast && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
    value = await metric(server, pattern)
  }
  return value
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("data topics", () => {
  let server: RunningServer
  const clients: ControlClient[] = []
  const join = async (room: string) => {
    const client = await ControlClient.join(server.baseUrl, room, { subscribe: { audio: 1 }, topics: true })
    clients.push(client)
    await client.ready()
    await waitFor(
      () => client.topics?.readyState === "open" && client.lossy?.readyState === "open",
      5000,
      "topic channels to open"
    )
    return client
  }
  /** Subscribes and waits until the server has applied it (a later hello round-trips through the room). */
  const subscribe = async (client: ControlClient, topics: string[], others: ControlClient[]) => {
    client.send({ type: "topics", subscribe: topics, unsubscribe: [] })
    const marker = `sub-${Math.random()}`
    client.send({ type: "hello", name: marker })
    await Promise.all(
      others.map((o) => o.waitFor("roster-diff", (d) => d.updated?.some((p) => p.name === marker) ?? false))
    )
  }
  beforeAll(async () => {
    server = await startServer()
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    await server.close()
  })

  it("reaches every subscriber on the channel of the sender's reliability, never the sender", async () => {
    const [a, b, c, d] = [
      await join("topics-1"),
      await join("topics-1"),
      await join("topics-1"),
      await join("topics-1")
    ] as const
    await subscribe(b, ["chat", "cursor"], [a])
    await subscribe(c, ["chat"], [a])
    await subscribe(a, ["chat"], [b])
    // d subscribes to nothing
    a.publishTopic(true, "chat", { text: "hello" })
    b.publishTopic(true, "chat", { text: "from b" })
    a.publishTopic(false, "cursor", { x: 1 })
    await waitFor(() => b.topicMessages.length >= 2 && c.topicMessages.length >= 2, 5000, "topic deliveries")
    await settle(300)
    const view = (client: ControlClient) =>
      client.topicMessages.map((t) => [t.label, t.message.topic, t.message.from, t.message.data])
    expect(view(b)).toEqual(
      expect.arrayContaining([
        [TOPICS_LABEL, "chat", a.participantId, { text: "hello" }],
        [TOPICS_LOSSY_LABEL, "cursor", a.participantId, { x: 1 }]
      ])
    )
    expect(view(b).some(([, , from]) => from === b.participantId)).toBe(false)
    expect(view(c)).toEqual([
      [TOPICS_LABEL, "chat", a.participantId, { text: "hello" }],
      [TOPICS_LABEL, "chat", b.participantId, { text: "from b" }]
    ])
    expect(view(a)).toEqual([[TOPICS_LABEL, "chat", b.participantId, { text: "from b" }]])
    expect(d.topicMessages).toEqual([])

    // unsubscribing stops delivery
    c.send({ type: "topics", subscribe: [], unsubscribe: ["chat"] })
    await subscribe(c, [], [a])
    a.publishTopic(true, "chat", { text: "again" })
    await waitFor(() => b.topicMessages.length >= 3, 5000, "b to get the next message")
    await settle(200)
    expect(c.topicMessages.length).toBe(2)
    for (const client of [a, b, c, d]) expect(client.invalid).toEqual([])
  })

  it("drops and counts invalid and oversized topic messages, and refuses too many topics", async () => {
    const [a, b] = [await join("topics-2"), await join("topics-2")] as const
    await subscribe(b, ["chat"], [a])
    const before = await metric(server, /^prism_topic_messages_dropped_total/)
    a.topics!.send("not json")
    a.topics!.send(JSON.stringify({ v: 1, data: 1 }))
    a.topics!.send(JSON.stringify({ v: 1, topic: "chat", data: "x".repeat(MAX_MESSAGE_BYTES) }))
    a.publishTopic(true, "chat", "fine")
    await waitFor(() => b.topicMessages.length === 1, 5000, "the valid message")
    expect(b.topicMessages[0]?.message.data).toBe("fine")
    expect(await metricReaches(server, /^prism_topic_messages_dropped_total/, before + 3)).toBe(before + 3)

    a.send({
      type: "topics",
      id: "many",
      subscribe: Array.from({ length: 32 }, (_, i) => `t${i}`),
      unsubscribe: []
    })
    a.send({ type: "topics", id: "one-more", subscribe: ["t32"], unsubscribe: [] })
    expect((await a.waitFor("error", (e) => e.id === "one-more")).code).toBe("too-many-topics")
    expect(a.ofType("error").some((e) => e.id === "many")).toBe(false)
  })

  it("drops (and counts) messages for a subscriber that does not keep up, without holding up the others", async () => {
    const [s1, s2, fast, slow] = [
      await join("topics-3"),
      await join("topics-3"),
      await join("topics-3"),
      await join("topics-3")
    ] as const
    await subscribe(fast, ["bulk"], [s1])
    await subscribe(slow, ["bulk"], [s1])
    // The slow subscriber stops acknowledging SCTP data: the server's send buffer toward it fills.
    const sctp = (slow.pc.sctpTransport as unknown as { sctp: { sendSack: () => Promise<void> } }).sctp
    sctp.sendSack = async () => undefined
    const before = await metric(server, /^prism_topic_messages_dropped_total\{.*subscriber/)
    // about 300 kB/s, paced: a subscriber that reads keeps up, one that does not passes its buffer limit
    const payload = "y".repeat(15_000)
    const perSender = 20
    for (let i = 0; i < perSender; i++) {
      s1.publishTopic(true, "bulk", { i, payload })
      s2.publishTopic(true, "bulk", { i, payload })
      await settle(100)
    }
    await waitFor(
      () => fast.topicMessages.length === 2 * perSender,
      10_000,
      "every message at the fast subscriber"
    )
    for (const sender of [s1, s2]) {
      const order = fast.topicMessages
        .filter((t) => t.message.from === sender.participantId)
        .map((t) => (t.message.data as { i: number }).i)
      expect(order).toEqual(Array.from({ length: perSender }, (_, i) => i))
    }
    const dropped =
      (await metricReaches(server, /^prism_topic_messages_dropped_total\{.*subscriber/, before + 1)) - before
    expect(dropped).toBeGreaterThan(0)
    expect(slow.topicMessages.length).toBeLessThan(2 * perSender)
  }, 30_000)
})
