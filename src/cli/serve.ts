/** @module `kion-dedup serve`: the same key, window and stores as the main job, behind HTTP. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { createWriteStream, fsync, openSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { addKafkaOptions, addKeyOptions, addLeaseOption, addPostgresOptions, addStoreOptions, coreOptionsOf, openPgWriter, openStore, type BackendOptions, type KafkaCliOptions, type PostgresCliOptions } from './shared-options.js'
import { parseBytes, parseDuration, parsePositiveInt } from './parse.js'
import { tlsOf, tokenOf, TOKEN_ENV } from './secrets.js'
import { EXIT, UsageError } from './errors.js'
import type { CliIo } from './io.js'
import { jsonLog, onStopSignals, type Log } from './process-edges.js'
import { saveState } from '../store/memory/index.js'
import { StreamSink } from '../sink/index.js'
import { repairTornTail } from '../sink/torn-tail.js'
import type { CoreOptions } from '../core/dedup-core.js'
import { LocalBackend } from '../serve/local-backend.js'
import { DedupHttpServer, isLoopback, NETWORK_DEFAULTS, type HttpOptions } from '../serve/http-server.js'
import { ServeMetrics } from '../serve/metrics.js'

const fsyncAsync = promisify(fsync)

interface ServeCliOptions extends BackendOptions, KafkaCliOptions, PostgresCliOptions {
  lease: number
  to: 'out' | 'kafka' | 'postgres'
  port: number
  host: string
  out: string
  maxBody: number
  maxEventBytes: number
  allowMissing?: boolean
  logRequests?: boolean
  kafkaProducers: number
  tokenFile?: string
  tlsCert?: string
  tlsKey?: string
  bodyTimeout: number
  headerTimeout: number
  keepAliveTimeout: number
  maxConnections: number
}

/** A limit of time a client could not meet (under a second) is refused. */
function parseTimeout(text: string): number {
  const ms = parseDuration(text)
  if (ms < 1000) throw new InvalidArgumentError(`${text} is too short for a client on a real network; give a second or more`)
  return ms
}

const seconds = (ms: number) => `${ms / 1000}s`

/** The HTTP layer's settings from the command line; files (token, TLS) are read and checked here, before anything listens. */
function httpOptionsOf(opts: ServeCliOptions, io: CliIo, log: Log, onFatal: (e: Error) => void): HttpOptions {
  return {
    host: opts.host,
    port: opts.port,
    maxBodyBytes: opts.maxBody,
    logRequests: opts.logRequests === true,
    log,
    onFatal,
    token: tokenOf(opts.tokenFile, io.env),
    tls: tlsOf(opts.tlsCert, opts.tlsKey),
    bodyTimeoutMs: opts.bodyTimeout,
    headerTimeoutMs: opts.headerTimeout,
    keepAliveTimeoutMs: opts.keepAliveTimeout,
    maxConnections: opts.maxConnections,
  }
}

/** Says what is exposed when the server is reachable from other machines. */
function warnIfExposed(address: string, http: HttpOptions, log: Log): void {
  if (isLoopback(address)) return
  if (http.token === null) log({ level: 'warn', msg: `listening on ${address}, beyond this machine, without a token: anyone who reaches it can post events and read /metrics; set $${TOKEN_ENV} (or --token-file)`, host: address })
  else if (http.tls === null) log({ level: 'warn', msg: `listening on ${address} without TLS: the token and the events cross the network in clear; give --tls-cert and --tls-key, or put a TLS proxy in front`, host: address })
}

