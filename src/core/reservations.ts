/**
 * @module Reservations, from the shells' side. A store that reserves (Redis with an owner) may answer
 * that a key is reserved: by another live owner (its event is not safe anywhere yet: wait), or by
 * this process (a duplicate of what it output, or still in flight). And each unique event's key
 * must be released once the output holds it, so that its next copy is a plain duplicate.
 */
import { FIRST_SEEN_UNKNOWN, RESERVED_ELSEWHERE, RESERVED_HERE, newKeyBatch, type KeyBatch, type Store } from '../store.js'

export interface PendingOptions {
  /**
   * Whether a key this process holds reserved is a duplicate (its event was output, and is not yet
   * released) or must be waited for (still in flight), by index into the batch.
   */
  ownIsDuplicate: (i: number) => boolean
  /** Stop asking after this long (serve answers 503 then); Infinity waits for the owner or its lease. */
  giveUpAfterMs: number
  /** Told how many keys are waiting, before each wait. */
  onWait?: (waiting: number) => void
}

const FIRST_WAIT_MS = 50
const LONGEST_WAIT_MS = 1000

function waiting(first: number, ownIsDuplicate: boolean): boolean {
  return first === RESERVED_ELSEWHERE || (!ownIsDuplicate && first === RESERVED_HERE)
}

function settle(first: number, ownIsDuplicate: boolean): number {
  return first === RESERVED_HERE && ownIsDuplicate ? FIRST_SEEN_UNKNOWN : first
}

/**
 * Asks the store again about the batch's reserved keys until each is settled (released by its
 * owner: a duplicate; its lease run out: taken over, new) or `giveUpAfterMs` has passed. Answers
 * are written back into `batch.firstSeen`. Returns how many are still waiting (0: all settled).
 */
export async function settleReserved(store: Store, batch: KeyBatch, o: PendingOptions): Promise<number> {
  if (store.reserves !== true) return 0
  let pending: number[] = []
  for (let i = 0; i < batch.count; i++) {
    const own = o.ownIsDuplicate(i)
    if (waiting(batch.firstSeen[i], own)) pending.push(i)
    else batch.firstSeen[i] = settle(batch.firstSeen[i], own)
  }
  const started = Date.now()
  let wait = FIRST_WAIT_MS
  while (pending.length > 0 && Date.now() - started < o.giveUpAfterMs) {
    o.onWait?.(pending.length)
    await new Promise((resolve) => setTimeout(resolve, Math.min(wait, Math.max(0, o.giveUpAfterMs - (Date.now() - started)))))
    wait = Math.min(LONGEST_WAIT_MS, wait * 2)
    const again = newKeyBatch(pending.length)
    pending.forEach((i, j) => {
      again.digests.set(batch.digests.subarray(i * 16, i * 16 + 16), j * 16)
      again.times[j] = batch.times[i]
      again.ordinals[j] = batch.ordinals[i]
    })
    again.count = pending.length
    await store.check(again)
    const still: number[] = []
    pending.forEach((i, j) => {
      const first = again.firstSeen[j]
      const own = o.ownIsDuplicate(i)
      if (waiting(first, own)) still.push(i)
      else batch.firstSeen[i] = settle(first, own)
    })
    pending = still
  }
  return pending.length
}

/**
 * Gathers the keys of unique events whose output is not yet durable, to release them together
 * once it is (a pipe written, a file fsynced, a checkpoint saved). Keeps its own copies: the
 * batches it is given are reused.
 */
export class Releaser {
  private pending: KeyBatch = newKeyBatch(0)

  constructor(private readonly store: Store) {}

  get active(): boolean {
    return this.store.reserves === true && this.store.release !== undefined
  }

  /** Adds the keys of `batch` that `which` selects. */
  add(batch: KeyBatch, which: (i: number) => boolean): void {
    if (!this.active) return
    let p = this.pending
    for (let i = 0; i < batch.count; i++) {
      if (!which(i)) continue
      if (p.count === p.times.length) p = this.pending = grow(p)
      p.digests.set(batch.digests.subarray(i * 16, i * 16 + 16), p.count * 16)
      p.times[p.count] = batch.times[i]
      p.ordinals[p.count] = batch.ordinals[i]
      p.count++
    }
  }

  /** What was added so far, handed over; release it with `release` once its output is durable. */
  take(): KeyBatch | null {
    if (this.pending.count === 0) return null
    const taken = this.pending
    this.pending = newKeyBatch(Math.min(taken.times.length, 1 << 16))
    return taken
  }

  /** Releases keys taken earlier. Best effort: a reservation left behind only makes a later copy wait for its lease. */
  async release(taken: KeyBatch | null): Promise<void> {
    if (taken === null || !this.active) return
    await this.store.release!(taken, () => true)
  }

  /** Keys whose release failed (the store was away), to try again with the next ones. */
  putBack(taken: KeyBatch): void {
    this.add(taken, () => true)
  }
}

function grow(b: KeyBatch): KeyBatch {
  const g = newKeyBatch(Math.max(1024, b.times.length * 2))
  g.digests.set(b.digests.subarray(0, b.count * 16))
  g.times.set(b.times.subarray(0, b.count))
  g.ordinals.set(b.ordinals.subarray(0, b.count))
  g.count = b.count
  return g
}
