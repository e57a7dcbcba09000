/** @module Worker-thread entry: keys slabs sent by WorkerKeyer, writing results into their shared memory. */
import { parentPort, workerData } from 'node:worker_threads'
import { SpanKeyer, type KeyingOptions } from './keyer.js'
import type { SlabResults } from './slab.js'

/** A slab's shared memory: sent once per slab and worker (and again when the slab grew), then named by its id. */
export interface SlabMemory {
  bytes: SharedArrayBuffer
  starts: SharedArrayBuffer
  ends: SharedArrayBuffer
  results: { status: SharedArrayBuffer; compact: SharedArrayBuffer; digests: SharedArrayBuffer; times: SharedArrayBuffer; errorAt: SharedArrayBuffer; preset: SharedArrayBuffer }
}

export interface KeyRequest {
  slab: number
  /** Present when this worker has not seen the slab's current memory. */
  memory?: SlabMemory
  count: number
}

export interface KeyReply {
  reasons: Array<[number, string]>
  error?: string
}

interface SlabViews {
  bytes: Buffer
  starts: Int32Array
  ends: Int32Array
  results: SlabResults
}

const keyer = new SpanKeyer(workerData as KeyingOptions)
const slabs = new Map<number, SlabViews>()

function viewsOf(m: SlabMemory): SlabViews {
  return {
    bytes: Buffer.from(m.bytes),
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
    const v = slabs.get(req.slab)
    if (v === undefined) throw new Error(`slab ${req.slab} was never sent`)
    keyer.keyRange(v.bytes, v.starts, v.ends, v.results, 0, req.count, reasons)
    parentPort!.postMessage({ reasons } satisfies KeyReply)
  } catch (e) {
    parentPort!.postMessage({ reasons, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies KeyReply)
  }
})
