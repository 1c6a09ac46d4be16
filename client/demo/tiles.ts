import { type ByteSample, bitrateBetween } from "../src/bitrate.ts"
import type { Roster, Session, SlotBinding, SlotStats, Speaker } from "../src/index.ts"
import { element } from "./dom.ts"
import { displayName, formatBitrate } from "./names.ts"

const STATS_INTERVAL_MS = 1000
/** Heights a tile asks for: the smallest at least as tall as the tile's device pixels. */
const HEIGHT_LADDER = [180, 360, 720, 1080]

const neededHeight = (cssHeight: number): number => {
  const pixels = cssHeight * (globalThis.devicePixelRatio || 1)
  return HEIGHT_LADDER.find((h) => h >= pixels) ?? HEIGHT_LADDER[HEIGHT_LADDER.length - 1]!
}

interface Tile {
  readonly item: HTMLLIElement
  readonly video: HTMLVideoElement
  readonly name: HTMLParagraphElement
  readonly stats: HTMLParagraphElement
}

const makeTile = (stream: MediaStream, label: string): Tile => {
  const item = element("li", "tile")
  const video = element("video")
  video.autoplay = true
  video.muted = true // sound plays through the audio slots, not the tiles
  video.playsInline = true
  video.srcObject = stream
  const name = element("p", "tile-name", label)
  const stats = element("p", "tile-stats")
  stats.setAttribute("aria-label", "Layer and bitrate")
  item.append(video, name, stats)
  return { item, video, name, stats }
}

const setName = (tile: Tile, name: string, speaking: boolean) => {
  tile.name.replaceChildren(name)
  if (speaking) tile.name.append(element("span", "visually-hidden", " (speaking)"))
  tile.item.setAttribute("aria-label", `${name}${speaking ? ", speaking" : ""}`)
}

const describeSlot = (binding: SlotBinding | undefined, stats: SlotStats | undefined): string => {
  if (binding?.paused) return `paused (${binding.reason})`
  const rid = binding?.layer?.rid ?? "single"
  const size =
    stats?.frameWidth != null && stats.frameHeight != null ? `${stats.frameWidth}×${stats.frameHeight}` : "…"
  return `${rid} · ${size} · ${formatBitrate(stats?.bitrateBps ?? null)}`
}

/**
 * The video grid: this client's camera first, then one tile per video slot, each named after
 * the participant whose track the server bound to it, outlined while that participant speaks,
 * with the layer and received bitrate in a corner. Audio slots play through hidden elements.
 */
export class TileGrid {
  readonly #session: Session
  readonly #list: HTMLUListElement
  readonly #emptyNote: HTMLElement
  readonly #local: Tile | undefined
  readonly #slots = new Map<string, Tile>()
  readonly #audio: Array<HTMLAudioElement> = []
  readonly #offs: Array<() => void> = []
  readonly #askedHeight = new Map<string, number>()
  readonly #resizes: ResizeObserver
  #bindings = new Map<string, SlotBinding>()
  #bindingsKnown = false
  #speaking = new Set<string>()
  #stats = new Map<string, SlotStats>()
  #sent: ByteSample | undefined
  #timer: ReturnType<typeof setInterval>

