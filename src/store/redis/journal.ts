/**
 * @module The journals a check leaves in Redis, and the claims read back from them: how a batch
 * whose answer was lost (or a run that failed) is resolved without calling its keys duplicates.
 */
import type { KeyLayout } from './layout.js'
import type { ClaimedKeys, RedisClient } from './options.js'
import type { RetryPolicy } from './retry-policy.js'

/**
 * Journals rotate over this many slots (by batch number), and a batch is not sent until the one
 * this many before it has been answered: a journal is never overwritten while its batch may still
 * be in doubt, and up to this many batches can be in flight at once.
 */
export const JOURNAL_SLOTS = 16

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

export type { ClaimedKeys }

/** One run's batch numbers, the journal slots they rotate over, and reading journals back. */
export class Journals {
  private seq = 0
  /** Batch numbers sent and not yet answered, oldest first. */
  private readonly inflight = new Set<number>()
  private answered: () => void = () => {}
  /** Every journal this run wrote: a clean end deletes them. */
  readonly written = new Set<string>()

  constructor(
    readonly runId: string,
    private readonly client: RedisClient,
    private readonly layout: KeyLayout,
    private readonly cluster: boolean,
    private readonly retry: RetryPolicy,
  ) {}

  /** Whether the next batch's slot still holds the journal of a batch in flight. */
  full(): boolean {
    return this.oldestInflight() <= this.seq + 1 - JOURNAL_SLOTS
  }

  /** Resolves when the next batch in flight is answered. */
  nextAnswer(): Promise<void> {
    return new Promise<void>((resolve) => (this.answered = resolve))
  }

  /** Numbers the next batch, now in flight. */
  next(): number {
    const seq = ++this.seq
    this.inflight.add(seq)
    return seq
  }

  finished(seq: number): void {
    this.inflight.delete(seq)
    this.answered()
  }

  get idle(): boolean {
    return this.inflight.size === 0
  }

  /** `runId:seq`: names a batch in doubt, for `--redis-resume`. */
  token(seq: number): string {
    return `${this.runId}:${seq}`
  }

  /** The journal of chunk `chunk` of batch `seq`'s group `tag`. */
  key(tag: number | null, seq: number, chunk: number): string {
    const key = this.layout.journalKey(this.runId, tag, seq % JOURNAL_SLOTS, chunk)
    this.written.add(key)
    return key
  }

  /** What batch `seq` answered, if its journal says it was applied. */
  async answers(key: string, seq: number): Promise<string | null> {
    const entry = parseJournal(await this.retry.bounded(this.client.getBuffer(key)))
    return entry !== null && entry.seq === seq ? entry.answers : null
  }

  /**
   * The keys that the batches of run `runId` whose numbers `accept` remembered, read from their
   * journals. A batch that never reached Redis left no journal with its number.
   */
  async read(runId: string, accept: (seq: number) => boolean): Promise<ClaimedKeys> {
    const tags = this.cluster ? Array.from({ length: 2 ** this.layout.tagBits }, (_, tag) => tag) : [null]
    const claimed: ClaimedKeys = new Set()
    for (const tag of tags) {
      for (let slot = 0; slot < JOURNAL_SLOTS; slot++) {
        // A batch's chunks have journals 0, 1, ...; stale ones from earlier, longer batches carry older numbers.
        for (let chunk = 0; ; chunk++) {
          const raw = await this.retry.bounded(this.client.getBuffer(this.layout.journalKey(runId, tag, slot, chunk)))
          if (raw === null) break
          const entry = parseJournal(raw)
          if (entry !== null && accept(entry.seq)) for (const k of entry.newKeys) claimed.add(k)
        }
      }
    }
    return claimed
  }

  private oldestInflight(): number {
    for (const seq of this.inflight) return seq
    return Infinity
  }
}

/** Keys remembered but never delivered (by a failed run, or by this one before a failure): each counts as new once more. */
export class Claims {
  /** Claimed keys that a batch in flight has used; released if it fails, used up if it succeeds. */
  private readonly inFlight = new Set<string>()

  constructor(private keys: ClaimedKeys | undefined) {}

  add(keys: ClaimedKeys): void {
    this.keys ??= new Set()
    for (const k of keys) this.keys.add(k)
  }

  drop(hex: string): void {
    this.keys?.delete(hex)
  }

  /**
   * Answers new the events `indexes` whose keys are claimed, adding the keys to `used`; returns
   * how many were not already answered new.
   */
  use(indexes: readonly number[], digests: Buffer, firstSeen: Float64Array, used: Set<string>): number {
    const claimed = this.keys
    if (claimed === undefined || claimed.size === 0) return 0
    let inserted = 0
    for (const i of indexes) {
      // A claim is used by the key's first answer, whatever it is: new (the key had expired
      // meanwhile) is delivered as new; seen is the failed batch's own memory, so this is its
      // first delivery. A second copy in the same batch is a duplicate of the first.
      const hex = digests.toString('hex', i * 16, i * 16 + 16)
      // One in-flight batch at a time may use a claim: a later copy is a duplicate of that one.
      if (!claimed.has(hex) || this.inFlight.has(hex)) continue
      this.inFlight.add(hex)
      used.add(hex)
      if (firstSeen[i] !== 0) {
        firstSeen[i] = 0
        inserted++
      }
    }
    return inserted
  }

  /**
   * The batch that used the claims `used` is answered. Claims are used up only by a batch that
   * succeeded: a failed one is not delivered, and its events' retries still need them.
   */
  settle(used: Set<string>, delivered: boolean): void {
    for (const k of used) {
      if (delivered) this.keys?.delete(k)
      this.inFlight.delete(k)
    }
  }
}
