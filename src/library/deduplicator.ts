/**
 * @module The library API: a Deduplicator answers "duplicate or not" for one event or a batch,
 * through the same core (framing, key, store, settle) as the CLI, serve and consume.
 *
 * @example
 * import { Deduplicator } from 'kion-dedup'
 * const dedup = await Deduplicator.open({ backend: 'redis', redisUrl: 'redis://127.0.0.1:6379/0', window: '7d' })
 * const r = await dedup.check(eventJsonOrObject)   // { status: 'unique' | 'duplicate' | 'rejected', key, ... }
 * await dedup.close()
 */
import { DedupCore, type Clock } from '../core/dedup-core.js'
import { durationMs } from '../core/duration.js'
import { keyHex } from '../core/settle.js'
import { DEFAULT_KEY_FIELDS } from '../key/canonical.js'
import type { Store, StoreStats } from '../store.js'
import { openStore, type BackendName, type OpenedStore } from '../store/open.js'
import type { StateLock } from '../store/memory/state-lock.js'
import { saveState, type MemoryStore } from '../store/memory/index.js'
import type { RedisLayoutName } from '../store/redis/index.js'
import { DedupBackendError, DedupClosedError, DedupError, DedupOptionsError } from '../errors.js'

export interface DeduplicatorOptions {
  /** Where seen keys are remembered: this process (`memory`, the default) or a Redis shared by any number of processes. */
  backend?: BackendName
  /** The fields that make two events the same; default the six of the seed (`DEFAULT_KEY_FIELDS`). */
  keyFields?: readonly string[]
  /** A missing key field counts as null instead of rejecting the event. */
  allowMissing?: boolean
  /** How long a key is remembered: `'7d'`, `'36h'`, … or milliseconds. Default 7 days. */
  window?: string | number
  /** `ingest` (default): the window runs on arrival time; `event`: on each event's `timeField`. */
  clock?: Clock
  /** The event time field for `clock: 'event'`; default `event_datetime`. */
  timeField?: string
  /** The wall clock (ms since the epoch) for the ingest clock; default Date.now. Tests set their own. */
  now?: () => number
  /** Longest event accepted, in bytes; default 64 MiB. */
  maxEventBytes?: number
  /** Memory: keep where recent keys were first seen, for `firstSeen` in duplicates (a fixed 2 MiB cache). Default true. */
  firstSeen?: boolean
  /** Memory: Bloom filters instead of the exact store; a share `fpRate` of unique events is then dropped. */
  approx?: boolean
  fpRate?: number
  /** Memory: a state file to load at open (when it exists) and save at close. */
  state?: string
  redisUrl?: string
  redisCluster?: boolean
  redisLayout?: RedisLayoutName
  /** Prefix of every Redis key, so that several pipelines can share one Redis; default `kion:`. */
  keyPrefix?: string
  redisSets?: number
  redisBuckets?: number
  /** How long a call waits for a lost Redis to come back before it fails with DedupBackendError; default 10s. */
  redisRetry?: string | number
}

/** An event: its JSON text (string or bytes), or a plain object (keyed as its JSON text would be). */
export type EventInput = string | Uint8Array | object

export type CheckResult =
  | { status: 'unique'; key: string }
  /** firstSeen: the 1-based number (counted by this Deduplicator) of the check where the key was first seen; null when unknown (another process, a state file, Redis). */
  | { status: 'duplicate'; key: string; firstSeen: number | null }
  | { status: 'rejected'; key: null; reason: string }

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'

export class Deduplicator {
  private readonly core: DedupCore
  /** Events checked so far: the numbering that `firstSeen` refers to. */
  private checked = 0
  private closing: Promise<void> | null = null
  private readonly inflight = new Set<Promise<unknown>>()

  private constructor(
    private readonly store: Store,
    private readonly exact: MemoryStore | null,
    private readonly lock: StateLock | null,
    private readonly settings: Settings,
  ) {
    this.core = new DedupCore(
      { keying: { keyFields: settings.keyFields, allowMissing: settings.allowMissing, timeField: settings.clock === 'event' ? settings.timeField : null }, clock: settings.clock, maxEventBytes: settings.maxEventBytes, now: settings.now },
      store,
    )
  }

