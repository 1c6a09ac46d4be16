import { describe, expect, it } from "vitest"
import { ControlCounters } from "../../src/control/control-counters.ts"
import {
  ABUSE_LIMIT,
  ABUSE_WINDOW_MS,
  ControlSession,
  MAX_PENDING_COMMANDS,
  type RoomControlMessage
} from "../../src/control/control-session.ts"
import { TopicRouter } from "../../src/control/topic-router.ts"
import { CONTROL_LABEL, TOPICS_LABEL } from "../../src/protocol/control-protocol.ts"

/** Sessions around one bounded mailbox, as in a room, with a clock the test moves. */
const setup = (mailboxSize: number) => {
  const counters = new ControlCounters()
  const router = new TopicRouter(counters)
  const mailbox: Array<{ from: string; message: RoomControlMessage }> = []
  let now = 0
  const make = (participantId: string) => {
    const sent: Array<{ label: string; text: string }> = []
    let disconnects = 0
    const session = new ControlSession({
      participantId,
      peer: {
        sendData: (label, message) => {
          sent.push({ label, text: String(message) })
          return true
        }
      },
      router,
      counters,
      now: () => now,
      submit: (message) => {
        if (mailbox.length >= mailboxSize) return false
        mailbox.push({ from: participantId, message })
        return true
      },
      opened: () => undefined,
      disconnect: () => {
        disconnects++
      }
    })
    session.onDataChannelOpen(CONTROL_LABEL)
    return {
      session,
      sent,
      disconnects: () => disconnects,
      errors: () =>
        sent.filter((s) => s.label === CONTROL_LABEL).map((s) => JSON.parse(s.text) as { code: string })
    }
  }
  return { counters, mailbox, make, advance: (ms: number) => (now += ms) }
}

const hello = (name: string) => JSON.stringify({ v: 1, type: "hello", name })

describe("control session", () => {
  it("a flooding participant fills only its own share of the room's mailbox; the drops are counted", () => {
    const { counters, mailbox, make } = setup(256)
    const flooder = make("flooder")
    const other = make("other")
    for (let i = 0; i < 1000; i++) flooder.session.onDataMessage(CONTROL_LABEL, hello(`f${i}`))
    other.session.onDataMessage(CONTROL_LABEL, hello("me"))
    expect(mailbox.filter((m) => m.from === "flooder").length).toBe(MAX_PENDING_COMMANDS)
    expect(mailbox.some((m) => m.from === "other")).toBe(true)
    // each refused message counts against it: past the abuse limit it is cut off and ignored
    expect(counters.rejected.get("busy")).toBe(ABUSE_LIMIT + 1)
    expect(flooder.disconnects()).toBe(1)
    expect(other.disconnects()).toBe(0)
  })

  it("takes new messages again once the room has handled the earlier ones", () => {
    const { mailbox, make } = setup(256)
    const client = make("c")
    for (let i = 0; i < MAX_PENDING_COMMANDS; i++) client.session.onDataMessage(CONTROL_LABEL, hello(`${i}`))
    for (const _ of mailbox.splice(0)) client.session.settled()
    for (let i = 0; i < MAX_PENDING_COMMANDS; i++) client.session.onDataMessage(CONTROL_LABEL, hello(`${i}`))
    expect(mailbox.length).toBe(MAX_PENDING_COMMANDS)
    expect(client.errors()).toEqual([])
  })

  it("disconnects after more than ABUSE_LIMIT bad messages within the window, once, and then ignores it", () => {
    const { counters, mailbox, make, advance } = setup(256)
    const slow = make("slow")
    // bad messages spread wider than the window are tolerated
    for (let i = 0; i < 3 * ABUSE_LIMIT; i++) {
      slow.session.onDataMessage(CONTROL_LABEL, "junk")
      advance(ABUSE_WINDOW_MS / ABUSE_LIMIT + 1)
    }
    expect(slow.disconnects()).toBe(0)
    const abuser = make("abuser")
    for (let i = 0; i < ABUSE_LIMIT; i++) abuser.session.onDataMessage(CONTROL_LABEL, "junk")
    expect(abuser.disconnects()).toBe(0)
    abuser.session.onDataMessage(CONTROL_LABEL, "junk")
    expect(abuser.disconnects()).toBe(1)
    abuser.session.onDataMessage(CONTROL_LABEL, "junk")
    abuser.session.onDataMessage(CONTROL_LABEL, hello("late"))
    expect(abuser.disconnects()).toBe(1)
    expect(mailbox).toEqual([])
    expect(counters.disconnects).toBe(1)
    expect(abuser.errors().every((e) => e.code === "not-json")).toBe(true)
  })

  it("routes topic messages to other subscribers only, and an abuser's topics stop with it", () => {
    const { make } = setup(256)
    const a = make("a")
    const b = make("b")
    for (const s of [a, b])
      s.session.onDataMessage(
        CONTROL_LABEL,
        JSON.stringify({ v: 1, type: "topics", subscribe: ["t"], unsubscribe: [] })
      )
    a.session.onDataMessage(TOPICS_LABEL, JSON.stringify({ v: 1, topic: "t", data: 1 }))
    const topicFrames = (s: typeof a) =>
      s.sent.filter((x) => x.label === TOPICS_LABEL).map((x) => JSON.parse(x.text))
    expect(topicFrames(b)).toEqual([{ v: 1, topic: "t", from: "a", data: 1 }])
    expect(topicFrames(a)).toEqual([])
    for (let i = 0; i <= ABUSE_LIMIT; i++) b.session.onDataMessage(TOPICS_LABEL, "junk")
    expect(b.disconnects()).toBe(1)
    a.session.onDataMessage(TOPICS_LABEL, JSON.stringify({ v: 1, topic: "t", data: 2 }))
    expect(topicFrames(b).length).toBe(1)
  })
})
