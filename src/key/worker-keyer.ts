/** @module Keying on worker threads: each slab goes whole to the next idle worker; the pipeline consumes results in order. */
import { Worker } from 'node:worker_threads'
import type { Keyer, KeyingOptions } from './keyer.js'
import type { Slab } from './slab.js'
import type { KeyReply, KeyRequest, SlabMemory } from './key-worker.js'

interface Pending {
  resolve: () => void
  reject: (e: Error) => void
  slab: Slab
}

export class WorkerKeyer implements Keyer {
  private readonly workers: Worker[]
  /** Requests in flight per worker, in the order sent (a worker answers in order). */
  private readonly queues: Pending[][]
  private next = 0
  /** Per worker: the memory generation of each slab as last sent to it (a slab that grew has new buffers). */
  private readonly sent: Array<Map<Slab, number>>
  private readonly ids = new Map<Slab, number>()
  /** Ids of the byte buffers events sit in (slabs' own, and input buffers slabs adopted), and which worker has which. */
  private readonly bufferIds = new WeakMap<ArrayBufferLike, number>()
  private nextBufferId = 0
  private readonly sentBuffers: Array<Set<number>>

  constructor(threads: number, options: KeyingOptions) {
    this.workers = Array.from({ length: threads }, () => new Worker(new URL('./key-worker.js', import.meta.url), { workerData: options }))
    this.queues = this.workers.map(() => [])
    this.sent = this.workers.map(() => new Map())
    this.sentBuffers = this.workers.map(() => new Set())
    this.workers.forEach((w, i) => {
      w.on('message', (reply: KeyReply) => {
        const p = this.queues[i].shift()!
        if (reply.error !== undefined) p.reject(new Error(`key worker failed: ${reply.error}`))
        else {
          // Reasons found while framing stay; the worker's are added.
          for (const r of reply.reasons) p.slab.reasons.push(r)
          p.resolve()
        }
      })
      w.on('error', (e) => this.queues[i].splice(0).forEach((p) => p.reject(e)))
    })
  }

  key(slab: Slab): Promise<void> {
    // The worker with the fewest requests waiting, starting after the last one used.
    let best = this.next
    for (let k = 0; k < this.workers.length; k++) {
      const i = (this.next + k) % this.workers.length
      if (this.queues[i].length < this.queues[best].length) best = i
    }
    this.next = (best + 1) % this.workers.length
    return new Promise((resolve, reject) => {
      this.queues[best].push({ resolve, reject, slab })
      let id = this.ids.get(slab)
      if (id === undefined) this.ids.set(slab, (id = this.ids.size))
      // Slabs are reused: their memory is sent to a worker once (and again after it grew), not with every request.
      const sent = this.sent[best]
      const shared = slab.bytes.buffer
      let bytesId = this.bufferIds.get(shared)
      if (bytesId === undefined) this.bufferIds.set(shared, (bytesId = this.nextBufferId++))
      const req: KeyRequest = { slab: id, count: slab.count, bytes: bytesId }
      if (sent.get(slab) !== slab.memoryGeneration) {
        req.memory = memoryOf(slab)
        sent.set(slab, slab.memoryGeneration)
      }
      if (!this.sentBuffers[best].has(bytesId)) {
        req.bytesMemory = shared as SharedArrayBuffer
        this.sentBuffers[best].add(bytesId)
      }
      this.workers[best].postMessage(req)
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }
}

function memoryOf(slab: Slab): SlabMemory {
  const r = slab.results
  return {
    starts: slab.starts.buffer as SharedArrayBuffer,
    ends: slab.ends.buffer as SharedArrayBuffer,
    results: {
      status: r.status.buffer as SharedArrayBuffer,
      compact: r.compact.buffer as SharedArrayBuffer,
      digests: r.digests.buffer as SharedArrayBuffer,
      times: r.times.buffer as SharedArrayBuffer,
      errorAt: r.errorAt.buffer as SharedArrayBuffer,
      preset: r.preset.buffer as SharedArrayBuffer,
    },
  }
}
