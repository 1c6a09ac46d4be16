import type { Roster } from "../src/index.ts"
import { element } from "./dom.ts"
import { displayName } from "./names.ts"

/** The "People" list: everyone in the room, this client marked. */
export const renderRoster = (list: HTMLElement, count: HTMLElement, roster: Roster, selfId: string): void => {
  const items = [...roster.values()].map((participant) => {
    const item = element("li")
    item.dataset["participant"] = participant.id
    item.append(element("span", "name", displayName(roster, participant.id)))
    const notes: Array<string> = []
    if (participant.id === selfId) notes.push("you")
    if (participant.role !== "participant") notes.push(participant.role.toUpperCase())
    const kinds = participant.publications.map((p) => p.kind).sort()
    if (kinds.length === 0) notes.push("not sending")
    if (notes.length > 0) item.append(" ", element("span", "role", `(${notes.join(", ")})`))
    return item
  })
  list.replaceChildren(...items)
  count.textContent = String(roster.size)
}
