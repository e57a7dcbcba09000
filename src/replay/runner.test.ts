import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as hdr from 'hdr-histogram-js'
import { latencySummary } from './runner.js'

test('no percentile is above the max: HDR rounds a value up to its bucket top, which may pass the largest recorded (issue 15, item 8)', () => {
  const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 })
  for (let i = 0; i < 10; i++) h.recordValue(1000 + i)
  h.recordValue(217_752)
  assert.ok(h.getValueAtPercentile(99.9) > h.maxValue, 'the histogram itself answers above its max here')
  const l = latencySummary(h)
  assert.equal(l.max, 217.752)
  for (const p of [l.p50, l.p90, l.p99, l.p999]) assert.ok(p <= l.max, `${p} > ${l.max}`)
  assert.equal(l.p999, 217.752)
  assert.ok(l.p50 < l.p99)
  h.destroy()
})
