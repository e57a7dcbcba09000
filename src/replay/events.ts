/** @module replay's input: events read through the CLI's own sources, framers and keyer, each with its key. */
import type { Framer } from '../framing.js'
import { NdjsonFramer } from '../framing/ndjson-framer.js'
import { JsonFramer } from '../framing/json-framer.js'
import { detectFormat } from '../framing/detect.js'
import { compactJson } from '../framing/compact.js'
import { digestHex } from '../key/canonical.js'
import { Slab, SlabStatus } from '../key/slab.js'
import { SpanKeyer, type KeyingOptions } from '../key/keyer.js'
import { SlabCollector } from '../key/slab-collector.js'
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
  const keyer = new SpanKeyer(keying)
  const events: ReplayEvent[] = []
  for (const source of openSources(files, stdin, () => {})) {
    const chunks: Buffer[] = []
    for await (const c of source.chunks()) chunks.push(Buffer.from(c))
    const body = Buffer.concat(chunks)
    const collector = new SlabCollector(new Slab(1 << 20, 1024), keyer)
    const framer: Framer = detectFormat(body, true) === 'json' ? new JsonFramer(keyer.sharedScanner, collector, source.name, 64 << 20) : new NdjsonFramer(collector, source.name, 64 << 20)
    framer.push(body)
    framer.end()
    const slab = collector.slab
    keyer.keyRange(slab.bytes, slab.starts, slab.ends, slab.results, 0, slab.count, slab.reasons)
    const r = slab.results
    for (let k = 0; k < slab.count; k++) {
      const text = r.compact[k] === 1 ? compactJson(slab.bytes, slab.starts[k], slab.ends[k]) : Buffer.from(slab.bytes.subarray(slab.starts[k], slab.ends[k]))
      events.push({ text, key: r.status[k] === SlabStatus.Keyed ? digestHex(r.digests.subarray(k * 16, k * 16 + 16)) : null })
    }
  }
  return events
}
