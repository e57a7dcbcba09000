/** @module `serve`'s HTTP layer (node:http): routes, limits, answers; the work is the backend's (local checker or Kafka forwarder). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BodyError, HeldElsewhere, OutputFailure, type EventOutcome, type ServeBackend } from './backend.js'
import type { ServeMetrics } from './metrics.js'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { SLICE_EVENTS } from '../core/dedup-core.js'

export interface HttpOptions {
  host: string
  port: number
  maxBodyBytes: number
  /** One log line a request (off by default: at thousands of requests a second it is noise). */
  logRequests: boolean
  /** Structured logging: one JSON object a line. */
  log: (record: Record<string, unknown>) => void
  /** The output failed: nothing more can be acknowledged; the server must stop. */
  onFatal: (error: Error) => void
}

const ROUTES: Record<string, string> = { '/event': 'POST', '/events': 'POST', '/health': 'GET', '/ready': 'GET', '/metrics': 'GET' }
/** Seconds a client is asked to wait before retrying after a 503. */
const RETRY_AFTER_S = 1

class BodyTooLarge extends Error {}

/** The client went away before its body was in (a dropped connection, a killed client): nothing to answer. */
class ClientAborted extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        req.removeAllListeners('data')
        req.pause()
        reject(new BodyTooLarge())
        return
      }
      chunks.push(c)
    })
    let ended = false
    req.on('end', () => {
      ended = true
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
    })
    req.on('error', (e) => reject(req.destroyed && !ended ? new ClientAborted(e.message) : e))
    req.on('close', () => {
      if (!ended) reject(new ClientAborted('the connection closed before the body ended'))
    })
    // A client gone mid-body (or cut off at shutdown) ends the wait too.
    req.on('close', () => {
      if (!req.complete) reject(new Error('the client went away before sending its whole body'))
    })
  })
}

export class DedupHttpServer {
  private readonly server: Server
  private inflight = 0
  /** Requests whose body is still arriving. */
  private readonly receiving = new Set<IncomingMessage>()
  private idle: (() => void) | null = null

