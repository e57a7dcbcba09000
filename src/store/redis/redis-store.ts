/** @module The Redis store: one shared, exact memory of seen keys for many processes. */
import type { Cluster, Redis } from 'ioredis'
import { randomBytes } from 'node:crypto'
import type { KeyBatch, Store, StoreStats } from '../../store.js'
import { FIRST_SEEN_UNKNOWN, SAME_OCCURRENCE } from '../../store.js'
import { KeyLayout, type RedisLayoutName } from './layout.js'
import { COMPACT_LUA, SIMPLE_LUA, FORGET_COMPACT_LUA, FORGET_SIMPLE_LUA, script, type LoadedScript } from './scripts.js'

export type RedisClient = Redis | Cluster

export interface RedisStoreOptions {
  client: RedisClient
  /** A Redis Cluster: one script call per hash tag instead of one per batch. */
  cluster: boolean
  layout: RedisLayoutName
  prefix: string
  windowMs: number
  /** 'ingest': batch times are arrival (wall clock) times; 'event': event times, with the window following the latest seen. */
  clock: 'ingest' | 'event'
  /** compact: time buckets per window; a key is forgotten between one window and one window plus a bucket after it. */
  buckets: number
  /** compact: sets per time bucket, a power of two; size it to keep a few hundred members a set (README "Redis"). */
  sets: number
  /** compact: the server's set-max-intset-entries. */
  intsetLimit: number
  /** How long a check waits for Redis to come back before it fails (ms). */
  retryMs: number
  /** Keys that an earlier run remembered but never delivered (from its journal: see `recoverJournal`). */
  claimed?: ClaimedKeys
  /** Wall clock, for expiry times; injectable for tests. */
  now?: () => number
  /**
   * A long-running server (serve): after a failure, recover in-process once Redis is back (the
   * keys the failed batches remembered are claimed from the journals) instead of failing every
   * later check. The CLI stops instead, and resumes with a token.
   */
  recover?: boolean | 'occurrences'
}

/** Digests, as hex, that count as new the first time they are checked whatever Redis says. */
export type ClaimedKeys = Set<string>

/** Redis could not be reached (or kept failing) for the whole retry time; nothing after `resumeToken`'s batch was checked. */
export class RedisUnavailableError extends Error {
  constructor(
    message: string,
    /** `runId:seq`: the batch in doubt, for `--redis-resume`. */
    readonly resumeToken: string,
  ) {
    super(message)
  }
}

/**
 * Redis refused a check for a reason retrying will not mend (out of memory, wrong type, ...).
 * Batches sent after it may have been applied: `resumeToken` claims them.
 */
export class RedisCommandError extends Error {
  constructor(
    message: string,
    readonly resumeToken: string,
  ) {
    super(message)
  }
}

interface Group {
  tag: number | null
  indexes: number[]
}

/** Script calls carry at most this many events: bounds the time one call holds Redis (about 10 ms). */
export const CHECK_CHUNK = 1024

/**
 * Journals rotate over this many slots (by batch number), and a batch is not sent until the one
 * this many before it has been answered: a journal is never overwritten while its batch may still
 * be in doubt, and up to this many batches can be in flight at once.
 */
export const JOURNAL_SLOTS = 16

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTCONN', 'ECONNABORTED'])

/** Errors that mean "the server is away or busy", after which the answer to a sent command is unknown. */
function isTransient(e: unknown): boolean {
  if (!(e instanceof Error)) return false
  if (e.name === 'ReplyError') return /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN)\b/.test(e.message)
  const code = (e as NodeJS.ErrnoException).code
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true
  return (
    e.name === 'MaxRetriesPerRequestError' ||
    e.name === 'ClusterAllFailedError' ||
    /Connection is closed|Stream isn't writeable|Command timed out|Failed to refresh slots cache|None of startup nodes is available/.test(e.message)
  )
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Check-and-remember runs in Redis as one Lua script per batch (per hash tag in a cluster), so
 * any number of processes agree on which copy of a key came first. Two layouts (layout.ts):
 * `compact` keeps each key as an 8-byte member of an intset per (digest prefix, time bucket),
 * expiring whole buckets; `simple` is one `SET key 1 NX PX window` per key.
 */
