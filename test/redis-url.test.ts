/** Redis URLs on the command line: a password is never printed, even when the URL does not parse; a database the server does not have is refused (issue 15, items 11 and 12). */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { FIXTURES, cli } from './helpers.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { redactCredentials } from '../src/redact.js'

let redis: RedisServer
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis?.dispose()
})

const input = join(FIXTURES, 'events.ndjson')

test('a password in a Redis URL that does not parse is not printed', () => {
  for (const url of ['redis://:S3cretPW-xyz@127.0.0.1:99999/0', 'redis://:S3cretPW-xyz@127.0.0.1:-1/0', 'redis://:S3cretPW-xyz@/0', 'redis://:S3cretPW-xyz@[::1', 'redis://u:S3cret/PW@x@127.0.0.1:99999/0']) {
    const r = cli(['--backend', 'redis', '--redis-url', url, input])
    assert.notEqual(r.status, 0, url)
    assert.doesNotMatch(r.stderr + r.stdout, /S3cret|PW-xyz|PW@x/, url)
    assert.match(r.stderr, /\*\*\*/, url)
  }
  assert.equal(redactCredentials('postgres://u:p@ss/w#rd@h:5/db'), 'postgres://u:***@h:5/db')
  assert.equal(redactCredentials('redis://host:6379/0'), 'redis://host:6379/0')
  assert.equal(redactCredentials('redis://user@host/0'), 'redis://user@host/0')
})

test('a database number the server does not have, or one that is no whole number, is refused instead of using database 0', () => {
  for (const db of ['16', '99']) {
    const r = cli(['--backend', 'redis', '--redis-url', `${redis.url.replace(/\/0$/, '')}/${db}`, input])
    assert.equal(r.status, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`select database ${db}: .*(out of range|invalid)`, 'i'))
  }
  const notNumber = cli(['--backend', 'redis', '--redis-url', `${redis.url.replace(/\/0$/, '')}/1e3`, input])
  assert.equal(notNumber.status, 1, notNumber.stderr)
  assert.match(notNumber.stderr, /bad database number in Redis URL .*"1e3"/)
  const ok = cli(['--backend', 'redis', '--redis-url', `${redis.url.replace(/\/0$/, '')}/15`, input])
  assert.equal(ok.status, 0, ok.stderr)
  assert.match(ok.stderr, /unique 149/)
})
