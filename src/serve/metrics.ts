/** @module serve's counters and request-latency histogram, in the Prometheus text format. */
import type { ServeBackend } from './backend.js'

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export class ServeMetrics {
  readonly events = { unique: 0, duplicate: 0, accepted: 0, rejected: 0 }
  readonly requests = new Map<string, number>()
  backendErrors = 0
  /** Requests answered 503 because another process held some of their events reserved. */
  heldElsewhere = 0
  /** Requests whose client went away before its body was in (not answered, not an error of ours). */
  clientAborts = 0
  /** Requests without the token, or with another one (401). */
  unauthorized = 0
  /** Requests whose body did not arrive within --body-timeout (408). */
  bodyTimeouts = 0
  /** Connections closed on arrival: --max-connections were open. */
  connectionsDropped = 0
  private readonly latencyCounts = new Float64Array(LATENCY_BUCKETS_S.length + 1)
  private latencySum = 0
  private latencyCount = 0

  request(route: string, status: number, seconds: number): void {
    const key = `${route} ${status}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
    let i = 0
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]) i++
    this.latencyCounts[i]++
    this.latencySum += seconds
    this.latencyCount++
  }

  render(store: ServeBackend): string {
    const st = store.stats()
    const out: string[] = []
    out.push('# HELP kion_events_total Events answered, by result.', '# TYPE kion_events_total counter')
    for (const [result, n] of Object.entries(this.events)) out.push(`kion_events_total{result="${result}"} ${n}`)
    out.push('# HELP kion_http_requests_total HTTP requests, by route and status.', '# TYPE kion_http_requests_total counter')
    for (const [key, n] of this.requests) {
      const [route, status] = key.split(' ')
      out.push(`kion_http_requests_total{route="${route}",status="${status}"} ${n}`)
    }
    out.push('# HELP kion_http_request_duration_seconds Time from a request\'s arrival to its answer.', '# TYPE kion_http_request_duration_seconds histogram')
    let cumulative = 0
    LATENCY_BUCKETS_S.forEach((le, i) => {
      cumulative += this.latencyCounts[i]
      out.push(`kion_http_request_duration_seconds_bucket{le="${le}"} ${cumulative}`)
    })
    out.push(`kion_http_request_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`)
    out.push(`kion_http_request_duration_seconds_sum ${this.latencySum}`, `kion_http_request_duration_seconds_count ${this.latencyCount}`)
    if (st !== null) out.push('# HELP kion_store_keys Keys the store holds (Redis: keys this process added).', '# TYPE kion_store_keys gauge', `kion_store_keys{backend="${store.name}"} ${st.keys}`)
    if (st !== null && st.bytes !== null) out.push('# HELP kion_store_bytes Bytes the store holds.', '# TYPE kion_store_bytes gauge', `kion_store_bytes{backend="${store.name}"} ${st.bytes}`)
    out.push('# HELP kion_reserved_elsewhere_total Requests answered 503 while another process held some of their events reserved.', '# TYPE kion_reserved_elsewhere_total counter', `kion_reserved_elsewhere_total ${this.heldElsewhere}`)
    out.push('# HELP kion_client_aborts_total Requests whose client went away before sending its whole body.', '# TYPE kion_client_aborts_total counter', `kion_client_aborts_total ${this.clientAborts}`)
    out.push('# HELP kion_unauthorized_total Requests answered 401: no token, or a wrong one.', '# TYPE kion_unauthorized_total counter', `kion_unauthorized_total ${this.unauthorized}`)
    out.push('# HELP kion_body_timeouts_total Requests answered 408: the body did not arrive within --body-timeout.', '# TYPE kion_body_timeouts_total counter', `kion_body_timeouts_total ${this.bodyTimeouts}`)
    out.push('# HELP kion_connections_dropped_total Connections closed on arrival because --max-connections were open.', '# TYPE kion_connections_dropped_total counter', `kion_connections_dropped_total ${this.connectionsDropped}`)
    out.push('# HELP kion_backend_errors_total Requests the backend (store, or Kafka) failed (answered 503).', '# TYPE kion_backend_errors_total counter', `kion_backend_errors_total ${this.backendErrors}`)
    return out.join('\n') + '\n'
  }
}
