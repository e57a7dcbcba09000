/** @module The Redis store: one shared, exact memory of seen keys for many processes. */
import type { RedisClient, RedisStoreOptions } from './options.js'
import { randomBytes } from 'node:crypto'
import type { KeyBatch, Store, StoreStats } from '../../store.js'
import { FIRST_SEEN_UNKNOWN, RESERVED_ELSEWHERE, RESERVED_HERE, SAME_OCCURRENCE } from '../../store.js'
import { Claims, Journals, type ClaimedKeys } from './journal.js'
import { KeyLayout } from './layout.js'
import { RetryPolicy } from './retry-policy.js'
import { chunks, digestsOf, groups, reservationHash, ScriptArgs } from './script-args.js'
import { COMPACT_LUA, SIMPLE_LUA, FORGET_COMPACT_LUA, FORGET_SIMPLE_LUA, script, type LoadedScript } from './scripts.js'

export { JOURNAL_SLOTS, parseJournal, type ClaimedKeys, type JournalEntry } from './journal.js'
export { RedisUnavailableError, RedisCommandError } from './retry-policy.js'
export { CHECK_CHUNK } from './script-args.js'

export type { RedisClient, RedisStoreOptions } from './options.js'

/**
 * Check-and-remember runs in Redis as one Lua script per batch (per hash tag in a cluster), so
 * any number of processes agree on which copy of a key came first. Two layouts (layout.ts):
 * `compact` keeps each key as an 8-byte member of an intset per (digest prefix, time bucket),
 * expiring whole buckets; `simple` is one `SET key 1 NX PX window` per key.
 */
export class RedisStore implements Store {
  readonly name: string
  readonly remembersOccurrences = true
  readonly reserves: boolean
  readonly runId: string
  readonly layout: KeyLayout
  private readonly client: RedisClient
  private readonly script: LoadedScript
  private readonly args: ScriptArgs
  private readonly retry: RetryPolicy
  private readonly journals: Journals
  private readonly claims: Claims
  /** Batches are admitted one at a time, in call order: the order Redis sees them in. */
  private admission: Promise<void> = Promise.resolve()
  /** Set once a batch failed for good: later batches fail at once, so no journal of a batch in doubt is overwritten. */
  private failure: Error | null = null
  /** Batches answered with an error since the last recovery: only these were not delivered (serve). */
  private readonly failedSeqs = new Set<number>()
  private inserted = 0

