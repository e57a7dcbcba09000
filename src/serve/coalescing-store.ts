/**
 * @module serve's checks of requests that arrive together, sent to a remote store as one batch.
 *
 * Each request's keys are a batch of their own (the core's check). One store call a request
 * costs Redis a script call each (its fixed part, the journal write, the hash TTL check) and the
 * process a round trip each; requests that arrive together share one instead. A check is queued;
 * the queue goes out at the end of the event-loop turn (setImmediate: every request whose body
 * completed in that turn joins), and while a call is out (MAX_IN_FLIGHT), arrivals wait for one to
 * be answered and then go together. Merged in queue order, which is call order: the store sees
 * the keys in the order it would have seen the separate batches, so answers are the same (a key
 * repeated across two requests is new for the first, seen for the second, as it would be one
 * call later). A failed call fails every request in it (each answered 503, nothing written).
 */
import { newKeyBatch, type KeyBatch, type Store, type StoreStats } from '../store.js'

/**
 * Merged calls out at once. One: the next gathers while it is answered. Measured under wrk -c32
 * (serve --backend redis, 5 KB events): 1 merged 11-14 requests a call, 2 and 4 about 10, at no
 * better throughput; Redis CPU a request fell from ~47-56 us (a call each) to ~26 us.
 */
const MAX_IN_FLIGHT = 1
/** Keys in one merged call at most (the store splits it into script calls of its own size). */
const MAX_KEYS = 4096

interface Pending {
  batch: KeyBatch
  resolve: () => void
  reject: (e: unknown) => void
}

export class CoalescingStore implements Store {
  private queue: Pending[] = []
  private inFlight = 0
  private scheduled = false
  /** Merged calls made, and the requests' batches in them: for tests and profiling. */
  calls = 0
  batches = 0

  /** The inner store's own (called directly: only checks are merged). */
  readonly ready?: () => Promise<void>
  readonly forget?: (batch: KeyBatch, which: (i: number) => boolean) => Promise<void>
  readonly release?: (batch: KeyBatch, which: (i: number) => boolean) => Promise<void>

  constructor(readonly inner: Store) {
    this.ready = inner.ready?.bind(inner)
    this.forget = inner.forget?.bind(inner)
    this.release = inner.release?.bind(inner)
  }

  get name(): string {
    return this.inner.name
  }

  get reserves(): boolean | undefined {
    return this.inner.reserves
  }

  get remembersOccurrences(): boolean | undefined {
    return this.inner.remembersOccurrences
  }

  check(batch: KeyBatch): Promise<void> {
    if (batch.count === 0) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ batch, resolve, reject })
      this.schedule()
    })
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.send()
    })
  }

  private send(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      const group = this.take()
      this.inFlight++
      this.calls++
      this.batches += group.length
      void this.run(group).finally(() => {
        this.inFlight--
        this.schedule()
      })
    }
  }

  /** The queue's head, as many batches as fit in MAX_KEYS (at least one); batches with occurrences are merged only with their like. */
  private take(): Pending[] {
    const q = this.queue
    let n = 1
    let keys = q[0].batch.count
    const occ = q[0].batch.occurrences !== undefined
    while (n < q.length && keys + q[n].batch.count <= MAX_KEYS && (q[n].batch.occurrences !== undefined) === occ) keys += q[n++].batch.count
    const group = q.slice(0, n)
    this.queue = q.slice(n)
    return group
  }

  private async run(group: Pending[]): Promise<void> {
    if (group.length === 1) {
      const p = group[0]
      try {
        await this.inner.check(p.batch)
        p.resolve()
      } catch (e) {
        p.reject(e)
      }
      return
    }
    let total = 0
    for (const p of group) total += p.batch.count
    const merged = newKeyBatch(total)
    const occurrences: string[] | undefined = group[0].batch.occurrences !== undefined ? [] : undefined
    let at = 0
    for (const { batch: b } of group) {
      merged.digests.set(b.digests.subarray(0, b.count * 16), at * 16)
      merged.times.set(b.times.subarray(0, b.count), at)
      merged.ordinals.set(b.ordinals.subarray(0, b.count), at)
      if (occurrences !== undefined) occurrences.push(...b.occurrences!.slice(0, b.count))
      at += b.count
    }
    merged.count = total
    merged.occurrences = occurrences
    try {
      await this.inner.check(merged)
    } catch (e) {
      for (const p of group) p.reject(e)
      return
    }
    at = 0
    for (const p of group) {
      p.batch.firstSeen.set(merged.firstSeen.subarray(at, at + p.batch.count))
      at += p.batch.count
      p.resolve()
    }
  }

  stats(): StoreStats {
    return this.inner.stats()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