export class RedisStore implements Store {
  readonly name: string
  readonly remembersOccurrences = true
  readonly runId: string
  readonly layout: KeyLayout
  private readonly client: RedisClient
  private readonly script: LoadedScript
  private readonly bucketMs: number
  private readonly journalTtlMs: number
  private seq = 0
  /** Batch numbers sent and not yet answered, oldest first. */
  private readonly inflight = new Set<number>()
  /** Batches are admitted one at a time, in call order: the order Redis sees them in. */
  private admission: Promise<void> = Promise.resolve()
  private answered: () => void = () => {}
  /** Set once a batch failed for good: later batches fail at once, so no journal of a batch in doubt is overwritten. */
  private failure: Error | null = null
  /** Claimed keys that a batch in flight has used; released if it fails, used up if it succeeds. */
  private readonly claimsInFlight = new Set<string>()
  /** Batches answered with an error since the last recovery: only these were not delivered (serve). */
  private readonly failedSeqs = new Set<number>()
  private clockNow = -Infinity
  private inserted = 0
  private late = 0
  private readonly journalsUsed = new Set<string>()
  /** The client's own account of a lost connection (ECONNREFUSED ...), clearer than the failed command's error. */
  private connectionError: string | null = null

  constructor(private readonly options: RedisStoreOptions) {
    this.layout = new KeyLayout(options.layout, options.prefix, options.layout === 'compact' ? options.sets : 1)
    this.name = `redis-${options.layout}`
    this.client = options.client
    this.script = script(options.layout === 'compact' ? COMPACT_LUA : SIMPLE_LUA)
    if (!(options.buckets >= 1 && options.buckets <= 64)) throw new RangeError('buckets must be 1..64')
    this.bucketMs = Math.max(1, Math.ceil(options.windowMs / options.buckets))
    // A journal outlives the keys it speaks of by a bucket: a rerun after that finds them forgotten anyway.
    this.journalTtlMs = Math.ceil(options.windowMs + this.bucketMs)
    this.runId = randomBytes(6).toString('hex')
    this.client.on('error', (e: Error) => (this.connectionError = e.message))
    this.client.on('ready', () => (this.connectionError = null))
  }

  /**
   * Sends the batch's script calls at once and resolves when all are answered. Calls made while
   * earlier batches are in flight are sent behind them (Redis answers a connection in order), so
   * a caller may overlap checking one batch with delivering the previous.
   */
  check(batch: KeyBatch): Promise<void> {
    if (batch.count === 0) return Promise.resolve()
    const sent = this.admission.then(() => this.send(batch))
    this.admission = sent.then(
      () => {},
      () => {},
    )
    return sent.then((s) => s.answered)
  }

  private async send(batch: KeyBatch): Promise<{ answered: Promise<void> }> {
    if (this.failure !== null) {
      if (this.options.recover === undefined || this.options.recover === false || this.client.status !== 'ready' || this.inflight.size > 0) throw this.failure
      await this.recover()
    }
    while (this.oldestInflight() <= this.seq + 1 - JOURNAL_SLOTS) await new Promise<void>((resolve) => (this.answered = resolve))
    // A batch that failed while this one waited for its slot: sending now could overwrite its journal.
    if (this.failure !== null) throw this.failure
    const seq = ++this.seq
    this.inflight.add(seq)
    const digests = Buffer.from(batch.digests.buffer, batch.digests.byteOffset, batch.count * 16)
    for (let i = 0; i < batch.count; i++) if (batch.times[i] > this.clockNow) this.clockNow = batch.times[i]
    const calls: Array<Promise<void>> = []
    const used = new Set<string>()
    for (const g of this.groups(digests, batch.count)) {
      for (let from = 0, chunk = 0; from < g.indexes.length; from += CHECK_CHUNK, chunk++) {
        const indexes = g.indexes.length <= CHECK_CHUNK ? g.indexes : g.indexes.slice(from, from + CHECK_CHUNK)
        // All of a batch's calls go out now, in order: Redis runs them in that order.
        calls.push(this.checkChunk(this.layout.journalKey(this.runId, g.tag, seq % JOURNAL_SLOTS, chunk), indexes, batch, digests, seq, used))
      }
    }
    const answered = Promise.all(calls).then(
      () => {
        // Claims are used up only by a batch that succeeded: a failed one is not delivered, and its
        // events' retries still need them.
        for (const k of used) {
          this.options.claimed?.delete(k)
          this.claimsInFlight.delete(k)
        }
        this.finished(seq)
      },
      (e: unknown) => {
        this.failure ??= e instanceof Error ? e : new Error(String(e))
        this.failedSeqs.add(seq)
        for (const k of used) this.claimsInFlight.delete(k)
        this.finished(seq)
        throw e
      },
    )
    return { answered }
  }

