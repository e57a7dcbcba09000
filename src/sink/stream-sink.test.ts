import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough, Writable } from 'node:stream'
import { StreamSink } from './stream-sink.js'

function collector(): { out: Writable; text: () => string; writes: () => number } {
  const parts: Buffer[] = []
  let writes = 0
  const out = new Writable({
    writev(chunks, cb) {
      writes++
      for (const c of chunks) parts.push(Buffer.from(c.chunk as Buffer))
      cb()
    },
    write(chunk: Buffer, _enc, cb) {
      writes++
      parts.push(Buffer.from(chunk))
      cb()
    },
  })
  return { out, text: () => Buffer.concat(parts).toString(), writes: () => writes }
}

test('copied and in-place events keep their order; adjacent in-place events with their newlines go out as one piece', async () => {
  const { out, text, writes } = collector()
  const sink = new StreamSink(out, false)
  const input = Buffer.from('{"a":1}\n{"a":2}\n{"a":3}\r\n{"a":4}')
  sink.writeInPlace(input, 0, 7)
  sink.writeInPlace(input, 8, 15)
  sink.write(Buffer.from('{"copied":true}'))
  sink.writeInPlace(input, 16, 23) // followed by \r: the sink adds the newline
  sink.writeRange(input, 0, 7)
  sink.writeInPlace(input, 25, input.length) // the last event, no newline after it
  await sink.flush()
  await sink.written()
  assert.equal(text(), '{"a":1}\n{"a":2}\n{"copied":true}\n{"a":3}\n{"a":1}\n{"a":4}\n')
  assert.equal(writes(), 1, 'one flush, one writev')
})

test('in-place bytes may change once written() resolves, and not before it is asked', async () => {
  const through = new PassThrough()
  const got: Buffer[] = []
  through.on('data', (c: Buffer) => got.push(Buffer.from(c)))
  const sink = new StreamSink(through, false)
  const input = Buffer.from('{"x":"first"}\n')
  sink.writeInPlace(input, 0, input.length - 1)
  await sink.flush()
  await sink.written()
  input.fill(0x20)
  sink.write(Buffer.from('{"y":2}'))
  await sink.flush()
  await sink.written()
  assert.equal(Buffer.concat(got).toString(), '{"x":"first"}\n{"y":2}\n')
})

test('a copied event larger than the buffer grows it without losing what was written before', async () => {
  const { out, text } = collector()
  const sink = new StreamSink(out, false)
  sink.write(Buffer.from('{"small":1}'))
  const big = Buffer.from(`{"big":"${'b'.repeat(3 << 20)}"}`)
  sink.write(big)
  sink.write(Buffer.from('{"small":2}'))
  await sink.close()
  assert.equal(text(), `{"small":1}\n${big.toString()}\n{"small":2}\n`)
})
