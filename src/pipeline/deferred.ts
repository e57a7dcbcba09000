/**
 * @module Events whose key another live process holds reserved (Redis): not unique, not a duplicate
 * yet. The batch run sets them aside and goes on, asking again now and then, instead of waiting in
 * place: two runs that each wait for a key the other holds, while holding keys the other waits for,
 * would otherwise both stall until their leases ran out and then both output the same events.
 * An event set aside comes out once settled, after events that followed it in the input.
 */
import { RESERVED_ELSEWHERE, newKeyBatch, type KeyBatch, type Store } from '../store.js'
import type { EventPlace } from '../report.js'

export interface DeferredEvent {
  /** The NDJSON line to output if it turns out unique (a copy: its slab is reused). */
  text: Buffer
  digest: Uint8Array
  time: number
  place: EventPlace
  key: string
}

export interface DeferredOutcomes {
  unique(e: DeferredEvent): void
  duplicate(e: DeferredEvent): void
  /** The batch just checked: its new keys (firstSeen 0) are now this process's reservations. */
  checked(batch: KeyBatch): void
}

const FIRST_WAIT_MS = 50
const LONGEST_WAIT_MS = 1000

export class Deferred {
  private items: DeferredEvent[] = []
  private due = 0
  private waitMs = FIRST_WAIT_MS

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.items.length
  }

  add(e: DeferredEvent): void {
    if (this.items.length === 0) {
      this.waitMs = FIRST_WAIT_MS
      this.due = this.now() + this.waitMs
    }
    this.items.push(e)
  }

  /** Asks again about the events set aside, if it is time (`wait`: sleep until it is). Each settled one goes to `on`, in input order. */
  async retry(wait: boolean, on: DeferredOutcomes): Promise<void> {
    if (this.items.length === 0) return
    const left = this.due - this.now()
    if (left > 0) {
      if (!wait) return
      await new Promise((resolve) => setTimeout(resolve, left))
    }
    const items = this.items
    const batch = newKeyBatch(items.length)
    items.forEach((e, i) => {
      batch.digests.set(e.digest, i * 16)
      batch.times[i] = e.time
      batch.ordinals[i] = e.place.event
    })
    batch.count = items.length
    await this.store.check(batch)
    const still: DeferredEvent[] = []
    items.forEach((e, i) => {
      const first = batch.firstSeen[i]
      if (first === RESERVED_ELSEWHERE) still.push(e)
      else if (first === 0) on.unique(e)
      else on.duplicate(e)
    })
    on.checked(batch)
    this.items = still
    this.waitMs = Math.min(LONGEST_WAIT_MS, this.waitMs * 2)
    this.due = this.now() + this.waitMs
  }
}
