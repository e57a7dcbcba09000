/** @module replay's input: events read through the CLI's own sources and the core's framing and keying, each with its key. */
import { DedupCore } from '../core/dedup-core.js'
import { eventText, keyHex } from '../core/settle.js'
import type { KeyingOptions } from '../key/keyer.js'
import { SlabStatus } from '../key/slab.js'
import { openSources } from '../source/index.js'
import type { Readable } from 'node:stream'

export interface ReplayEvent {
  /** The event as one line of JSON. */
  text: Buffer
  /** Its key digest (hex), so answers can be checked per key; null when the keyer rejects it (sent anyway: the server must reject it too). */
  key: string | null
}

/** Reads every event of the files (or stdin), keyed as the server will key them. */
export async function loadEvents(files: readonly string[], stdin: Readable, keying: KeyingOptions): Promise<ReplayEvent[]> {
  const core = new DedupCore({ keying, clock: 'ingest', maxEventBytes: 64 << 20 }, null)
  const events: ReplayEvent[] = []
  for (const source of openSources(files, stdin, () => {})) {
    const chunks: Buffer[] = []
    for await (const c of source.chunks()) chunks.push(Buffer.from(c))
    const work = core.acquire()
    core.collect(work, Buffer.concat(chunks), false, source.name)
    core.key(work)
    const slab = work.slab
    for (let k = 0; k < slab.count; k++) {
      events.push({ text: Buffer.from(eventText(slab, k)), key: slab.results.status[k] === SlabStatus.Keyed ? keyHex(slab, k) : null })
    }
    core.release(work)
  }
  return events
}
