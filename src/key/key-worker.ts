/** @module Worker-thread entry: keys slabs sent by WorkerKeyer, writing results into their shared memory. */
import { parentPort, workerData } from 'node:worker_threads'
import { SpanKeyer, type KeyingOptions } from './keyer.js'
import type { SlabResults } from './slab.js'

export interface KeyRequest {
  bytes: SharedArrayBuffer
  starts: SharedArrayBuffer
  ends: SharedArrayBuffer
  results: { status: SharedArrayBuffer; compact: SharedArrayBuffer; digests: SharedArrayBuffer; times: SharedArrayBuffer; errorAt: SharedArrayBuffer; preset: SharedArrayBuffer }
  count: number
}

export interface KeyReply {
  reasons: Array<[number, string]>
  error?: string
}

const keyer = new SpanKeyer(workerData as KeyingOptions)

parentPort!.on('message', (req: KeyRequest) => {
  const reasons: Array<[number, string]> = []
  try {
    const r: SlabResults = {
      status: new Uint8Array(req.results.status),
      compact: new Uint8Array(req.results.compact),
      digests: new Uint8Array(req.results.digests),
      times: new Float64Array(req.results.times),
      errorAt: new Int32Array(req.results.errorAt),
      preset: new Uint8Array(req.results.preset),
    }
    keyer.keyRange(Buffer.from(req.bytes), new Int32Array(req.starts), new Int32Array(req.ends), r, 0, req.count, reasons)
    parentPort!.postMessage({ reasons } satisfies KeyReply)
  } catch (e) {
    parentPort!.postMessage({ reasons, error: e instanceof Error ? e.stack ?? e.message : String(e) } satisfies KeyReply)
  }
})
