/**
 * @module The open-loop load generator: requests leave on the clock's schedule, not after the
 * previous answer, and latency is measured from each request's scheduled start, so a stalled
 * server cannot hide its stall (coordinated omission).
 */
import { Agent, request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import * as hdr from 'hdr-histogram-js'
import type { ReplayEvent } from './events.js'

export interface RunOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:8080. */
  url: string
  rps: number
  /** Requests to send (the run lasts requests / rps seconds). */
  requests: number
  /** Most requests in flight at once (and connections). */
  concurrency: number
  /** Share of requests that re-send an event sent before, as a retrying client would. */
  dupRate: number
  /** Events a request: 1 posts to /event, more to /events as NDJSON. */
  batch: number
  timeoutMs: number
  /** Sent as `Authorization: Bearer <token>` (a serve started with a token); null or absent: none. */
  token?: string | null
  /** For an https:// URL: the certificate authority (PEM) to trust besides the system's, e.g. a self-signed server's own certificate. */
  ca?: Buffer
  /** Where events come from; pass one across runs (--find-max steps) to go on through the file. */
  picker?: EventPicker
  /** Called about once a second while running. */
  onTick?: (s: { sent: number; done: number; elapsedS: number; p99Ms: number; errors: number }) => void
}

/** Answers per key across the whole of one replay, for the correctness check. */
export class AnswerLedger {
  private readonly uniqueAnswers = new Map<string, number>()
  private readonly answered = new Set<string>()
  /** Keys sent in a request whose outcome is unknown (a timeout, a dropped connection, a 5xx): the server may have seen them. */
  private readonly unsure = new Set<string>()
  wrongKeys = 0

  uncertain(key: string | null): void {
    if (key !== null) this.unsure.add(key)
  }

  record(expectedKey: string | null, answer: { status?: unknown; key?: unknown }): 'unique' | 'duplicate' | 'accepted' | 'rejected' | 'other' {
    const status = answer.status
    if (status === 'rejected' || expectedKey === null) return status === 'rejected' ? 'rejected' : 'other'
    // serve --to kafka: deduplicated later, by `consume`; only the key can be checked here.
    if (status === 'accepted') {
      if (answer.key !== expectedKey) this.wrongKeys++
      return 'accepted'
    }
    if (status !== 'unique' && status !== 'duplicate') return 'other'
    if (answer.key !== expectedKey) this.wrongKeys++
    this.answered.add(expectedKey)
    if (status === 'unique') this.uniqueAnswers.set(expectedKey, (this.uniqueAnswers.get(expectedKey) ?? 0) + 1)
    return status
  }

  /** Keys answered "unique" more than once (a duplicate let through), and keys answered but never "unique" (a unique event lost, or a server that knew them already). */
  check(): { keys: number; uniqueTwice: number; neverUnique: number } {
    let uniqueTwice = 0
    let neverUnique = 0
    for (const k of this.answered) {
      const n = this.uniqueAnswers.get(k) ?? 0
      if (n > 1) uniqueTwice++
      if (n === 0 && !this.unsure.has(k)) neverUnique++
    }
    return { keys: this.answered.size, uniqueTwice, neverUnique }
  }
}

export interface RunResult {
  target_rps: number
  duration_s: number
  requests: number
  completed: number
  achieved_rps: number
  latency_ms: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number }
  /** Requests sent more than 10 ms after their scheduled time (the concurrency cap, or a busy client). */
  sent_late: number
  status: Record<string, number>
  errors: { timeout: number; connection: number; http: number }
  /** accepted: forwarded to Kafka by serve --to kafka (202). */
  answers: { unique: number; duplicate: number; accepted: number; rejected: number; other: number }
}

/** Picks what each request carries: the file's events in order (looping), or with `dupRate` an event sent before. */
export class EventPicker {
  private next = 0
  private sentCount = 0
  private seed = 0x9e3779b9

  constructor(
    private readonly events: readonly ReplayEvent[],
    private readonly dupRate: number,
    /** The first event to send (0-based; past the end it wraps). */
    skip = 0,
  ) {
    this.next = events.length === 0 ? 0 : skip % events.length
  }

  private random(): number {
    // xorshift32: reproducible runs without a dependency.
    let x = this.seed
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.seed = x >>> 0
    return this.seed / 2 ** 32
  }

  pick(): ReplayEvent {
    if (this.sentCount > 0 && this.random() < this.dupRate) return this.events[Math.floor(this.random() * Math.min(this.sentCount, this.events.length))]
    const e = this.events[this.next]
    this.next = (this.next + 1) % this.events.length
    this.sentCount++
    return e
  }
}