  /** Opens the store (for Redis: connects and checks its layout); throws DedupOptionsError or DedupBackendError. */
  static async open(options: DeduplicatorOptions = {}): Promise<Deduplicator> {
    const s = settingsOf(options)
    let opened: OpenedStore
    try {
      opened = await openStore({
        backend: s.backend,
        windowMs: s.windowMs,
        clock: s.clock,
        keyFields: s.keyFields,
        timeField: s.timeField,
        firstSeen: options.firstSeen ?? true,
        approx: options.approx === true,
        fpRate: options.fpRate ?? 0.001,
        state: options.state,
        redis: {
          url: options.redisUrl ?? DEFAULT_REDIS_URL,
          cluster: options.redisCluster === true,
          layout: options.redisLayout ?? 'compact',
          prefix: options.keyPrefix ?? 'kion:',
          sets: options.redisSets ?? 65536,
          buckets: options.redisBuckets ?? 8,
          retryMs: s.redisRetryMs,
        },
        // A long-lived caller retries: a batch whose answer was lost is answered unique again once Redis is back.
        recover: true,
      })
    } catch (e) {
      if (e instanceof DedupError) throw e
      throw new DedupBackendError(`cannot open the ${s.backend} store: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
    }
    return new Deduplicator(opened.store, opened.exact, opened.lock, s)
  }

  /** Checks one event and remembers it when new. */
  async check(event: EventInput): Promise<CheckResult> {
    const [result] = await this.checkMany([event])
    return result
  }

  /** Checks a batch in one store round trip; results in input order. A key repeated inside the batch is a duplicate of its first place. */
  checkMany(events: readonly EventInput[]): Promise<CheckResult[]> {
    if (this.closing !== null) return Promise.reject(new DedupClosedError('this Deduplicator is closed'))
    const call = this.run(events)
    this.inflight.add(call)
    void call.then(
      () => this.inflight.delete(call),
      () => this.inflight.delete(call),
    )
    return call
  }

  /** What the store holds now (for a shared Redis: keys this process added). */
  stats(): StoreStats {
    return this.store.stats()
  }

  /** Waits for calls in flight, saves the state file (memory, `state`), closes the store. Calls after this fail with DedupClosedError. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inflight])
      try {
        if (this.exact !== null && this.settings.state !== undefined) saveState(this.settings.state, this.exact, this.settings.keyFields, this.settings.clock)
      } finally {
        await this.store.close()
        this.lock?.release()
      }
    })()
    return this.closing
  }

  private async run(events: readonly EventInput[]): Promise<CheckResult[]> {
    const core = this.core
    const work = core.acquire()
    try {
      for (const event of events) this.collect(work, event)
      core.key(work)
      // Numbered now, before any await: concurrent calls get ranges of their own.
      const base = this.checked
      this.checked += work.slab.count
      try {
        await core.check(work, undefined, (k) => base + k + 1)
      } catch (e) {
        throw new DedupBackendError(`the ${this.store.name} store did not answer: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
      }
      const slab = work.slab
      const results: CheckResult[] = []
      core.settle(work, {
        unique: (k) => void results.push({ status: 'unique', key: keyHex(slab, k) }),
        duplicate: (k, first) => void results.push({ status: 'duplicate', key: keyHex(slab, k), firstSeen: first > 0 ? first : null }),
        rejected: (_k, { reason }) => void results.push({ status: 'rejected', key: null, reason }),
      })
      return results
    } finally {
      core.release(work)
    }
  }

