import { Metric } from "effect"

/** Prometheus metric definitions; names follow the `prism_<what>_<unit>` convention. */

export const roomsOpen = Metric.gauge("prism_rooms", { description: "Rooms currently open" })
export const participantsConnected = Metric.gauge("prism_participants", {
  description: "Participants currently in a room"
})
export const publicationsActive = Metric.gauge("prism_publications", {
  description: "Published audio and video tracks"
})
export const componentFailures = Metric.counter("prism_component_failures_total", {
  description:
    "Fibers of a participant or room that failed, by component; the participant left (or the room closed) cleanly",
  incremental: true
})
export const joinDuration = Metric.histogram("prism_join_duration_seconds", {
  description: "Time from a join request to its SDP answer",
  boundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})
export const joinsRejected = Metric.counter("prism_joins_rejected_total", {
  description: "Join requests answered with a client error",
  incremental: true
})

const counter = (name: string, description: string) =>
  Metric.counter(name, { description, incremental: true })

export const packetsIn = counter("prism_packets_received_total", "RTP packets received from publishers")
export const bytesIn = counter("prism_bytes_received_total", "RTP payload bytes received from publishers")
export const packetsOut = counter("prism_packets_forwarded_total", "RTP packets sent to subscribers")
export const bytesOut = counter("prism_bytes_forwarded_total", "RTP payload bytes sent to subscribers")
export const packetsDropped = counter("prism_packets_dropped_total", "RTP packets dropped, by reason")
export const keyframeRequests = counter(
  "prism_keyframe_requests_total",
  "Keyframe requests: from subscribers, and sent to publishers after throttling"
)
export const nacks = counter(
  "prism_nacks_total",
  "NACKed sequence numbers, from subscribers and to publishers"
)
export const retransmissions = counter(
  "prism_retransmissions_total",
  "Packets resent to subscribers for NACKs"
)
export const retransmissionsOverBudget = counter(
  "prism_retransmissions_over_budget_total",
  "NACKed packets not resent because the slot's retransmission budget was spent"
)

export const probePaddingBytes = counter(
  "prism_probe_padding_bytes_total",
  "Padding bytes sent to subscribers to probe their downlink for a higher layer"
)
export const transportFeedbackSent = counter(
  "prism_transport_feedback_sent_total",
  "Transport-wide congestion control feedback packets sent to publishers"
)
export const rtcpMalformed = counter(
  "prism_rtcp_malformed_total",
  "Malformed RTCP packets from clients, dropped"
)
export const simulcastRtx = counter(
  "prism_simulcast_rtx_total",
  "Simulcast RTX packets from publishers, by result (recovered, unmapped, padding)"
)

export const forwardLatency = Metric.histogram("prism_forward_latency_seconds", {
  description:
    "Time from a packet's arrival at the server to its send to a subscriber (oldest packet of each batch)",
  boundaries: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
})

export const controlMessages = counter(
  "prism_control_messages_total",
  "Control-protocol messages, by direction (in: accepted from clients, out: sent to clients)"
)
export const controlMessagesRejected = counter(
  "prism_control_messages_rejected_total",
  "Control-protocol messages rejected, by reason (too_large, not_json, bad_version, invalid, busy, ...)"
)
export const controlSendsFailed = counter(
  "prism_control_sends_failed_total",
  "Control-protocol messages not sent because the channel was closed or its buffer full"
)
export const controlDisconnects = counter(
  "prism_control_disconnects_total",
  "Participants disconnected for sending too many bad messages"
)
export const topicMessages = counter(
  "prism_topic_messages_total",
  "Data-topic messages delivered to subscribers"
)
export const topicMessagesDropped = counter(
  "prism_topic_messages_dropped_total",
  "Data-topic messages dropped, by reason (invalid, too_large, not_subscribed, subscriber_buffer_full)"
)