function parsePort(text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port number from 0 to 65535, got "${text}"`)
  return n
}

export function serveCommand(io: CliIo, done: (status: number) => void): Command {
  const cmd = new Command('serve')
    .description('take events as HTTP POSTs (one, or a batch); unique ones go to --out as NDJSON, each request answered with what its events were')
    .addOption(new Option('-p, --port <port>', 'port to listen on (0: any free one; the chosen port is logged)').argParser(parsePort).default(8080))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--out <file>', "where unique events go, as NDJSON ('-': stdout)", '-')
    .addOption(
      new Option(
        '--to <target>',
        "out: deduplicate here, unique events to --out; postgres: deduplicate here, unique events into a table (answered once committed); kafka: forward every valid event to --topic (answered 202 once the broker has it) for `consume` to deduplicate",
      )
        .choices(['out', 'postgres', 'kafka'])
        .default('out'),
    )
    .addOption(new Option('--max-body <size>', 'largest request body; a larger one is answered 413 without being read').argParser(parseBytes).default(1024 * 1024, '1m'))
    .addOption(new Option('--max-event-bytes <size>', 'longest event accepted in a batch').argParser(parseBytes).default(1024 * 1024, '1m'))
    .option('--log-requests', 'log one line per request (off: at thousands of requests a second it is noise)')
    .option('--token-file <file>', `a file holding the shared secret every request but GET /health must bring as "Authorization: Bearer <token>" (else 401); default: $${TOKEN_ENV}, or none asked`)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM, the chain after it); with --tls-key')
    .option('--tls-key <file>', "the certificate's private key (PEM); with --tls-cert")
    .addOption(new Option('--body-timeout <duration>', 'the longest a body may take to arrive once its headers are in; a slower one is answered 408').argParser(parseTimeout).default(NETWORK_DEFAULTS.bodyTimeoutMs, seconds(NETWORK_DEFAULTS.bodyTimeoutMs)))
    .addOption(new Option('--header-timeout <duration>', "the longest a client may take to send a request's headers").argParser(parseTimeout).default(NETWORK_DEFAULTS.headerTimeoutMs, seconds(NETWORK_DEFAULTS.headerTimeoutMs)))
    .addOption(new Option('--keep-alive-timeout <duration>', 'how long an idle connection is kept open for its next request').argParser(parseDuration).default(NETWORK_DEFAULTS.keepAliveTimeoutMs, seconds(NETWORK_DEFAULTS.keepAliveTimeoutMs)))
    .addOption(new Option('--max-connections <n>', 'connections open at once at most; one more is closed on arrival (and counted in /metrics)').argParser(parsePositiveInt).default(NETWORK_DEFAULTS.maxConnections))
    .addOption(new Option('--kafka-producers <n>', 'with --to kafka: sends in flight at once, each on its own idempotent producer').argParser(parsePositiveInt).default(3))
  addKeyOptions(cmd)
  addKafkaOptions(cmd, io.env)
  addLeaseOption(addStoreOptions(cmd, io.env))
  addPostgresOptions(cmd, '1s')
  return cmd
    .addHelpText(
      'after',
      `
Endpoints:
  POST /event    one event (JSON)          -> 200 {"status":"unique"|"duplicate","key":"<hex>"}
  POST /events   NDJSON or a JSON array    -> 200 {"unique":n,"duplicate":n,"rejected":n,"results":[...]}
  with --to kafka, 202 {"status":"accepted",...} and {"accepted":n,"rejected":n,...} once the broker has the events
  GET  /health   the process is up         GET /ready   the backend answers and the output is writable
  GET  /metrics  Prometheus text
  400 invalid JSON, 422 not an event (not an object, key field missing or ill-typed), 413 body too large,
  404/405 wrong path/method, 503 backend unavailable (with Retry-After; nothing acknowledged),
  401 no token or a wrong one (with a token set), 408 a body slower than --body-timeout.

Beyond this machine (--host 0.0.0.0): set a token ($${TOKEN_ENV}, at least 16 characters,
e.g. from \`openssl rand -hex 32\`) and serve TLS (--tls-cert/--tls-key) or put a TLS proxy in
front; serve warns at start when either is missing. GET /health answers without the token.

Examples:
  $ kion-dedup serve --port 8080 --out unique.ndjson
  $ kion-dedup serve --backend redis --redis-url redis://127.0.0.1:6379/0 --out unique.ndjson
  $ kion-dedup serve --to kafka --brokers 127.0.0.1:9092 --topic kion.events.raw
  $ PGURL=postgres://kion@127.0.0.1/analytics kion-dedup serve --to postgres --pg-retention 30d
  $ ${TOKEN_ENV}=$(cat /etc/kion/token) kion-dedup serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem`,
    )
    .action(async (opts: ServeCliOptions) => {
      done(await runServe(opts, io))
    })
}

