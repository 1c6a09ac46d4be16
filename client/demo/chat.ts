import type { Session } from "../src/index.ts"
import { element } from "./dom.ts"
import { displayName } from "./names.ts"

export const CHAT_TOPIC = "chat"
const MAX_TEXT = 2000
const MAX_LINES = 200

/** A chat line as it travels on the `chat` topic. */
interface ChatData {
  readonly text: string
}

const isChatData = (data: unknown): data is ChatData =>
  typeof data === "object" && data !== null && typeof (data as { text?: unknown }).text === "string"

/**
 * Text chat over the reliable `chat` topic. The server never echoes a message to its sender,
 * so the page shows its own lines as it sends them.
 */
export const startChat = (
  session: Session,
  log: HTMLOListElement,
  form: HTMLFormElement,
  input: HTMLInputElement
): (() => void) => {
  const append = (from: string, text: string, mine: boolean) => {
    const line = element("li", mine ? "mine" : "theirs")
    line.append(element("span", "from", mine ? "You" : from), ": ", element("span", "text", text))
    log.append(line)
    while (log.children.length > MAX_LINES) log.firstElementChild?.remove()
    line.scrollIntoView({ block: "nearest" })
  }
  const offTopic = session.on("topic", (message) => {
    if (message.topic !== CHAT_TOPIC || !isChatData(message.data)) return
    append(displayName(session.roster, message.from), message.data.text.slice(0, MAX_TEXT), false)
  })
  const onSubmit = (event: SubmitEvent) => {
    event.preventDefault()
    const text = input.value.trim().slice(0, MAX_TEXT)
    if (text === "") return
    if (session.publishTopic(CHAT_TOPIC, { text } satisfies ChatData, { reliable: true })) {
      append("You", text, true)
      input.value = ""
    } else {
      input.setCustomValidity("Not connected yet: try again in a moment")
      input.reportValidity()
      setTimeout(() => input.setCustomValidity(""), 2000)
    }
  }
  form.addEventListener("submit", onSubmit)
  return () => {
    offTopic()
    form.removeEventListener("submit", onSubmit)
    log.replaceChildren()
  }
}