  constructor(
    private readonly options: HttpOptions,
    private readonly backend: ServeBackend,
    private readonly metrics: ServeMetrics,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res))
    // A client that asks before sending a large body (Expect: 100-continue) is told 413 before it sends it.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = req.headers['content-length']
      // A chunked body (no length) is let in and counted as it comes.
      if (declared === undefined || Number(declared) <= this.options.maxBodyBytes) res.writeContinue()
      void this.handle(req, res)
    })
    this.server.keepAliveTimeout = 30_000
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port, this.options.host, () => resolve(this.server.address() as AddressInfo))
    })
  }

  /**
   * Stops accepting, lets requests in flight finish, closes the connections. A request still
   * not finished after `graceMs` (a client that stopped sending its body) is cut off unanswered.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeIdleConnections()
    if (this.inflight > 0) {
      // Only requests still receiving their body are cut off: one being checked or written finishes.
      const timer = setTimeout(() => {
        for (const req of this.receiving) req.socket.destroy()
      }, graceMs)
      await new Promise<void>((resolve) => (this.idle = resolve))
      clearTimeout(timer)
    }
    this.server.closeAllConnections()
    await closed
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now()
    const path = (req.url ?? '/').split('?')[0]
    const method = ROUTES[path]
    let status: number
    this.inflight++
    try {
      if (method === undefined) status = this.send(res, 404, { error: `no such path: ${path}; try POST /event, POST /events, GET /health, /ready or /metrics` })
      else if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
        res.setHeader('allow', method)
        status = this.send(res, 405, { error: `${path} takes ${method}, not ${req.method}` })
      } else if (path === '/health') status = this.send(res, 200, { status: 'ok' })
      else if (path === '/ready') status = await this.ready(res)
      else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        res.end(this.metrics.render(this.backend))
        status = 200
      } else status = await this.post(req, res, path === '/event')
    } catch (e) {
      if (e instanceof ClientAborted) {
        // The client's doing, not the server's: counted apart, and no error line for each.
        this.metrics.clientAborts++
        if (this.options.logRequests) this.options.log({ level: 'debug', msg: 'client went away mid-body', path, error: e.message })
        return
      }
      this.options.log({ level: 'error', msg: 'request failed', path, error: e instanceof Error ? e.message : String(e) })
      status = res.headersSent ? res.statusCode : this.send(res, 500, { error: 'internal error' })
    } finally {
      this.inflight--
      if (this.inflight === 0) this.idle?.()
    }
    const seconds = (performance.now() - started) / 1000
    this.metrics.request(method === undefined ? 'other' : path, status, seconds)
    if (this.options.logRequests) this.options.log({ level: 'info', msg: 'request', method: req.method, path, status, ms: Math.round(seconds * 1e4) / 10 })
  }

  private async post(req: IncomingMessage, res: ServerResponse, single: boolean): Promise<number> {
    const max = this.options.maxBodyBytes
    const declared = Number(req.headers['content-length'])
    if (declared > max) return this.tooLarge(req, res, max)
    let body: Buffer
    this.receiving.add(req)
    try {
      body = await readBody(req, max)
    } catch (e) {
      if (e instanceof BodyTooLarge) return this.tooLarge(req, res, max)
      throw e
    } finally {
      this.receiving.delete(req)
    }
    let outcomes: EventOutcome[]
    try {
      outcomes = await this.backend.check(body, single)
    } catch (e) {
      if (e instanceof BodyError) return this.send(res, 400, { error: e.message })
      if (e instanceof OutputFailure) {
        this.options.onFatal(e)
        return this.send(res, 500, { error: e.message })
      }
      if (e instanceof HeldElsewhere) {
        this.metrics.heldElsewhere++
        res.setHeader('retry-after', String(RETRY_AFTER_S))
        return this.send(res, 503, { error: e.message })
      }
      // The backend failed: nothing of this request was acknowledged or written; the client retries.
      this.metrics.backendErrors++
      this.options.log({ level: 'error', msg: 'backend unavailable', error: e instanceof Error ? e.message : String(e) })
      res.setHeader('retry-after', String(RETRY_AFTER_S))
      return this.send(res, 503, { error: `backend unavailable: ${e instanceof Error ? e.message : String(e)}` })
    }
    // 202: forwarded to Kafka, deduplicated later by `consume`; 200: answered here.
    const ok = this.backend.acceptedStatus
    const events = this.metrics.events
    if (single) {
      const o = outcomes[0]
      events[o.status]++
      return o.status === 'rejected' ? this.send(res, o.code, { error: o.error }) : this.send(res, ok, o)
    }
    const counts = { unique: 0, duplicate: 0, accepted: 0, rejected: 0 }
    for (const o of outcomes) counts[o.status]++
    events.unique += counts.unique
    events.duplicate += counts.duplicate
    events.accepted += counts.accepted
    events.rejected += counts.rejected
    const shown: Partial<typeof counts> = { ...counts }
    if (ok === 202) {
      delete shown.unique
      delete shown.duplicate
    } else delete shown.accepted
    return this.sendResults(res, ok, shown, outcomes)
  }

  /**
   * The answer to a batch: its counts and each event's outcome. Serialised SLICE_EVENTS outcomes
   * at a time with a turn of the event loop between: a 100,000-event answer is megabytes of JSON.
   */
  private async sendResults(res: ServerResponse, status: number, counts: Record<string, number>, outcomes: readonly EventOutcome[]): Promise<number> {
    const head = JSON.stringify(counts)
    const parts: string[] = [`${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"results":[`]
    for (let from = 0; from < outcomes.length; from += SLICE_EVENTS) {
      if (from > 0) await nextTurn()
      const slice = outcomes.slice(from, from + SLICE_EVENTS).map((o, i) => (o.status === 'rejected' ? { index: from + i, status: o.status, code: o.code, error: o.error } : o))
      const text = JSON.stringify(slice)
      parts.push(from > 0 ? ',' + text.slice(1, -1) : text.slice(1, -1))
    }
    parts.push(']}')
    let length = 0
    for (const p of parts) length += Buffer.byteLength(p)
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(length)])
    for (const p of parts) res.write(p)
    res.end()
    return status
  }

  /** 413 without reading the rest: the connection is closed after the answer. */
  private tooLarge(req: IncomingMessage, res: ServerResponse, max: number): number {
    res.setHeader('connection', 'close')
    const status = this.send(res, 413, { error: `body larger than --max-body (${max} bytes)` })
    res.on('finish', () => req.socket.destroy())
    return status
  }

  private async ready(res: ServerResponse): Promise<number> {
    const failed = await this.backend.ready().then(
      () => null,
      (e: unknown) => e,
    )
    if (failed === null) return this.send(res, 200, { status: 'ready' })
    // A failed output does not come back: no Retry-After.
    if (failed instanceof OutputFailure) return this.send(res, 503, { status: 'not ready', output: 'not writable' })
    res.setHeader('retry-after', String(RETRY_AFTER_S))
    return this.send(res, 503, { status: 'not ready', backend: failed instanceof Error ? failed.message : String(failed) })
  }

  private send(res: ServerResponse, status: number, body: unknown): number {
    const text = JSON.stringify(body)
    // Headers as a flat array: no object to copy, no lower-casing pass (an answer a request).
    res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(text))])
    res.end(text)
    return status
  }
}
