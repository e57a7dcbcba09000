/**
 * @module The WebAssembly (SIMD) fast path of the JSON scanner, built from assembly/json-scanner.ts
 * by `npm run build`. It accepts exactly what {@link JsonScanner} accepts and records the same
 * spans, several times faster; it gives no error messages: on a reject (or a case it leaves to
 * JavaScript) the caller rescans the event with JsonScanner, which says what and where.
 */
import { readFileSync } from 'node:fs'
import type { ScanSpans, ValueKind } from './json-scanner.js'

interface ScannerExports {
  memory: WebAssembly.Memory
  INPUT: WebAssembly.Global
  MAX_FIELDS: WebAssembly.Global
  fieldsAt(): number
  resultsAt(): number
  scan(start: number, end: number, base: number, prefix: number): number
  key(keyCount: number, allowMissing: number, base: number, scratch: number): number
  splitElement(start: number, end: number, base: number): number
  sha256Head(msg: number, len: number, out: number): void
}

/** What `scan` answers. */
export const WasmScan = { Ok: 0, Invalid: 1, AskJs: 2 } as const
export type WasmScan = (typeof WasmScan)[keyof typeof WasmScan]

/** SIMD loads may read this far past the last input byte (the splitter reads 64 bytes at a time). */
const PADDING = 64
const PAGE = 65536
const MAX_KEY_FIELDS = 64

let compiled: WebAssembly.Module | null | undefined

/** The compiled module, once per thread; null when WebAssembly SIMD is unavailable or turned off. */
function scannerModule(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled
  // KION_DEDUP_SCANNER=js runs the JavaScript scanner alone (the benchmark's baseline, and a way out).
  if (process.env.KION_DEDUP_SCANNER === 'js') return (compiled = null)
  try {
    compiled = new WebAssembly.Module(readFileSync(new URL('../../wasm/json-scanner.wasm', import.meta.url)))
  } catch {
    compiled = null
  }
  return compiled
}

export class WasmScanner implements ScanSpans {
  /** The buffer `load` copied in last, and how much of it; null after a load of a part of one. */
  loadedFrom: Uint8Array | null = null
  loadedLength = 0
  start!: Int32Array
  end!: Int32Array
  kind!: Uint8Array
  escaped!: Uint8Array
  private readonly count: number
  private readonly exports: ScannerExports
  private readonly input: number
  private readonly results: number
  private bytes: Uint8Array
  private base = 0
  /** Where `key` builds an encoding: after the loaded bytes (an encoding is never longer than its event plus 5 bytes a field). */
  private scratch = 0
  /** The 16-byte key digest `key` wrote. */
  digest!: Uint8Array

  /** A scanner for these wanted members; null when the fast path is unavailable (the caller scans with JsonScanner alone). */
  static create(fields: readonly string[]): WasmScanner | null {
    const module = scannerModule()
    if (module === null) return null
    const exports = new WebAssembly.Instance(module).exports as unknown as ScannerExports
    const names = fields.map((f) => Buffer.from(f, 'utf8'))
    const fieldsAt = exports.fieldsAt()
    const namesAt = fieldsAt + 4 + 8 * (exports.MAX_FIELDS.value as number)
    const namesBytes = names.reduce((n, b) => n + b.length, 0)
    if (fields.length > (exports.MAX_FIELDS.value as number) || namesAt + namesBytes > exports.resultsAt()) return null
    return new WasmScanner(exports, names, fields.length)
  }

  private constructor(exports: ScannerExports, names: Buffer[], count: number) {
    this.exports = exports
    this.input = exports.INPUT.value as number
    this.results = exports.resultsAt()
    const mem = new Uint8Array(exports.memory.buffer)
    const view = new DataView(exports.memory.buffer)
    const fieldsAt = exports.fieldsAt()
    let nameAt = fieldsAt + 4 + 8 * (exports.MAX_FIELDS.value as number)
    view.setUint32(fieldsAt, count, true)
    names.forEach((name, f) => {
      view.setUint32(fieldsAt + 4 + f * 8, nameAt, true)
      view.setUint32(fieldsAt + 8 + f * 8, name.length, true)
      mem.set(name, nameAt)
      nameAt += name.length
    })
    this.bytes = mem
    this.count = count
    this.bindViews()
  }

  /** Views on the result area; growing the memory detaches the old ones. */
  private bindViews(): void {
    const buffer = this.exports.memory.buffer
    const r = this.results
    this.bytes = new Uint8Array(buffer)
    this.start = new Int32Array(buffer, r, this.count)
    this.end = new Int32Array(buffer, r + 256, this.count)
    this.kind = new Uint8Array(buffer, r + 512, this.count)
    this.escaped = new Uint8Array(buffer, r + 576, this.count)
    this.digest = new Uint8Array(buffer, r + 656, 16)
  }

  get topKind(): ValueKind {
    return this.bytes[this.results + 640] as ValueKind
  }

  get innerWhitespace(): boolean {
    return this.bytes[this.results + 641] === 1
  }

  get valueEnd(): number {
    return new DataView(this.exports.memory.buffer).getInt32(this.results + 644, true)
  }

  /**
   * Copies `buf[from, to)` into the module's memory. Scans then take positions counted in `buf`,
   * within that range, and record spans counted in `buf` too.
   */
  load(buf: Uint8Array, from: number, to: number): void {
    const need = this.input + 2 * (to - from) + 2 * PADDING + 5 * MAX_KEY_FIELDS
    const memory = this.exports.memory
    if (need > memory.buffer.byteLength) {
      memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE))
      this.bindViews()
    }
    this.bytes.set(buf.subarray(from, to), this.input)
    this.loadedFrom = from === 0 ? buf : null
    this.loadedLength = to
    this.bytes.fill(0, this.input + (to - from), this.input + (to - from) + PADDING)
    this.base = this.input - from
    this.scratch = (this.input + (to - from) + 2 * PADDING) & ~7
  }

  /**
   * After a successful scan: the canonical encoding of the first `keyCount` wanted fields and its
   * digest (in `digest`), for strings without escapes, true, false, null and (allowMissing)
   * absent members. Ok, or AskJs for everything else (numbers, escapes, wrong kinds), which
   * src/key/canonical.ts encodes or rejects.
   */
  key(keyCount: number, allowMissing: boolean): WasmScan {
    return this.exports.key(keyCount, allowMissing ? 1 : 0, this.base, this.scratch) as WasmScan
  }

  /**
   * Where the array element (an object) starting at `start` ends, by brackets and strings alone,
   * as JsonFramer's skipBalanced finds it; -1 when the loaded bytes end first, -2 for an element
   * the JavaScript splitter must do (a control byte in a string, a backslash outside one).
   */
  splitElement(start: number, end: number): number {
    return this.exports.splitElement(start, end, this.base)
  }

  /** The first 16 bytes of SHA-256 of `data` (for tests: the digest `key` uses). */
  sha256Head(data: Uint8Array): Uint8Array {
    this.load(data, 0, data.length)
    this.exports.sha256Head(this.input, data.length, this.results + 656)
    return Uint8Array.from(this.digest)
  }

  /** As JsonScanner.scan over the loaded bytes `[start, end)`. */
  scan(start: number, end: number): WasmScan {
    return this.exports.scan(start, end, this.base, 0) as WasmScan
  }

  /** As JsonScanner.scanPrefix over the loaded bytes; `valueEnd` tells where the value stopped. */
  scanPrefix(start: number, end: number): WasmScan {
    return this.exports.scan(start, end, this.base, 1) as WasmScan
  }
}
