import { Effect } from "effect"
import { audio, simulcastVideo, type TrackSpec, video } from "../clients/media-spec.ts"
import { profiles } from "../network/profiles.ts"
import type { Scenario } from "../run.ts"
import { as, inRoom, on, publishes, receives, type Sim } from "../scenario.ts"
import type { ChaosClient, ChaosSpec } from "./spec.ts"

interface Action {
  readonly at: number
  readonly run: (sim: Sim) => Effect.Effect<void>
}

const clientName = (index: number) => `c${index}`
const roomName = (index: number) => `room${index}`

const tracksOf = (client: ChaosClient): TrackSpec[] => {
  if (client.role === "whep") return []
  const tracks: TrackSpec[] = []
  if (client.video === "plain")
    tracks.push(video({ keyframeIntervalMs: client.keyframeIntervalMs, bitrateKbps: 300 }))
  if (client.video === "simulcast") {
    tracks.push(simulcastVideo({ keyframeIntervalMs: client.keyframeIntervalMs, bitrateKbps: 800 }))
  }
  if (client.audio) tracks.push(audio())
  return tracks
}

/** Runs `action` on a client only if it exists by then (a fault may be scheduled before its join). */
const onClient = (index: number, action: (sim: Sim, name: string) => Effect.Effect<void>) => (sim: Sim) => {
  const name = clientName(index)
  return sim.has(name) ? action(sim, name) : Effect.void
}

const restoreLink = (spec: ChaosSpec, index: number) =>
  onClient(index, (sim, name) => sim.link(name).profile(spec.clients[index]!.profile))

/** Turns a generated spec into a story: joins and faults at their times, then heal, liveness and isolation. */
export const chaosScenario = (spec: ChaosSpec, name = "chaos"): Scenario => ({
  name,
  description: `${spec.clients.length} clients in ${spec.rooms} room(s), ${spec.faults.length} faults over ${spec.chaosMs} ms`,
  buggify: spec.buggify,
  script: (sim) =>
    Effect.gen(function* () {
      const actions: Action[] = []
      const until = (at: number, run: Action["run"]) => {
        if (at < spec.chaosMs) actions.push({ at, run })
      }
      spec.clients.forEach((client, index) => {
        until(client.joinAt, (s) =>
          s.join(
            clientName(index),
            publishes(...tracksOf(client)),
            receives(client.role === "whip" ? {} : client.receives),
            on(client.profile),
            inRoom(roomName(client.room)),
            as(client.role)
          )
        )
      })
      spec.faults.forEach((fault, faultIndex) => {
        switch (fault.kind) {
          case "partition":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.partition(n))
            )
            until(
              fault.at + fault.duration,
              onClient(fault.client, (s, n) => s.heal(n))
            )
            return
          case "crash":
          case "leave":
          case "close":
            until(
              fault.at,
              onClient(fault.client, (s, n) =>
                fault.kind === "crash" ? s.crash(n) : fault.kind === "leave" ? s.leave(n) : s.close(n)
              )
            )
            {
              const back = fault.kind === "crash" ? fault.restartAfter : fault.rejoinAfter
              if (back !== null)
                until(
                  fault.at + back,
                  onClient(fault.client, (s, n) => s.restart(n))
                )
            }
            return
          case "rejoin":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.rejoin(n))
            )
            return
          case "ice-restart":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.iceRestart(n))
            )
            return
          case "loss":
            until(
              fault.at,
              onClient(fault.client, (s, n) =>
                s
                  .link(n)
                  .set(
                    fault.bursty
                      ? { burst: { p: fault.loss / 4, r: 0.25, lossGood: 0, lossBad: 1 } }
                      : { loss: fault.loss, burst: undefined }
                  )
              )
            )
            until(fault.at + fault.duration, restoreLink(spec, fault.client))
            return
          case "reorder":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.link(n).set({ reorder: 0.1, reorderDelayMs: 30 }))
            )
            until(fault.at + fault.duration, restoreLink(spec, fault.client))
            return
          case "slow":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.link(n).down.set(profiles.slow))
            )
            until(fault.at + fault.duration, restoreLink(spec, fault.client))
            return
          case "stuck":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.stall(n))
            )
            until(
              fault.at + fault.duration,
              onClient(fault.client, (s, n) => s.unstall(n))
            )
            return
          case "pause-layer":
            until(
              fault.at,
              onClient(fault.client, (s, n) => s.pauseLayer(n, "f"))
            )
            until(
              fault.at + fault.duration,
              onClient(fault.client, (s, n) => s.resumeLayer(n, "f"))
            )
            return
          case "churn":
            for (let k = 0; k < fault.count; k++) {
              const name = `churn${faultIndex}-${k}`
              const joinAt = fault.at + k * 100
              until(joinAt, (s) =>
                s.join(
                  name,
                  publishes(video({ bitrateKbps: 200 }), audio()),
                  receives({ audio: 1, video: 1 }),
                  inRoom(roomName(fault.room))
                )
              )
              until(joinAt + fault.lifetime, (s) =>
                k % 3 === 0 ? s.leave(name) : k % 3 === 1 ? s.crash(name) : s.close(name)
              )
            }
            return
        }
      })
      actions.sort((a, b) => a.at - b.at)
      let now = 0
      for (const action of actions) {
        if (action.at > now) yield* sim.advance(action.at - now)
        now = Math.max(now, action.at)
        yield* action.run(sim)
      }
      yield* sim.advance(spec.chaosMs - now)
      yield* sim.quiet()

      for (const [index, client] of spec.clients.entries()) {
        const name = clientName(index)
        if (!sim.has(name)) continue
        yield* sim.heal(name)
        yield* sim.unstall(name)
        yield* sim.resumeLayer(name, "f")
        yield* sim.link(name).profile(client.profile)
      }
      yield* sim.expectLiveness()

      const victim = spec.isolation && clientName(spec.isolation.victim)
      if (spec.isolation && victim && sim.has(victim) && sim.client(victim).connected) {
        yield* spec.isolation.kind === "stuck" ? sim.stall(victim) : sim.link(victim).down.set(profiles.slow)
        yield* sim.expectUnaffected([victim], sim.advance("5 seconds"))
      }
    })
})
