/**
 * @module serve --to postgres: each request's events through the core (frame, key, check), its
 * unique events stored in PostgreSQL by group commit — the requests settled while one transaction
 * commits share the next — and each request answered only once the transaction holding its events
 * is committed. While the database is away, requests are answered 503 (Retry-After) and their keys
 * are given back: the client's retry is stored and answered unique, not taken for a duplicate.
 */
import { DedupCore, type CoreOptions, type Work } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import { digestHex, DIGEST_BYTES } from '../key/canonical.js'
import type { KeyBatch, Store, StoreStats } from '../store.js'
import { forEachSlice, rejectedOutcome, type EventOutcome, type ServeBackend } from './backend.js'
import { CoalescingStore } from './coalescing-store.js'
import type { CommitResult, PgWriter } from '../sink/postgres/writer.js'
import type { EventRow } from '../sink/postgres/rows.js'

/** Rows of one transaction at most; more wait for the next. */
const MAX_GROUP_ROWS = 5000

interface Waiter {
  rows: EventRow[]
  resolve: (r: CommitResult) => void
  reject: (e: unknown) => void
}

/**
 * Gathers rows from concurrent requests into transactions. A commit starts as soon as a connection
 * is free, with every request waiting then: the wait a request adds is at most one commit.
 */
export class GroupCommitter {
  private waiting: Waiter[] = []
  private running = 0
  commits = 0

  constructor(private readonly writer: PgWriter) {}

  store(rows: EventRow[]): Promise<CommitResult> {
    return new Promise<CommitResult>((resolve, reject) => {
      this.waiting.push({ rows, resolve, reject })
      if (this.running < this.writer.connections) {
        this.running++
        // Requests settled in this event-loop turn join the same transaction.
        setImmediate(() => void this.next())
      }
    })
  }

  private async next(): Promise<void> {
    while (this.waiting.length > 0) {
      const group: Waiter[] = []
      let n = 0
      while (this.waiting.length > 0 && (group.length === 0 || n + this.waiting[0].rows.length <= MAX_GROUP_ROWS)) {
        const w = this.waiting.shift()!
        group.push(w)
        n += w.rows.length
      }
      const rows = group.length === 1 ? group[0].rows : group.flatMap((w) => w.rows)
      try {
        const result = await this.writer.commit(rows, [])
        this.commits++
        // Each request finds its own refused rows among them (by identity of the event's bytes).
        for (const w of group) w.resolve(result)
      } catch (e) {
        for (const w of group) w.reject(e)
      }
    }
    this.running--
  }
}

export class PostgresBackend implements ServeBackend {
  readonly acceptedStatus = 200
  private readonly core: DedupCore
  private readonly committer: GroupCommitter
  /**
   * Keys the store remembered for events whose commit failed, when the store cannot forget them
   * (the memory store): a later copy of such a key is stored as unique, not answered duplicate.
   */
  readonly unstored = new Set<string>()

  constructor(
    options: CoreOptions,
    private readonly store: Store,
    private readonly writer: PgWriter,
    coalesce = store.ready !== undefined,
  ) {
    this.core = new DedupCore(options, coalesce ? new CoalescingStore(store) : store)
    this.committer = new GroupCommitter(writer)
  }

  get name(): string {
    return `${this.store.name}+postgres`
  }

  get commits(): number {
    return this.committer.commits
  }

  async ready(): Promise<void> {
    await this.store.ready?.()
    await this.writer.query('SELECT 1', [], 0)
  }

  stats(): StoreStats {
    return this.store.stats()
  }

  async check(body: Buffer, single: boolean): Promise<EventOutcome[]> {
    const core = this.core
    const outcomes: EventOutcome[] = []
    // Each slice is committed before the next is checked.
    await forEachSlice(core, body, single, async (work) => {
      const batch = await core.check(work)
      await this.settle(work, batch, outcomes)
    })
    return outcomes
  }

  /** Stores a slice's unique events; `outcomes` gets the slice's, in order. */
  private async settle(work: Work, batch: KeyBatch, outcomes: EventOutcome[]): Promise<void> {
    const slab = work.slab
    const rows: EventRow[] = []
    /** Per stored row: its outcome's index, and its place in the key batch. */
    const placed: Array<{ outcome: number; b: number }> = []
    const unstored = this.unstored
    const again = new Set<string>()
    let b = 0
    const add = (k: number) => {
      placed.push({ outcome: outcomes.length, b })
      rows.push({ text: eventText(slab, k), digest: slab.results.digests.subarray(k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES), origin: 'http', originOffset: null })
      outcomes.push({ status: 'unique', key: keyHex(slab, k) })
    }
    this.core.settle(work, {
      unique(k) {
        add(k)
        b++
      },
      duplicate(k) {
        const hex = keyHex(slab, k)
        // Its first copy was never stored (that commit failed): this one is, once per request.
        if (unstored.has(hex) && !again.has(hex)) {
          again.add(hex)
          add(k)
        } else outcomes.push({ status: 'duplicate', key: hex })
        b++
      },
      rejected(_k, { reason, notJson }) {
        outcomes.push(rejectedOutcome(reason, notJson))
      },
    })
    if (rows.length === 0) return
    let result: CommitResult
    try {
      result = await this.committer.store(rows)
    } catch (e) {
      await this.giveBack(batch, rows, placed)
      throw e
    }
    for (const hex of again) unstored.delete(hex)
    if (result.unstorable.length > 0) {
      for (let i = 0; i < rows.length; i++) {
        const refused = result.unstorable.find((r) => r.event === rows[i].text)
        if (refused !== undefined) outcomes[placed[i].outcome] = { status: 'rejected', code: 422, error: `not stored: ${refused.reason}` }
      }
    }
  }

  /** The commit failed: nothing was acknowledged. The keys found new are given back, so that the retry is new again. */
  private async giveBack(batch: KeyBatch, rows: EventRow[], placed: Array<{ outcome: number; b: number }>): Promise<void> {
    const fresh = new Set(placed.filter((p) => batch.firstSeen[p.b] === 0).map((p) => p.b))
    if (this.store.forget !== undefined) {
      const forgotten = await this.store.forget(batch, (i) => fresh.has(i)).then(
        () => true,
        () => false,
      )
      if (forgotten) return
    }
    for (const row of rows) this.unstored.add(digestHex(row.digest))
  }

  async close(): Promise<void> {
    await this.writer.close()
  }
}