export async function runServe(opts: ServeCliOptions, io: CliIo): Promise<number> {
  const log = jsonLog(io)
  let fatal: ((e: Error) => void) | null = null
  // Token and TLS files first: a server that could not protect itself as asked does not start.
  const http = httpOptionsOf(opts, io, log, (e) => fatal?.(e))
  if (opts.to === 'kafka') return runForwarder(opts, io, log, coreOptionsOf(opts), http)
  if (opts.to === 'postgres') return runToPostgres(opts, io, log, http)
  // Redis (when asked for) first: a backend that cannot be used fails before anything listens.
  // A server outlives Redis outages: it recovers in-process once Redis is back (the CLI stops instead).
  // A new key stays reserved for this server until the output holds its event: if the server dies
  // first, a client's retry (here or elsewhere) is answered unique once the lease runs out, not duplicate.
  const reserve = opts.backend === 'redis' ? { owner: randomBytes(6).toString('hex'), leaseMs: opts.lease, adopted: [] } : undefined
  const { store, exact, lock } = await openStore(opts, { recover: true, reserve })
  const toStdout = opts.out === '-'
  // Appended to: an event cut short by a crash or a full disk is dropped first (it was never acknowledged).
  const cut = toStdout ? 0 : repairTornTail(opts.out)
  if (cut > 0) log({ level: 'warn', msg: 'output ended mid-event: cut back to its last complete line', out: opts.out, cut_bytes: cut })
  const fd = toStdout ? null : openSync(opts.out, 'a')
  const out = fd === null ? io.stdout : createWriteStream(opts.out, { fd })
  const sink = new StreamSink(out, !toStdout, toStdout ? 'stdout' : opts.out)
  const backend = new LocalBackend(coreOptionsOf(opts), store, sink, fd === null ? null : () => fsyncAsync(fd))
  const metrics = new ServeMetrics()
  const server = new DedupHttpServer(http, backend, metrics)
  // Signals are taken from before the port is open: a SIGTERM the moment after it stops the server as any other.
  const stopped = untilStopped(io, log, (f) => (fatal = f))
  const address = await server.listen().catch(async (e: unknown) => {
    // Nothing was served: close what was opened (a Redis connection would keep the process alive).
    await store.close()
    lock?.release()
    throw e
  })
  log({ level: 'info', msg: 'listening', host: address.address, port: address.port, backend: store.name, out: opts.out, tls: http.tls !== null, token: http.token !== null })
  warnIfExposed(address.address, http, log)

  const signal = await stopped
  const failed = signal.startsWith('error: ')
  log({ level: failed ? 'error' : 'info', msg: 'stopping', reason: signal })
  // Stop accepting, finish what is in flight (each answered only once written), then flush and save.
  await server.shutdown()
  await backend.close()
  if (failed) {
    // The output failed after keys were remembered: saving --state would make their retries duplicates.
    await store.close()
    lock?.release()
    log({ level: 'error', msg: 'stopped: output failed; --state not saved' })
    return EXIT.failure
  }
  await sink.close()
  if (opts.state !== undefined && exact !== null) saveState(opts.state, exact, opts.key, opts.clock)
  await store.close()
  lock?.release()
  const m = metrics.events
  log({ level: 'info', msg: 'stopped', unique: m.unique, duplicate: m.duplicate, rejected: m.rejected })
  return EXIT.ok
}

/** Resolves with the first SIGINT/SIGTERM's name, or `error: ...` when the server reports a fatal error. */
function untilStopped(io: CliIo, log: Log, onFatal: (fatal: (e: Error) => void) => void): Promise<string> {
  return new Promise<string>((resolve) => {
    onFatal((e) => resolve(`error: ${e.message}`))
    // A second signal while requests still wait (on a backend that does not answer): go now.
    onStopSignals(io, resolve, (name) => log({ level: 'warn', msg: `second ${name}: exiting without waiting`, state_saved: false }))
  })
}

