// The library in a few lines: `node examples/library.mjs` (after `npm ci`), or with a Redis:
// REDIS_URL=redis://127.0.0.1:6379/0 node examples/library.mjs
import { readFileSync } from 'node:fs'
import { Deduplicator, DedupBackendError } from 'kion-dedup'

const dedup = await Deduplicator.open(process.env.REDIS_URL ? { backend: 'redis', redisUrl: process.env.REDIS_URL, window: '7d' } : { window: '7d' })
try {
  // One event: the seed's sample, as text. Its retry, with other fields changed, is a duplicate.
  const sample = readFileSync(new URL('../fixtures/sample-event.json', import.meta.url), 'utf8')
  console.log('sample       ', await dedup.check(sample))
  console.log('sample again ', await dedup.check({ ...JSON.parse(sample), dt_add: 'a retry' }))

  // A batch: one store round trip, results in input order.
  const lines = readFileSync(new URL('../fixtures/events.ndjson', import.meta.url), 'utf8').split('\n').filter(Boolean)
  const results = await dedup.checkMany(lines)
  const count = (status) => results.filter((r) => r.status === status).length
  console.log(`fixtures      read ${results.length}, unique ${count('unique')}, duplicate ${count('duplicate')}, rejected ${count('rejected')}`)
} catch (e) {
  // The store did not answer: nothing was remembered as delivered; retry later.
  if (e instanceof DedupBackendError) console.error('store unavailable, retry later:', e.message)
  throw e
} finally {
  await dedup.close()
}