  constructor(private readonly options: RedisStoreOptions) {
    this.layout = new KeyLayout(options.layout, options.prefix, options.layout === 'compact' ? options.sets : 1)
    this.name = `redis-${options.layout}`
    this.client = options.client
    this.script = script(options.layout === 'compact' ? COMPACT_LUA : SIMPLE_LUA)
    this.args = new ScriptArgs(this.layout, options)
    // A reserving store's records and journals name the same run: a resume token names both.
    this.runId = options.reserve?.owner ?? randomBytes(6).toString('hex')
    this.retry = new RetryPolicy(this.client, options.retryMs)
    this.journals = new Journals(this.runId, this.client, this.layout, options.cluster, this.retry)
    this.claims = new Claims(options.claimed)
    this.reserves = options.reserve !== undefined
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
      if (this.options.recover === undefined || this.options.recover === false || this.client.status !== 'ready' || !this.journals.idle) throw this.failure
      await this.recover()
    }
    while (this.journals.full()) await this.journals.nextAnswer()
    // A batch that failed while this one waited for its slot: sending now could overwrite its journal.
    if (this.failure !== null) throw this.failure
    const seq = this.journals.next()
    const digests = digestsOf(batch)
    this.args.advance(batch)
    const calls: Array<Promise<void>> = []
    const used = new Set<string>()
    for (const g of groups(this.layout, this.options.cluster, digests, batch.count)) {
      for (const { chunk, indexes } of chunks(g.indexes)) {
        // All of a batch's calls go out now, in order: Redis runs them in that order.
        calls.push(this.checkChunk(this.journals.key(g.tag, seq, chunk), indexes, batch, digests, seq, used))
      }
    }
    const answered = Promise.all(calls).then(
      () => {
        this.claims.settle(used, true)
        this.journals.finished(seq)
      },
      (e: unknown) => {
        this.failure ??= e instanceof Error ? e : new Error(String(e))
        this.failedSeqs.add(seq)
        this.claims.settle(used, false)
        this.journals.finished(seq)
        throw e
      },
    )
    return { answered }
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
    const digests = digestsOf(batch)
    const calls: Array<Promise<unknown>> = []
    for (const g of groups(this.layout, this.options.cluster, digests, batch.count)) {
      const indexes = g.indexes.filter((i) => which(i))
      for (const i of indexes) this.claims.drop(digests.toString('hex', i * 16, i * 16 + 16))
      const args = this.args.forget(indexes, batch, digests)
      if (args.length === 0) continue
      const route = this.layout.journalKey(this.runId, g.tag, 0, 0)
      calls.push(this.retry.bounded(this.client.call('EVAL', [this.options.layout === 'compact' ? FORGET_COMPACT_LUA : FORGET_SIMPLE_LUA, 1, route, ...args])))
    }
    // Forgotten whole: a reservation left behind would make the key's next copy wait for its lease.
    if (this.reserves) calls.push(this.release(batch, which))
    await Promise.all(calls)
  }

  async release(batch: KeyBatch, which: (i: number) => boolean): Promise<void> {
    const digests = digestsOf(batch)
    const byHash = new Map<string, Buffer[]>()
    // Reservations live in the hash of their key's shard; occurrences in the hash of their time bucket.
    const reservations = batch.occurrences === undefined && this.reserves
    for (const g of groups(this.layout, this.options.cluster, digests, batch.count)) {
      for (const i of g.indexes) {
        if (!which(i)) continue
        const hash = `${this.layout.occurrenceKey(g.tag)}:${reservations ? reservationHash(batch.digests, i) : this.args.bucket(batch.times[i])}`
        let fields = byHash.get(hash)
        if (fields === undefined) byHash.set(hash, (fields = []))
        fields.push(digests.subarray(i * 16, i * 16 + 16))
      }
    }
    await Promise.all([...byHash].map(([hash, fields]) => this.retry.bounded(this.client.hdel(hash, ...fields))))
  }

  /** Keys remembered but never delivered (by a failed run, or by this one before a failure): each counts as new once more. */
  claim(keys: ClaimedKeys): void {
    this.claims.add(keys)
  }

  async ready(): Promise<void> {
    if (this.client.status !== 'ready') throw new Error(`Redis connection ${this.client.status}`)
    await this.retry.bounded(this.client.ping())
  }

  /**
   * The keys that the batches of run `runId` whose numbers `accept` remembered, read from their
   * journals. A batch that never reached Redis left no journal with its number.
   */
  readJournals(runId: string, accept: (seq: number) => boolean): Promise<ClaimedKeys> {
    return this.journals.read(runId, accept)
  }

  stats(): StoreStats {
    // What Redis holds in all is not this process's to count cheaply; bench/ reads INFO memory.
    return { keys: this.inserted, bytes: null, late: this.args.late }
  }

  async close(): Promise<void> {
    // A clean end leaves no batch in doubt: its journals are no longer needed. After a failure
    // they are what --redis-resume reads, and they stay (expiring with the window).
    try {
      const written = this.journals.written
      if (this.failure === null && written.size > 0 && this.client.status === 'ready') {
        await Promise.all([...written].map((k) => this.client.del(k)))
      }
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }

  private async checkChunk(journal: string, indexes: readonly number[], batch: KeyBatch, digests: Buffer, seq: number, used: Set<string>): Promise<void> {
    const args = this.args.check(indexes, batch, digests, seq)
    const keys = [journal]
    const occurrences = batch.occurrences
    const reserve = this.options.reserve
    if (occurrences !== undefined || reserve !== undefined) {
      keys.push(this.layout.occurrenceKey(this.options.cluster ? this.layout.tag(digests, indexes[0] * 16) : null))
      args.push(occurrences !== undefined ? this.args.occurrences(indexes, batch, occurrences) : this.args.reservations(indexes, batch, reserve!))
    }
    const answers = await this.retry.attempt(
      () => this.run(keys, args),
      // After a failure the group may or may not have been applied: the journal says which, and what it answered.
      async () => (await this.journals.answers(journal, seq)) ?? this.run(keys, args),
      this.journals.token(seq),
    )
    indexes.forEach((i, k) => {
      const a = answers.charCodeAt(k)
      if (a === 0x30) {
        batch.firstSeen[i] = 0
        this.inserted++
        return
      }
      batch.firstSeen[i] = a === 0x32 ? SAME_OCCURRENCE : a === 0x33 ? RESERVED_ELSEWHERE : a === 0x34 ? RESERVED_HERE : FIRST_SEEN_UNKNOWN
    })
    this.inserted += this.claims.use(indexes, digests, batch.firstSeen, used)
  }

  /** keys: the journal, then (with occurrences) the occurrence hash. */
  private async run(keys: string[], args: Array<string | Buffer>): Promise<string> {
    let reply: unknown
    try {
      reply = await this.retry.bounded(this.client.call('EVALSHA', [this.script.sha, keys.length, ...keys, ...args]))
    } catch (e) {
      if (!(e instanceof Error && e.message.startsWith('NOSCRIPT'))) throw e
      // First use on this server (or after its restart): send the script itself, which also caches it.
      reply = await this.retry.bounded(this.client.call('EVAL', [this.script.lua, keys.length, ...keys, ...args]))
    }
    if (typeof reply !== 'string') throw new Error(`unexpected reply from the check script: ${String(reply)}`)
    return reply
  }
}
