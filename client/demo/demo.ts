import { join, type Session, type SessionState, SignalingError } from "../src/index.ts"
import { CHAT_TOPIC, startChat } from "./chat.ts"
import { byId } from "./dom.ts"
import { renderRoster } from "./roster-view.ts"
import { TileGrid } from "./tiles.ts"

const VIDEO_SLOTS = 4
const AUDIO_SLOTS = 3

const ui = {
  status: byId("status", HTMLParagraphElement),
  main: byId("main", HTMLElement),
  joinView: byId("join-view", HTMLElement),
  joinForm: byId("join-form", HTMLFormElement),
  joinButton: byId("join-button", HTMLButtonElement),
  joinError: byId("join-error", HTMLParagraphElement),
  room: byId("room", HTMLInputElement),
  name: byId("name", HTMLInputElement),
  sendVideo: byId("send-video", HTMLInputElement),
  sendAudio: byId("send-audio", HTMLInputElement),
  sendSimulcast: byId("send-simulcast", HTMLInputElement),
  roomView: byId("room-view", HTMLElement),
  roomName: byId("room-name", HTMLSpanElement),
  muteButton: byId("mute-button", HTMLButtonElement),
  leaveButton: byId("leave-button", HTMLButtonElement),
  tiles: byId("tiles", HTMLUListElement),
  emptyNote: byId("empty-note", HTMLParagraphElement),
  audioSinks: byId("audio-sinks", HTMLDivElement),
  roster: byId("roster", HTMLUListElement),
  peopleCount: byId("people-count", HTMLSpanElement),
  chatLog: byId("chat-log", HTMLOListElement),
  chatForm: byId("chat-form", HTMLFormElement),
  chatInput: byId("chat-input", HTMLInputElement)
}

const STATE_TEXT: Record<SessionState, string> = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Connection lost, reconnecting…",
  failed: "Disconnected: the connection could not be restored",
  closed: "Not connected"
}

let current: { readonly session: Session; readonly teardown: () => void } | undefined

const showJoin = (message = "") => {
  ui.roomView.hidden = true
  ui.joinView.hidden = false
  ui.joinButton.disabled = false
  ui.joinError.textContent = message
  ui.room.focus()
}

const enterRoom = (session: Session, room: string) => {
  ui.roomName.textContent = room
  ui.joinView.hidden = true
  ui.roomView.hidden = false
  const audio = session.localStream.getAudioTracks()[0]
  ui.muteButton.hidden = audio === undefined
  ui.muteButton.setAttribute("aria-pressed", "false")
  ui.muteButton.textContent = "Mute microphone"

  const grid = new TileGrid(session, ui.tiles, ui.audioSinks, ui.emptyNote)
  const stopChat = startChat(session, ui.chatLog, ui.chatForm, ui.chatInput)
  const offs = [
    session.on("roster", (roster) => renderRoster(ui.roster, ui.peopleCount, roster, session.participantId)),
    session.on("state", (state) => {
      ui.status.textContent = STATE_TEXT[state]
      if (state === "failed") leave("The connection to the server was lost.")
    }),
    session.on("error", (error) => console.warn("prism:", error.source, error.code, error.message))
  ]
  const onMute = () => {
    if (audio === undefined) return
    audio.enabled = !audio.enabled
    ui.muteButton.setAttribute("aria-pressed", String(!audio.enabled))
    ui.muteButton.textContent = audio.enabled ? "Mute microphone" : "Unmute microphone"
  }
  ui.muteButton.addEventListener("click", onMute)
  current = {
    session,
    teardown: () => {
      ui.muteButton.removeEventListener("click", onMute)
      for (const off of offs) off()
      stopChat()
      grid.dispose()
      ui.roster.replaceChildren()
      ui.peopleCount.textContent = "0"
    }
  }
  ui.main.focus()
}

const leave = (message = "") => {
  if (current === undefined) return
  const { session, teardown } = current
  current = undefined
  teardown()
  void session.leave()
  ui.status.textContent = STATE_TEXT.closed
  showJoin(message)
}

const describeJoinError = (error: unknown): string => {
  if (error instanceof SignalingError) return `The server refused: ${error.message} (${error.code}).`
  if (error instanceof DOMException && error.name === "NotAllowedError") {
    return "Camera and microphone access was denied. Allow it, or untick Camera and Microphone."
  }
  if (error instanceof DOMException && error.name === "NotFoundError") {
    return "No camera or microphone was found. Untick what you do not have."
  }
  return `Could not join: ${error instanceof Error ? error.message : String(error)}`
}

ui.joinForm.addEventListener("submit", async (event) => {
  event.preventDefault()
  if (current !== undefined) return
  const room = ui.room.value.trim()
  const name = ui.name.value.trim()
  ui.joinButton.disabled = true
  ui.joinError.textContent = ""
  ui.status.textContent = STATE_TEXT.connecting
  try {
    const session = await join("/", room, {
      ...(name === "" ? {} : { name }),
      publish: {
        video: ui.sendVideo.checked,
        audio: ui.sendAudio.checked,
        simulcast: ui.sendSimulcast.checked
      },
      slots: { video: VIDEO_SLOTS, audio: AUDIO_SLOTS },
      topics: [CHAT_TOPIC]
    })
    const params = new URLSearchParams({ room, ...(name === "" ? {} : { name }) })
    history.replaceState(null, "", `?${params}`)
    enterRoom(session, room)
  } catch (error) {
    ui.status.textContent = STATE_TEXT.closed
    showJoin(describeJoinError(error))
  }
})

ui.leaveButton.addEventListener("click", () => leave())
// Leaving the page leaves the room (the DELETE is sent with keepalive).
addEventListener("pagehide", () => leave())

const params = new URLSearchParams(location.search)
ui.room.value = params.get("room") ?? ""
ui.name.value = params.get("name") ?? ""
