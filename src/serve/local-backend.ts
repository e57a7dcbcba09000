/** @module serve deduplicating here: each request's events through the core (frame, key, check), unique ones to the output, answered once written. */
import { DedupCore, type CoreOptions } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import type { Store, StoreStats } from '../store.js'
import type { Sink } from '../sink.js'
import { takeBody, OutputFailure, rejectedOutcome, type EventOutcome, type ServeBackend } from './backend.js'

export class LocalBackend implements ServeBackend {
  readonly acceptedStatus = 200
  private readonly core: DedupCore

  constructor(
    options: CoreOptions,
    private readonly store: Store,
    private readonly sink: Sink,
  ) {
    this.core = new DedupCore(options, store)
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
    const work = core.acquire()
    try {
      takeBody(core, work, body, single)
      const batch = await core.check(work)
      const outcomes: EventOutcome[] = []
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
          await sink.flush()
          await sink.written()
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
      }
      return outcomes
    } finally {
      core.release(work)
    }
  }
}
