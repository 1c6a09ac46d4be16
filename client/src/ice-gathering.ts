/**
 * Resolves when the connection has gathered its ICE candidates, or after `timeoutMs`. The
 * server is ICE-lite and takes no trickled candidates, so the offer should carry them; but a
 * slow interface (a VPN, a STUN server that never answers) must not hold the join up.
 */
export const iceGathered = (pc: RTCPeerConnection, timeoutMs: number): Promise<void> =>
  new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve()
    const done = () => {
      clearTimeout(timer)
      pc.removeEventListener("icegatheringstatechange", onChange)
      resolve()
    }
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done()
    }
    const timer = setTimeout(done, timeoutMs)
    pc.addEventListener("icegatheringstatechange", onChange)
  })