/** serve --to kafka: the same HTTP API, each valid event forwarded to the raw topic instead of checked here. */
async function runForwarder(opts: ServeCliOptions, io: CliIo, log: Log, coreOptions: CoreOptions, http: HttpOptions): Promise<number> {
  if (opts.backend !== 'memory' || opts.state !== undefined || opts.approx === true) throw new UsageError('serve --to kafka checks nothing itself: the store options belong to `consume`')
  if (opts.out !== '-') throw new UsageError('serve --to kafka writes to the raw topic, not --out: `consume --out` writes the unique events')
  // Loaded here only: the Kafka client is large, and no other serve needs it.
  const [{ KafkaForwarder }, { KafkaBackend }, { KafkaUnavailableError }] = await Promise.all([import('../kafka/forwarder.js'), import('../serve/kafka-backend.js'), import('../kafka/client.js')])
  const forwarder = new KafkaForwarder({ brokers: opts.brokers, clientId: 'kion-dedup-serve', timeoutMs: opts.kafkaTimeout, compression: opts.compression }, opts.topic, opts.kafkaTimeout, opts.kafkaProducers)
  // The broker first, as with Redis: a server that cannot forward fails before it listens.
  try {
    await forwarder.ready()
  } catch (e) {
    await forwarder.close()
    throw new KafkaUnavailableError(`${(e as Error).message} (brokers ${opts.brokers.join(',')})`)
  }
  const metrics = new ServeMetrics()
  const server = new DedupHttpServer(http, new KafkaBackend(coreOptions, forwarder), metrics)
  // Signals are taken from before the port is open: a SIGTERM the moment after it stops the server as any other.
  const stopped = untilStopped(io, log, () => {})
  const address = await server.listen().catch(async (e: unknown) => {
    await forwarder.close()
    throw e
  })
  log({ level: 'info', msg: 'listening', host: address.address, port: address.port, to: 'kafka', brokers: opts.brokers.join(','), topic: opts.topic, tls: http.tls !== null, token: http.token !== null })
  warnIfExposed(address.address, http, log)
  const signal = await stopped
  log({ level: 'info', msg: 'stopping', reason: signal })
  await server.shutdown()
  await forwarder.close()
  log({ level: 'info', msg: 'stopped', accepted: metrics.events.accepted, rejected: metrics.events.rejected })
  return EXIT.ok
}

/**
 * serve --to postgres: checked here, unique events stored in a table by group commit, each request
 * answered once its transaction is committed; 503 while the database is away, recovering by itself.
 */
async function runToPostgres(opts: ServeCliOptions, io: CliIo, log: Log, http: HttpOptions): Promise<number> {
  if (opts.out !== '-') throw new UsageError('serve --to postgres stores unique events in a table, not --out: choose one')
  // The database first, then the store: either one unusable fails before anything listens.
  const writer = await openPgWriter(opts, io.env, log)
  const opened = await openStore(opts, { recover: true }).catch(async (e: unknown) => {
    await writer.close()
    throw e
  })
  const { store, exact, lock } = opened
  const { PostgresBackend } = await import('../serve/postgres-backend.js')
  const backend = new PostgresBackend(coreOptionsOf(opts), store, writer)
  const metrics = new ServeMetrics()
  const server = new DedupHttpServer(http, backend, metrics)
  // Signals are taken from before the port is open: a SIGTERM the moment after it stops the server as any other.
  const stopped = untilStopped(io, log, () => {})
  const address = await server.listen().catch(async (e: unknown) => {
    await backend.close()
    await store.close()
    lock?.release()
    throw e
  })
  log({ level: 'info', msg: 'listening', host: address.address, port: address.port, backend: store.name, to: 'postgres', pg: writer.where, table: writer.names.events, tls: http.tls !== null, token: http.token !== null })
  warnIfExposed(address.address, http, log)
  const signal = await stopped
  log({ level: 'info', msg: 'stopping', reason: signal })
  await server.shutdown()
  await backend.close()
  if (opts.state !== undefined && exact !== null) {
    // Keys of events whose commit failed would make their retries duplicates after a restart.
    if (backend.unstored.size > 0) log({ level: 'warn', msg: 'state not saved: some remembered keys belong to events whose commit failed', keys: backend.unstored.size, state: opts.state })
    else saveState(opts.state, exact, opts.key, opts.clock)
  }
  await store.close()
  lock?.release()
  const m = metrics.events
  log({ level: 'info', msg: 'stopped', unique: m.unique, duplicate: m.duplicate, rejected: m.rejected, commits: backend.commits })
  return EXIT.ok
}