  constructor(session: Session, list: HTMLUListElement, audioSinks: HTMLElement, emptyNote: HTMLElement) {
    this.#session = session
    this.#list = list
    // Each tile asks the server for no more than it can show (the server still picks the
    // layer; a small tile then never costs a 720p stream).
    this.#resizes = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const mid = (entry.target as HTMLElement).dataset["mid"]
        if (mid === undefined || entry.contentRect.height === 0) continue
        const maxHeight = neededHeight(entry.contentRect.height)
        if (this.#askedHeight.get(mid) === maxHeight) continue
        this.#askedHeight.set(mid, maxHeight)
        session.subscribe(mid, "auto", { maxHeight })
      }
    })
    this.#emptyNote = emptyNote
    if (session.localStream.getVideoTracks().length > 0) {
      this.#local = makeTile(session.localStream, "You")
      this.#local.item.classList.add("local")
      this.#local.item.dataset["participant"] = session.participantId
      list.append(this.#local.item)
    }
    for (const slot of session.slots) {
      if (slot.kind === "video") {
        const tile = makeTile(new MediaStream([slot.track]), "")
        tile.item.dataset["mid"] = slot.mid
        tile.item.hidden = true
        this.#slots.set(slot.mid, tile)
        list.append(tile.item)
        this.#resizes.observe(tile.item)
        slot.track.addEventListener("unmute", () => this.#render())
        slot.track.addEventListener("mute", () => this.#render())
      } else {
        const audio = element("audio")
        audio.autoplay = true
        audio.srcObject = new MediaStream([slot.track])
        audio.dataset["mid"] = slot.mid
        audioSinks.append(audio)
        this.#audio.push(audio)
      }
    }
    this.#offs.push(
      session.on("bindings", (bindings) => {
        this.#bindingsKnown = true
        this.#bindings = new Map(bindings.map((b) => [b.mid, b]))
        this.#render()
      }),
      session.on("roster", () => this.#render()),
      session.on("speakers", (speakers: ReadonlyArray<Speaker>) => {
        this.#speaking = new Set(speakers.filter((s) => s.speaking).map((s) => s.participantId))
        this.#render()
      })
    )
    this.#timer = setInterval(() => void this.#refreshStats(), STATS_INTERVAL_MS)
    this.#render()
  }

  dispose(): void {
    clearInterval(this.#timer)
    this.#resizes.disconnect()
    for (const off of this.#offs.splice(0)) off()
    for (const audio of this.#audio) audio.srcObject = null
    this.#list.replaceChildren()
  }

  #render(): void {
    const roster: Roster = this.#session.roster
    let visible = 0
    for (const [mid, tile] of this.#slots) {
      const binding = this.#bindings.get(mid)
      // Before the control channel reports bindings (or with a server that has none), a slot
      // shows once media arrives on it.
      const bound = this.#bindingsKnown ? binding?.trackId != null : !this.#slotMuted(mid)
      tile.item.hidden = !bound
      if (!bound) continue
      visible++
      const participantId = binding?.participantId ?? null
      if (participantId === null) delete tile.item.dataset["participant"]
      else tile.item.dataset["participant"] = participantId
      const speaking = participantId !== null && this.#speaking.has(participantId)
      tile.item.classList.toggle("speaking", speaking)
      setName(tile, binding === undefined ? "Remote video" : displayName(roster, participantId), speaking)
      tile.stats.textContent = describeSlot(binding, this.#stats.get(mid))
    }
    if (this.#local !== undefined) setName(this.#local, "You", false)
    this.#emptyNote.hidden = visible > 0
  }

  #slotMuted(mid: string): boolean {
    return this.#session.slots.find((s) => s.mid === mid)?.track.muted ?? true
  }

  async #refreshStats(): Promise<void> {
    try {
      this.#stats = new Map((await this.#session.slotStats()).map((s) => [s.mid, s]))
      if (this.#local !== undefined) this.#local.stats.textContent = await this.#describeSending()
      this.#render()
    } catch {
      // the connection closed between two refreshes
    }
  }

  /** "sending q 320×180, h 640×360, f 1280×720 · 1.6 Mbit/s", from the video sender's stats. */
  async #describeSending(): Promise<string> {
    const video = this.#session.publications.find((p) => p.kind === "video")
    if (video === undefined) return ""
    const layers: Array<{ readonly width: number; readonly text: string }> = []
    let bytes = 0
    let timestampMs = 0
    for (const report of (await video.sender.getStats()).values()) {
      if (report.type !== "outbound-rtp") continue
      const outbound = report as RTCOutboundRtpStreamStats
      bytes += outbound.bytesSent ?? 0
      timestampMs = outbound.timestamp
      if (outbound.frameWidth !== undefined && outbound.frameHeight !== undefined) {
        const text = `${outbound.rid ?? ""} ${outbound.frameWidth}×${outbound.frameHeight}`.trim()
        layers.push({ width: outbound.frameWidth, text })
      }
    }
    const sample = { bytes, timestampMs }
    const bitrate = bitrateBetween(this.#sent, sample)
    this.#sent = sample
    const described = layers.sort((a, b) => a.width - b.width).map((l) => l.text)
    return `sending ${described.join(", ") || "…"} · ${formatBitrate(bitrate)}`
  }
}
