/**
 * Process-wide counts from the transport's RTCP and RTX handling, bumped on the network
 * callback with plain additions; the media counters' flush moves them into Prometheus.
 */
export const transportCounters = {
  /** Malformed RTCP packets (or compound tails) from clients, dropped. */
  rtcpMalformed: 0,
  /** Transport-wide feedback packets sent to publishers. */
  feedbackSent: 0,
  /** Simulcast RTX packets unwrapped and handed on as media. */
  rtxRecovered: 0,
  /** Simulcast RTX packets with no known layer, dropped. */
  rtxUnmapped: 0,
  /** Padding-only simulcast RTX packets (bandwidth probes), dropped. */
  rtxPadding: 0
}
