/** @module `serve`'s HTTP layer (node:http): routes, limits, answers; the work is the backend's (local checker or Kafka forwarder). */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createHash, timingSafeEqual } from 'node:crypto'
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
  /** The shared secret every request but GET /health must bring as `Authorization: Bearer <token>`; null: none is asked. */
  token: string | null
  /** Serve HTTPS with this certificate (chain) and private key, PEM; null: plain HTTP. */
  tls: { cert: Buffer; key: Buffer } | null
  /** The longest a request's body may take to arrive once its headers are in (a stalled body is answered 408). */
  bodyTimeoutMs: number
  /** The longest a client may take to send a request's headers (Node answers 408 and closes). */
  headerTimeoutMs: number
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: number
  /** Connections open at once at most; one more is closed as soon as it is accepted. */
  maxConnections: number
}

/** The network limits' defaults (serve's options show them). */
export const NETWORK_DEFAULTS = { bodyTimeoutMs: 30_000, headerTimeoutMs: 10_000, keepAliveTimeoutMs: 30_000, maxConnections: 1024 } as const

/** GET /health answers without a token: a load balancer's liveness probe carries none, and it tells nothing. */
const OPEN_PATHS = new Set(['/health'])

const ROUTES: Record<string, string> = { '/event': 'POST', '/events': 'POST', '/health': 'GET', '/ready': 'GET', '/metrics': 'GET' }
/** Seconds a client is asked to wait before retrying after a 503. */
const RETRY_AFTER_S = 1

class BodyTooLarge extends Error {}

/** The body did not arrive within --body-timeout. */
class BodyTimedOut extends Error {}

/** The client went away before its body was in (a dropped connection, a killed client): nothing to answer. */
class ClientAborted extends Error {}

function readBody(req: IncomingMessage, max: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const stop = (e: Error) => {
      clearTimeout(timer)
      req.removeAllListeners('data')
      req.pause()
      reject(e)
    }
    const timer = setTimeout(() => stop(new BodyTimedOut()), timeoutMs)
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        stop(new BodyTooLarge())
        return
      }
      chunks.push(c)
    })
    let ended = false
    req.on('end', () => {
      ended = true
      clearTimeout(timer)
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size))
    })
    req.on('error', (e) => {
      clearTimeout(timer)
      reject(req.destroyed && !ended ? new ClientAborted(e.message) : e)
    })
    // A client gone mid-body (or cut off at shutdown) ends the wait too.
    req.on('close', () => {
      clearTimeout(timer)
      if (!ended) reject(new ClientAborted('the connection closed before the body ended'))
    })
  })
}

/** The request's path, without its query. */
function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]
}

/** Whether the server listens on this machine only. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.')
}

export class DedupHttpServer {
  private readonly server: Server | HttpsServer
  /** SHA-256 of the token: compared with the hash of what a request brings, in constant time whatever its length. */
  private readonly tokenDigest: Buffer | null
  private inflight = 0
  /** Requests whose body is still arriving. */
  private readonly receiving = new Set<IncomingMessage>()
  private idle: (() => void) | null = null

  constructor(
    private readonly options: HttpOptions,
    private readonly backend: ServeBackend,
    private readonly metrics: ServeMetrics,
  ) {
    const o = options
    this.tokenDigest = o.token === null ? null : createHash('sha256').update(o.token).digest()
    const limits: ServerOptions = {
      headersTimeout: o.headerTimeoutMs,
      // Node's own bound on a whole request, behind the body's timer (readBody), which answers first.
      requestTimeout: o.headerTimeoutMs + o.bodyTimeoutMs + 1000,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      // How often Node looks for a header timeout: its default (30 s) would make a 10 s limit up to 40.
      connectionsCheckingInterval: Math.min(1000, o.headerTimeoutMs),
    }
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res)
    this.server = o.tls === null ? createServer(limits, handler) : createHttpsServer({ ...limits, cert: o.tls.cert, key: o.tls.key }, handler)
    this.server.maxConnections = o.maxConnections
    this.server.on('drop', () => {
      // Counted, and logged once: under a flood, one line a refused connection would be a flood of its own.
      if (this.metrics.connectionsDropped++ === 0) this.options.log({ level: 'warn', msg: 'a connection was refused: --max-connections are open; /metrics counts the others', max_connections: o.maxConnections })
    })
    // A client that asks before sending a large body (Expect: 100-continue) is told 413 before it sends it.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      const declared = req.headers['content-length']
      // A chunked body (no length) is let in and counted as it comes.
      // Nor is a body asked for that will be refused for want of the token.
      const admitted = this.tokenDigest === null || OPEN_PATHS.has(pathOf(req)) || this.authorized(req)
      if (admitted && (declared === undefined || Number(declared) <= this.options.maxBodyBytes)) res.writeContinue()
      void this.handle(req, res)
    })
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
    const path = pathOf(req)
    const method = ROUTES[path]
    let status: number
    this.inflight++
    try {
      if (method === undefined) status = this.send(res, 404, { error: `no such path: ${path}; try POST /event, POST /events, GET /health, /ready or /metrics` })
      else if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
        res.setHeader('allow', method)
        status = this.send(res, 405, { error: `${path} takes ${method}, not ${req.method}` })
      } else if (this.tokenDigest !== null && !OPEN_PATHS.has(path) && !this.authorized(req)) status = this.unauthorized(req, res)
      else if (path === '/health') status = this.send(res, 200, { status: 'ok' })
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
      body = await readBody(req, max, this.options.bodyTimeoutMs)
    } catch (e) {
      if (e instanceof BodyTooLarge) return this.tooLarge(req, res, max)
      if (e instanceof BodyTimedOut) {
        this.metrics.bodyTimeouts++
        return this.answerAndClose(req, res, 408, `the body did not arrive within --body-timeout (${this.options.bodyTimeoutMs} ms)`)
      }
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
    return this.answerAndClose(req, res, 413, `body larger than --max-body (${max} bytes)`)
  }

  /** An answer to a request whose body is not read (or not all of it): the connection is closed after it. */
  private answerAndClose(req: IncomingMessage, res: ServerResponse, status: number, error: string): number {
    res.setHeader('connection', 'close')
    this.send(res, status, { error })
    res.on('finish', () => req.socket.destroy())
    return status
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization
    if (header === undefined || !/^bearer /i.test(header)) return false
    const given = createHash('sha256').update(header.slice(7).trim()).digest()
    return timingSafeEqual(given, this.tokenDigest!)
  }

  /** 401 before any body is read; the body is not wanted, so the connection closes after the answer. */
  private unauthorized(req: IncomingMessage, res: ServerResponse): number {
    this.metrics.unauthorized++
    res.setHeader('www-authenticate', 'Bearer realm="kion-dedup"')
    const error = req.headers.authorization === undefined ? 'this server asks for a token: Authorization: Bearer <token>' : 'wrong token'
    if (req.method === 'GET' || req.method === 'HEAD') return this.send(res, 401, { error })
    return this.answerAndClose(req, res, 401, error)
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