export async function runReplay(events: readonly ReplayEvent[], o: RunOptions, ledger: AnswerLedger): Promise<RunResult> {
  if (events.length === 0) throw new Error('no events to send')
  const base = new URL(o.url)
  const path = o.batch > 1 ? '/events' : '/event'
  const tls = base.protocol === 'https:'
  const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets: o.concurrency, ca: o.ca }) : new Agent({ keepAlive: true, maxSockets: o.concurrency })
  const post: (options: RequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest = tls ? httpsRequest : request
  const authorization = o.token == null ? null : `Bearer ${o.token}`
  const latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })
  const status: Record<string, number> = {}
  const errors = { timeout: 0, connection: 0, http: 0 }
  const answers = { unique: 0, duplicate: 0, accepted: 0, rejected: 0, other: 0 }
  const picker = o.picker ?? new EventPicker(events, o.dupRate)
  const interval = 1000 / o.rps
  let inflight = 0
  let sent = 0
  let done = 0
  let sentLate = 0
  let wake: (() => void) | null = null
  const start = performance.now()

  const send = (scheduled: number) => {
    const carried = Array.from({ length: o.batch }, () => picker.pick())
    const body = o.batch > 1 ? Buffer.concat(carried.flatMap((e) => [e.text, Buffer.from('\n')])) : carried[0].text
    inflight++
    let finished = false
    const finish = (code: string, reply: string | null) => {
      // A request destroyed after its headers came reports on both the request and the response.
      if (finished) return
      finished = true
      // From the scheduled start, not the actual send: time spent waiting to be sent is latency too.
      latency.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)))
      status[code] = (status[code] ?? 0) + 1
      if (reply === null || (code !== '200' && code !== '202')) for (const e of carried) ledger.uncertain(e.key)
      if (reply !== null) {
        try {
          const json = JSON.parse(reply) as { status?: unknown; key?: unknown; results?: Array<{ status?: unknown; key?: unknown }> }
          const list = o.batch > 1 ? (json.results ?? []) : [json]
          carried.forEach((e, i) => answers[ledger.record(e.key, list[i] ?? {})]++)
        } catch {
          answers.other += carried.length
        }
      }
      inflight--
      done++
      wake?.()
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length }
    if (authorization !== null) headers.authorization = authorization
    const req = post(
      { host: base.hostname, port: base.port, path, method: 'POST', agent, headers },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const code = String(res.statusCode)
          if (res.statusCode !== 200 && res.statusCode !== 202) errors.http++
          finish(code, Buffer.concat(chunks).toString())
        })
        res.on('error', () => finish('error', null))
      },
    )
    req.setTimeout(o.timeoutMs, () => req.destroy(new Error('timeout')))
    req.on('error', (e) => {
      if (e.message === 'timeout') errors.timeout++
      else errors.connection++
      finish(e.message === 'timeout' ? 'timeout' : 'connection', null)
    })
    req.end(body)
  }

  let lastTick = start
  while (sent < o.requests) {
    const now = performance.now()
    const due = Math.min(o.requests, Math.floor((now - start) / interval) + 1)
    while (sent < due && inflight < o.concurrency) {
      const scheduled = start + sent * interval
      if (now - scheduled > 10) sentLate++
      send(scheduled)
      sent++
    }
    if (o.onTick && now - lastTick >= 1000) {
      lastTick = now
      o.onTick({ sent, done, elapsedS: (now - start) / 1000, p99Ms: latency.getValueAtPercentile(99) / 1000, errors: errors.timeout + errors.connection + errors.http })
    }
    if (sent >= o.requests) break
    // Until the next request is due, or (when the cap holds requests back) until a slot frees.
    const capped = inflight >= o.concurrency
    const wait = capped ? 50 : Math.max(0, Math.min(start + sent * interval - performance.now(), 50))
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, wait)
      wake = capped ? () => (clearTimeout(t), resolve()) : null
    })
    wake = null
  }
  while (inflight > 0) await new Promise<void>((resolve) => (wake = resolve))
  const seconds = (performance.now() - start) / 1000
  agent.destroy()
  const result: RunResult = {
    target_rps: o.rps,
    duration_s: Math.round(seconds * 1000) / 1000,
    requests: o.requests,
    completed: done,
    achieved_rps: Math.round(done / seconds),
    latency_ms: latencySummary(latency),
    sent_late: sentLate,
    status,
    errors,
    answers,
  }
  latency.destroy()
  return result
}

/** What percentiles need of a histogram (hdr-histogram-js). */
interface LatencyHistogram {
  getValueAtPercentile(p: number): number
  readonly maxValue: number
  readonly mean: number
}

/**
 * Percentiles in ms from a histogram of µs. HDR answers a percentile with the top of its value's
 * bucket, which can lie above the largest value recorded (a p99.9 of 217.855 over a max of
 * 217.752): each is capped at the max, the one latency known exactly.
 */
export function latencySummary(h: LatencyHistogram): RunResult['latency_ms'] {
  const max = h.maxValue
  const at = (p: number) => Math.round(Math.min(h.getValueAtPercentile(p), max)) / 1000
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: Math.round(max) / 1000, mean: Math.round(h.mean) / 1000 }
}
