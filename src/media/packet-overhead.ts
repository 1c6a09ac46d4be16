/**
 * What each packet costs on a subscriber's link beyond its payload, so that the bandwidth
 * estimate and the layers' costs are counted in the same bytes as the link carries them. Small
 * packets (audio, probe padding) pay this overhead many times over: left out, a link full of
 * them looks far slower than one full of video.
 */

/** RTP header with the usual header extensions (mid, transport-wide sequence number, abs-send-time). */
export const RTP_HEADER_BYTES = 24
/** IPv4 or IPv6 header (20–40), UDP header (8) and the SRTP authentication tag (10): outside what transport-cc reports. */
export const TRANSPORT_OVERHEAD_BYTES = 48
