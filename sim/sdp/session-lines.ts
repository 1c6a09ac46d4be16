/** The session-level lines every simulated offer and answer starts with. */
export const sessionLines = (ufrag: string, password: string, mids: ReadonlyArray<string>): string[] => [
  "v=0",
  "o=- 1 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  `a=group:BUNDLE ${mids.join(" ")}`,
  `a=ice-ufrag:${ufrag}`,
  `a=ice-pwd:${password}`
]