  private oldestInflight(): number {
    for (const seq of this.inflight) return seq
    return Infinity
  }

  private finished(seq: number): void {
    this.inflight.delete(seq)
    this.answered()
  }

  /**
   * The batches answered with an error were not delivered (their requests got a 503): the keys
   * they remembered are claimed, and a client's retry of those events counts as new. Batches
   * sent after them that succeeded were delivered, and are not claimed.
   */
  private async recover(): Promise<void> {
    const failed = new Set(this.failedSeqs)
    // consume: a redelivered message is recognised by its occurrence; a claim would also make a
    // later copy of the key at another offset count as new.
    if (this.options.recover !== 'occurrences') this.claim(await this.readJournals(this.runId, (seq) => failed.has(seq)))
    for (const seq of failed) this.failedSeqs.delete(seq)
    this.failure = null
  }

  /**
   * Undoes the remembering of keys a check found new, for a caller that could not deliver their
   * events (serve, when its output fails): best effort, as Redis may be gone too.
   */
  async forget(batch: KeyBatch, which: (i: number) => boolean): Promise<void> {
    const digests = Buffer.from(batch.digests.buffer, batch.digests.byteOffset, batch.count * 16)
    const B = this.bucketMs
    const lo = Math.floor((this.clockNow - this.options.windowMs) / B)
    const calls: Array<Promise<unknown>> = []
    for (const g of this.groups(digests, batch.count)) {
      const args: string[] = []
      for (const i of g.indexes) {
        if (!which(i)) continue
        this.options.claimed?.delete(digests.toString('hex', i * 16, i * 16 + 16))
        if (this.options.layout === 'compact') args.push(this.layout.setBase(digests, i * 16), this.layout.member(digests, i * 16), String(Math.max(Math.floor(batch.times[i] / B), lo)))
        else args.push(this.layout.eventKey(digests, i * 16))
      }
      if (args.length === 0) continue
      const route = this.layout.journalKey(this.runId, g.tag, 0, 0)
      calls.push(this.bounded(this.client.call('EVAL', [this.options.layout === 'compact' ? FORGET_COMPACT_LUA : FORGET_SIMPLE_LUA, 1, route, ...args])))
    }
    await Promise.all(calls)
  }

  async release(batch: KeyBatch, which: (i: number) => boolean): Promise<void> {
    const digests = Buffer.from(batch.digests.buffer, batch.digests.byteOffset, batch.count * 16)
    const byHash = new Map<string, Buffer[]>()
    for (const g of this.groups(digests, batch.count)) {
      for (const i of g.indexes) {
        if (!which(i)) continue
        const hash = `${this.layout.occurrenceKey(g.tag)}:${Math.floor(batch.times[i] / this.bucketMs)}`
        let fields = byHash.get(hash)
        if (fields === undefined) byHash.set(hash, (fields = []))
        fields.push(digests.subarray(i * 16, i * 16 + 16))
      }
    }
    await Promise.all([...byHash].map(([hash, fields]) => this.bounded(this.client.hdel(hash, ...fields))))
  }

  /** Keys remembered but never delivered (by a failed run, or by this one before a failure): each counts as new once more. */
  claim(keys: ClaimedKeys): void {
    this.options.claimed ??= new Set()
    for (const k of keys) this.options.claimed.add(k)
  }

  async ready(): Promise<void> {
    if (this.client.status !== 'ready') throw new Error(`Redis connection ${this.client.status}`)
    await this.bounded(this.client.ping())
  }

  /**
   * The keys that the batches of run `runId` whose numbers `accept` remembered, read from their
   * journals. A batch that never reached Redis left no journal with its number.
   */
  async readJournals(runId: string, accept: (seq: number) => boolean): Promise<ClaimedKeys> {
    const tags = this.options.cluster ? Array.from({ length: 2 ** this.layout.tagBits }, (_, tag) => tag) : [null]
    const claimed: ClaimedKeys = new Set()
    for (const tag of tags) {
      for (let slot = 0; slot < JOURNAL_SLOTS; slot++) {
        // A batch's chunks have journals 0, 1, ...; stale ones from earlier, longer batches carry older numbers.
        for (let chunk = 0; ; chunk++) {
          const raw = await this.bounded(this.client.getBuffer(this.layout.journalKey(runId, tag, slot, chunk)))
          if (raw === null) break
          const entry = parseJournal(raw)
          if (entry !== null && accept(entry.seq)) for (const k of entry.newKeys) claimed.add(k)
        }
      }
    }
    return claimed
  }

