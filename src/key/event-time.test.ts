import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseEventTime } from './event-time.js'

test('event times: ISO 8601 with and without zones, epoch seconds and milliseconds', () => {
  const t = Date.UTC(2025, 3, 2, 9, 15, 5)
  assert.equal(parseEventTime('2025-04-02T09:15:05.000Z', false), t)
  assert.equal(parseEventTime('2025-04-02T12:15:05.012+03:00', false), t + 12)
  assert.equal(parseEventTime('2025-04-02 09:15:05', false), t)
  assert.equal(parseEventTime('2025-04-02', false), Date.UTC(2025, 3, 2))
  assert.equal(parseEventTime('1743585305', true), t)
  assert.equal(parseEventTime('1743585305000', true), t)
  assert.equal(parseEventTime('1743585305', false), t)
  assert.equal(parseEventTime('1960-01-01 00:00:00', false), Date.UTC(1960, 0, 1))
  assert.equal(new Date(parseEventTime('0001-01-01T00:00:00Z', false)).getUTCFullYear(), 1)
  for (const bad of ['', 'yesterday', '2025-13-01T00:00:00Z', '2025-04-02T25:00:00Z', '02.04.2025']) assert.ok(Number.isNaN(parseEventTime(bad, false)), bad)
  // Past a JS Date's range a time is refused: bucket numbers there would stop being exact integers.
  assert.equal(parseEventTime('8640000000000000', true), 8.64e15)
  for (const huge of ['8640000000000001', '1000000000000000000000000', '-1e300']) assert.ok(Number.isNaN(parseEventTime(huge, true)), huge)
})
