/** @module serve --to kafka: each request's valid events, framed and keyed by the core, forwarded to the raw topic; `consume` deduplicates them. */
import { DedupCore, type CoreOptions } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import type { KafkaForwarder, ForwardedEvent } from '../kafka/forwarder.js'
import { forEachSlice, rejectedOutcome, type EventOutcome, type ServeBackend } from './backend.js'

export class KafkaBackend implements ServeBackend {
  readonly name = 'kafka'
  readonly acceptedStatus = 202
  private readonly core: DedupCore

  constructor(
    options: CoreOptions,
    private readonly forwarder: KafkaForwarder,
  ) {
    this.core = new DedupCore(options, null)
  }

  ready(): Promise<void> {
    return this.forwarder.ready()
  }

  stats(): null {
    return null
  }

  async check(body: Buffer, single: boolean): Promise<EventOutcome[]> {
    const core = this.core
    const outcomes: EventOutcome[] = []
    await forEachSlice(core, body, single, async (work) => {
      const slab = work.slab
      const events: ForwardedEvent[] = []
      // Nothing is checked here: every valid event is taken as new and goes to the raw topic.
      core.admitAll(work)
      core.settle(work, {
        unique(k) {
          const key = keyHex(slab, k)
          // Copied: the slab is reused by the next request while this one's send is in flight.
          events.push({ key: Buffer.from(key, 'latin1'), value: Buffer.from(eventText(slab, k)) })
          outcomes.push({ status: 'accepted', key })
        },
        duplicate() {},
        rejected(_k, { reason, notJson }) {
          outcomes.push(rejectedOutcome(reason, notJson))
        },
      })
      await this.forwarder.forward(events)
    })
    return outcomes
  }
}
