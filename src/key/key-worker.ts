/** @module Worker-thread entry: keys slabs sent by WorkerKeyer, writing results into their shared memory. */
import { parentPort, workerData } from 'node:worker_threads'
import { SpanKeyer, type KeyingOptions } from './keyer.js'
import type { SlabResults } from './slab.js'

/** A slab's span and result arrays: sent once per slab and worker (and again when they grew), then named by the slab's id. */
export interface SlabMemory {
  starts: SharedArrayBuffer
  ends: SharedArrayBuffer
  results: { status: SharedArrayBuffer; compact: SharedArrayBuffer; digests: SharedArrayBuffer; times: SharedArrayBuffer; errorAt: SharedArrayBuffer; preset: SharedArrayBuffer }
}

export interface KeyRequest {
  slab: number
  /** Present when this worker has not seen the slab's current arrays. */
  memory?: SlabMemory
  /** The events' bytes: a slab's own memory or an input buffer it adopted, named by an id; sent once per worker. */
  bytes: number
  bytesMemory?: SharedArrayBuffer
  count: number
}

export interface KeyReply {
  reasons: Array<[number, string]>
  error?: string
}

interface SlabViews {
  starts: Int32Array
  ends: Int32Array
  results: SlabResults
}

const keyer = new SpanKeyer(workerData as KeyingOptions)
const slabs = new Map<number, SlabViews>()
const byteBuffers = new Map<number, Buffer>()

function viewsOf(m: SlabMemory): SlabViews {
  return {
    starts: new Int32Array(m.starts),
    ends: new Int32Array(m.ends),
    results: {
      status: new Uint8Array(m.results.status),
      compact: new Uint8Array(m.results.compact),
      digests: new Uint8Array(m.results.digests),
      times: new Float64Array(m.results.times),
      errorAt: new Int32Array(m.results.errorAt),
      preset: new Uint8Array(m.results.preset),
    },
  }
}

parentPort!.on('message', (req: KeyRequest) => {
  const reasons: Array<[number, string]> = []
  try {
    if (req.memory !== undefined) slabs.set(req.slab, viewsOf(req.memory))
    if (req.bytesMemory !== undefined) byteBuffers.set(req.bytes, Buffer.from(req.bytesMemory))
    const v = slabs.get(req.slab)
    const bytes = byteBuffers.get(req.bytes)
    if (v === undefined || bytes === undefined) throw new Error(`slab ${req.slab} or bytes ${req.bytes} was never sent`)
    keyer.keyRange(bytes, v.starts, v.ends, v.results, 0, req.count, reasons)
    parentPort!.postMessage({ reasons } satisfies KeyReply)
  } catch (e) {
    parentPort!.postMessage({ reasons, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies KeyReply)
  }
})