  /** Adds one event to the work's slab: bytes as they are, text as UTF-8, an object as its JSON text. */
  private collect(work: ReturnType<DedupCore['acquire']>, event: EventInput): void {
    let bytes: Buffer
    if (typeof event === 'string') bytes = Buffer.from(event, 'utf8')
    else if (event instanceof Uint8Array) bytes = Buffer.from(event.buffer, event.byteOffset, event.byteLength)
    else {
      let text: string | undefined
      try {
        text = typeof event === 'object' && event !== null ? JSON.stringify(event) : undefined
      } catch (e) {
        return work.collector.reject(EMPTY, 0, 0, `cannot be written as JSON: ${e instanceof Error ? e.message : String(e)}`)
      }
      if (text === undefined) return work.collector.reject(EMPTY, 0, 0, `not an event: ${event === null ? 'null' : typeof event}`)
      bytes = Buffer.from(text, 'utf8')
    }
    if (bytes.length > this.settings.maxEventBytes) return work.collector.reject(EMPTY, 0, 0, `event longer than ${this.settings.maxEventBytes} bytes (maxEventBytes)`)
    this.core.collect(work, bytes, true)
  }
}

const EMPTY = Buffer.alloc(0)

interface Settings {
  backend: BackendName
  keyFields: readonly string[]
  allowMissing: boolean
  windowMs: number
  clock: Clock
  timeField: string
  now?: () => number
  maxEventBytes: number
  redisRetryMs: number
  state?: string
}

/** Validates the options a caller gave; every problem is a DedupOptionsError naming the option. */
function settingsOf(o: DeduplicatorOptions): Settings {
  const backend = o.backend ?? 'memory'
  if (backend !== 'memory' && backend !== 'redis') throw new DedupOptionsError(`backend: expected 'memory' or 'redis', got ${JSON.stringify(backend)}`)
  const keyFields = o.keyFields ?? DEFAULT_KEY_FIELDS
  if (!Array.isArray(keyFields) || keyFields.length === 0 || keyFields.some((f) => typeof f !== 'string' || f === '')) throw new DedupOptionsError('keyFields: expected a non-empty list of field names')
  if (new Set(keyFields).size !== keyFields.length) throw new DedupOptionsError('keyFields: a field is named twice')
  const clock = o.clock ?? 'ingest'
  if (clock !== 'ingest' && clock !== 'event') throw new DedupOptionsError(`clock: expected 'ingest' or 'event', got ${JSON.stringify(clock)}`)
  const maxEventBytes = o.maxEventBytes ?? 64 * 1024 * 1024
  if (!Number.isInteger(maxEventBytes) || maxEventBytes <= 0) throw new DedupOptionsError(`maxEventBytes: expected a positive whole number, got ${String(maxEventBytes)}`)
  if (o.fpRate !== undefined && !(o.fpRate > 0 && o.fpRate < 1)) throw new DedupOptionsError(`fpRate: expected a number between 0 and 1, got ${String(o.fpRate)}`)
  if (o.redisSets !== undefined && (!Number.isInteger(o.redisSets) || o.redisSets < 1 || o.redisSets > 2 ** 24 || (o.redisSets & (o.redisSets - 1)) !== 0)) throw new DedupOptionsError(`redisSets: expected a power of two from 1 to 16777216, got ${String(o.redisSets)}`)
  if (o.redisBuckets !== undefined && (!Number.isInteger(o.redisBuckets) || o.redisBuckets < 1 || o.redisBuckets > 64)) throw new DedupOptionsError(`redisBuckets: expected a whole number from 1 to 64, got ${String(o.redisBuckets)}`)
  if (o.now !== undefined && typeof o.now !== 'function') throw new DedupOptionsError('now: expected a function returning milliseconds since the epoch')
  return {
    backend,
    keyFields: [...keyFields],
    allowMissing: o.allowMissing === true,
    windowMs: milliseconds('window', o.window ?? '7d'),
    clock,
    timeField: o.timeField ?? 'event_datetime',
    now: o.now,
    maxEventBytes,
    redisRetryMs: milliseconds('redisRetry', o.redisRetry ?? '10s'),
    state: o.state,
  }
}

function milliseconds(option: string, value: string | number): number {
  if (typeof value === 'number') {
    if (!(value > 0) || !Number.isFinite(value)) throw new DedupOptionsError(`${option}: expected a positive number of milliseconds, got ${value}`)
    return value
  }
  const ms = durationMs(String(value))
  if (typeof ms === 'string') throw new DedupOptionsError(`${option}: ${ms}`)
  return ms
}