  stats(): StoreStats {
    // What Redis holds in all is not this process's to count cheaply; bench/ reads INFO memory.
    return { keys: this.inserted, bytes: null, late: this.late }
  }

  async close(): Promise<void> {
    // A clean end leaves no batch in doubt: its journals are no longer needed. After a failure
    // they are what --redis-resume reads, and they stay (expiring with the window).
    try {
      if (this.failure === null && this.journalsUsed.size > 0 && this.client.status === 'ready') {
        await Promise.all([...this.journalsUsed].map((k) => this.client.del(k)))
      }
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }

  /** One group per batch on a single server; one per hash tag in a cluster, since a script runs on one node. */
  private groups(digests: Buffer, count: number): Group[] {
    const all = Array.from({ length: count }, (_, i) => i)
    if (!this.options.cluster) return [{ tag: null, indexes: all }]
    const byTag = new Map<number, number[]>()
    for (const i of all) {
      const tag = this.layout.tag(digests, i * 16)
      let list = byTag.get(tag)
      if (list === undefined) byTag.set(tag, (list = []))
      list.push(i)
    }
    return [...byTag].map(([tag, indexes]) => ({ tag, indexes }))
  }

  private argsFor(indexes: readonly number[], batch: KeyBatch, digests: Buffer, seq: number): Array<string | Buffer> {
    const n = indexes.length
    const blob = Buffer.allocUnsafe(n * 16)
    indexes.forEach((i, k) => digests.copy(blob, k * 16, i * 16, i * 16 + 16))
    const o = this.options
    const args: Array<string | Buffer> = [String(seq), String(this.journalTtlMs), blob, String(n), String(o.layout === 'compact' ? o.intsetLimit : o.windowMs)]
    const wallNow = (o.now ?? Date.now)()
    const B = this.bucketMs
    const hi = Math.floor(this.clockNow / B)
    const lo = Math.floor((this.clockNow - o.windowMs) / B)
    // compact: consecutive events with the same buckets share one run header (see scripts.ts).
    let header = -1
    let runKey = ''
    let runLength = 0
    for (const i of indexes) {
      const t = batch.times[i]
      if (t < this.clockNow - o.windowMs) this.late++
      if (o.layout === 'compact') {
        // A late event (older than the window) goes to the oldest bucket still looked in, as in the memory store.
        const at = Math.max(Math.floor(t / B), lo)
        const end = (at + 1) * B + o.windowMs
        // Redis expires by its wall clock: map the batch's time to it through the latest time seen. Under
        // the event clock event time runs apart from it; under the ingest clock too, when the times
        // are those of records a consumer reads late (consume, catching up).
        const expireAt = String(Math.ceil(wallNow + Math.max(end - this.clockNow, B)))
        const key = `${at}/${expireAt}`
        if (key !== runKey) {
          runKey = key
          runLength = 0
          header = args.length
          args.push(String(at), String(lo), String(hi), expireAt, '0')
        }
        args[header + 4] = String(++runLength)
        args.push(this.layout.setBase(digests, i * 16), this.layout.member(digests, i * 16))
      } else {
        const keepMs = Math.max(t + o.windowMs - this.clockNow, B)
        args.push(this.layout.eventKey(digests, i * 16), String(Math.floor(t)), String(Math.ceil(keepMs)))
      }
    }
    return args
  }

  private async checkChunk(journal: string, indexes: readonly number[], batch: KeyBatch, digests: Buffer, seq: number, used: Set<string>): Promise<void> {
    this.journalsUsed.add(journal)
    const args = this.argsFor(indexes, batch, digests, seq)
    const keys = [journal]
    const occurrences = batch.occurrences
    if (occurrences !== undefined) {
      keys.push(this.layout.occurrenceKey(this.options.cluster ? this.layout.tag(digests, indexes[0] * 16) : null))
      // The hash of the event's time bucket: a redelivery has the same time, so it looks in the same one.
      args.push(`${this.bucketMs}\n` + indexes.map((i) => `${Math.floor(batch.times[i] / this.bucketMs)} ${occurrences[i]}`).join('\n'))
    }
    const deadline = performance.now() + this.options.retryMs
    let answers: string
    for (let attempt = 0; ; attempt++) {
      try {
        answers = attempt === 0 ? await this.run(keys, args) : await this.resolve(keys, seq, args)
        break
      } catch (e) {
        if (!isTransient(e)) throw new RedisCommandError(`Redis refused a check: ${(e as Error).message}`, `${this.runId}:${seq}`)
        if (performance.now() >= deadline) {
          const why = this.connectionError ?? (e as Error).message
          throw new RedisUnavailableError(`Redis unavailable for ${(this.options.retryMs / 1000).toFixed(1)} s: ${why}`, `${this.runId}:${seq}`)
        }
        await this.waitReady(deadline)
      }
    }
    const claimed = this.options.claimed
    indexes.forEach((i, k) => {
      const a = answers.charCodeAt(k)
      if (a === 0x30) {
        batch.firstSeen[i] = 0
        this.inserted++
        return
      }
      batch.firstSeen[i] = a === 0x32 ? SAME_OCCURRENCE : FIRST_SEEN_UNKNOWN
    })
    if (claimed !== undefined && claimed.size > 0) {
      for (const i of indexes) {
        // A claim is used by the key's first answer, whatever it is: new (the key had expired
        // meanwhile) is delivered as new; seen is the failed batch's own memory, so this is its
        // first delivery. A second copy in the same batch is a duplicate of the first.
        const hex = digests.toString('hex', i * 16, i * 16 + 16)
        // One in-flight batch at a time may use a claim: a later copy is a duplicate of that one.
        if (!claimed.has(hex) || this.claimsInFlight.has(hex)) continue
        this.claimsInFlight.add(hex)
        used.add(hex)
        if (batch.firstSeen[i] !== 0) {
          batch.firstSeen[i] = 0
          this.inserted++
        }
      }
    }
  }

  /** After a failure the group may or may not have been applied: the journal says which, and what it answered. */
  private async resolve(keys: string[], seq: number, args: Array<string | Buffer>): Promise<string> {
    const entry = parseJournal(await this.bounded(this.client.getBuffer(keys[0])))
    if (entry !== null && entry.seq === seq) return entry.answers
    return this.run(keys, args)
  }

  /** keys: the journal, then (with occurrences) the occurrence hash. */
  private async run(keys: string[], args: Array<string | Buffer>): Promise<string> {
    let reply: unknown
    try {
      reply = await this.bounded(this.client.call('EVALSHA', [this.script.sha, keys.length, ...keys, ...args]))
    } catch (e) {
      if (!(e instanceof Error && e.message.startsWith('NOSCRIPT'))) throw e
      // First use on this server (or after its restart): send the script itself, which also caches it.
      reply = await this.bounded(this.client.call('EVAL', [this.script.lua, keys.length, ...keys, ...args]))
    }
    if (typeof reply !== 'string') throw new Error(`unexpected reply from the check script: ${String(reply)}`)
    return reply
  }

  /** A command that neither answers nor fails (held in a cluster client's queue) fails after the retry time. */
  private bounded<T>(reply: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('Command timed out')), this.options.retryMs)
    })
    return Promise.race([reply, timeout]).finally(() => clearTimeout(timer))
  }

  private async waitReady(deadline: number): Promise<void> {
    // Always a real pause first: a connection can fail commands before it reports itself closed,
    // and retrying on promises alone would never let that report (an I/O event) through.
    do await sleep(Math.max(0, Math.min(50, deadline - performance.now())))
    while (this.client.status !== 'ready' && performance.now() < deadline)
  }

}

export interface JournalEntry {
  seq: number
  answers: string
  /** The digests of the keys this batch found new. */
  newKeys: string[]
}

export function parseJournal(raw: Buffer | null): JournalEntry | null {
  if (raw === null) return null
  const colon = raw.indexOf(0x3a)
  if (colon < 0) return null
  const seq = Number(raw.toString('latin1', 0, colon))
  const rest = raw.subarray(colon + 1)
  // answers (n characters) then n digests of 16 bytes: n + 16n = rest.length.
  const n = rest.length / 17
  if (!Number.isInteger(n)) return null
  const answers = rest.toString('latin1', 0, n)
  const newKeys: string[] = []
  for (let k = 0; k < n; k++) if (answers.charCodeAt(k) === 0x30) newKeys.push(rest.toString('hex', n + k * 16, n + k * 16 + 16))
  return { seq, answers, newKeys }
}
