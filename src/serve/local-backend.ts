/** @module serve deduplicating here: each request's events through the core (frame, key, check), unique ones to the output, answered once written. */
import { DedupCore, type CoreOptions, type Work } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import { digestHex, DIGEST_BYTES } from '../key/canonical.js'
import type { KeyBatch, Store, StoreStats } from '../store.js'
import type { Sink } from '../sink.js'
import { forEachSlice, HeldElsewhere, OutputFailure, rejectedOutcome, type EventOutcome, type ServeBackend } from './backend.js'
import { Releaser, settleReserved } from '../core/reservations.js'
import { CoalescingStore } from './coalescing-store.js'

const NONE: ReadonlySet<string> = new Set()

function batchKeyHex(batch: KeyBatch, i: number): string {
  return digestHex(batch.digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES))
}

/** How long a request waits for events another process holds reserved before it is answered 503. */
const RESERVED_WAIT_MS = 2000
/** How often written events are made durable (fsynced) and their reservations released. */
const RELEASE_EVERY_MS = 100

export class LocalBackend implements ServeBackend {
  readonly acceptedStatus = 200
  private readonly core: DedupCore
  private readonly releaser: Releaser
  private readonly timer: NodeJS.Timeout | null
  private releasing: Promise<void> = Promise.resolve()
  /** The flush shared by the requests settled in this event-loop turn (writtenSoon). */
  private flushTurn: Promise<void> | null = null
  /** Keys this server reserved for requests not yet written: a copy meanwhile waits; after, it is a duplicate. */
  private readonly inFlight = new Map<string, number>()

  /**
   * `fsync`: makes what was written to the output durable (a file); null for a pipe, where written is enough.
   * `coalesce`: checks of requests that arrive together go to the store as one call (coalescing-store.ts);
   * by default for a remote store (one with ready(): Redis), where a call costs a round trip and a script run.
   */
  constructor(
    options: CoreOptions,
    private readonly store: Store,
    private readonly sink: Sink,
    private readonly fsync: (() => Promise<void>) | null = null,
    coalesce = store.ready !== undefined,
  ) {
    // Only the core's checks are merged; forget, release and the re-asking of reserved keys go to the store itself.
    this.core = new DedupCore(options, coalesce ? new CoalescingStore(store) : store)
    this.releaser = new Releaser(store)
    this.timer = this.releaser.active ? setInterval(() => void this.releaseDurable(), RELEASE_EVERY_MS) : null
    this.timer?.unref()
  }

  /**
   * Releases the reservations of events written so far, once the output holds them durably: a
   * file is fsynced first. One at a time; what fails to release is tried again the next time.
   */
  releaseDurable(): Promise<void> {
    this.releasing = this.releasing.then(async () => {
      const taken = this.releaser.take()
      if (taken === null) return
      try {
        await this.sink.written()
        await this.fsync?.()
        await this.releaser.release(taken)
      } catch {
        // Tried again next time; meanwhile a copy here is a duplicate (not in flight), elsewhere it waits.
        this.releaser.putBack(taken)
      }
    })
    return this.releasing
  }

  /**
   * Flushes the output at the end of this event-loop turn and resolves once it is written: every
   * request settled in the same turn shares one flush, so one write (not one a request) carries
   * their events, and each is answered only once its own are written, as before.
   */
  private writtenSoon(): Promise<void> {
    if (this.flushTurn === null) {
      this.flushTurn = new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          // Events written from here on need a flush of their own.
          this.flushTurn = null
          this.sink.flush().then(() => this.sink.written()).then(resolve, reject)
        }),
      )
    }
    return this.flushTurn
  }

  /** Releases what is left; the output must be closed after. */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    await this.releaseDurable()
  }

  get name(): string {
    return this.store.name
  }

  async ready(): Promise<void> {
    await this.store.ready?.()
    if (this.sink.failure !== null) throw new OutputFailure(`output not writable: ${this.sink.failure.message}`)
  }

  stats(): StoreStats {
    return this.store.stats()
  }

  async check(body: Buffer, single: boolean): Promise<EventOutcome[]> {
    const core = this.core
    const outcomes: EventOutcome[] = []
    // Each slice is written before the next is checked: a later copy of a key an earlier slice
    // reserved finds it no longer in flight, and is a duplicate.
    await forEachSlice(core, body, single, async (work) => {
      const batch = await core.check(work)
      const reserved = this.releaser.active ? this.hold(batch) : []
      try {
        await this.settle(work, batch, reserved.length > 0 ? new Set(reserved) : NONE, outcomes)
      } finally {
        for (const hex of reserved) this.letGo(hex)
      }
    })
    return outcomes
  }

  /** The keys this request reserved, as in flight until it is answered. */
  private hold(batch: KeyBatch): string[] {
    const held: string[] = []
    for (let i = 0; i < batch.count; i++) {
      if (batch.firstSeen[i] !== 0) continue
      const hex = batchKeyHex(batch, i)
      this.inFlight.set(hex, (this.inFlight.get(hex) ?? 0) + 1)
      held.push(hex)
    }
    return held
  }

  private letGo(hex: string): void {
    const n = (this.inFlight.get(hex) ?? 1) - 1
    if (n > 0) this.inFlight.set(hex, n)
    else this.inFlight.delete(hex)
  }

  /** `mine`: the keys this slice reserved (a copy later in the same slice is a duplicate of the first); `outcomes` gets the slice's, in order. */
  private async settle(work: Work, batch: KeyBatch, mine: ReadonlySet<string>, outcomes: EventOutcome[]): Promise<void> {
    const core = this.core
    // A key reserved here is a duplicate when its event was written (no longer in flight) or is
    // this request's own; in flight for another request, or reserved elsewhere: wait a little.
    const ownIsDuplicate = (i: number) => {
      const hex = Buffer.from(batch.digests.buffer, batch.digests.byteOffset + i * 16, 16).toString('hex')
      return mine.has(hex) || !this.inFlight.has(hex)
    }
    if ((await settleReserved(this.store, batch, { ownIsDuplicate, giveUpAfterMs: RESERVED_WAIT_MS })) > 0) {
      // Not answered at all: what this request reserved is undone, so its retry finds it new again.
      await this.store.forget?.(batch, (i) => batch.firstSeen[i] === 0)
      throw new HeldElsewhere('some of these events are reserved by another process that has not output them yet (or died: then its lease runs out); retry')
    }
    const sink = this.sink
    const slab = work.slab
    let wrote = false
    core.settle(work, {
      unique(k) {
        sink.write(eventText(slab, k))
        wrote = true
        outcomes.push({ status: 'unique', key: keyHex(slab, k) })
      },
      duplicate(k) {
        outcomes.push({ status: 'duplicate', key: keyHex(slab, k) })
      },
      rejected(_k, { reason, notJson }) {
        outcomes.push(rejectedOutcome(reason, notJson))
      },
    })
    if (wrote) {
      // Acknowledged only once written: an answered event is never lost with the process.
      try {
        await this.writtenSoon()
      } catch (e) {
        // Not delivered: a shared store must not keep these keys, or a retry elsewhere would be a duplicate.
        const undone =
          this.store.forget === undefined
            ? ''
            : await this.store.forget(batch, (i) => batch.firstSeen[i] === 0).then(
                () => '; its keys were forgotten',
                (f: unknown) => `; its keys could not be forgotten (${f instanceof Error ? f.message : String(f)})`,
              )
        throw new OutputFailure(`output failed: ${e instanceof Error ? e.message : String(e)}${undone}`)
      }
      this.releaser.add(batch, (i) => batch.firstSeen[i] === 0)
    }
  }
}
