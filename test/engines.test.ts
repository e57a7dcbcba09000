/**
 * package.json's `engines.node` is the real requirement: every package `npm ci` installs (the
 * lock's `packages`, dev ones included) must accept the oldest Node it admits, or npm warns
 * EBADENGINE on an install with that Node (issue 15, item 2).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './helpers.js'

type Version = [number, number, number]
/** A comparator set: all of its bounds hold. `hi` is exclusive. */
interface Interval {
  lo: Version
  hi: Version | null
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
}

/** '20', '20.x', '20.19.4', '*': the numbers given (null where x, * or absent). */
function partial(text: string, range: string): Array<number | null> {
  const parts = text.split('.')
  assert.ok(/^(\d+|[xX*])(\.(\d+|[xX*])){0,2}$/.test(text), `engines range '${range}': cannot read version '${text}'`)
  return [0, 1, 2].map((i) => (parts[i] === undefined || /^[xX*]$/.test(parts[i]) ? null : Number(parts[i])))
}

/** The first version past a partial one: 20 → 21.0.0, 20.19 → 20.20.0, 20.19.4 → 20.19.5. */
function after(p: Array<number | null>): Version {
  if (p[0] === null) return [Infinity, 0, 0]
  if (p[1] === null) return [p[0] + 1, 0, 0]
  if (p[2] === null) return [p[0], p[1] + 1, 0]
  return [p[0], p[1], p[2] + 1]
}

const floor = (p: Array<number | null>): Version => [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0]

/** One comparator ('>=20', '^12.17.0', '~1.2', '<4', '1.x') as the interval it allows. */
function comparator(text: string, range: string): Interval {
  const m = /^(>=|<=|>|<|=|\^|~)?v?(.+)$/.exec(text)
  assert.ok(m !== null, `engines range '${range}': cannot read '${text}'`)
  const op = m[1] ?? '='
  const p = partial(m[2], range)
  switch (op) {
    case '>=':
      return { lo: floor(p), hi: null }
    case '>':
      return { lo: after(p), hi: null }
    case '<':
      return { lo: [0, 0, 0], hi: floor(p) }
    case '<=':
      return { lo: [0, 0, 0], hi: after(p) }
    case '=':
      return { lo: floor(p), hi: after(p) }
    case '~':
      return { lo: floor(p), hi: after(p[1] === null ? [p[0], null, null] : [p[0], p[1], null]) }
    case '^': {
      // The leftmost non-zero number may not change: ^12.17 < 13, ^0.2.3 < 0.3, ^0.0.3 < 0.0.4.
      const keep = p[0] !== 0 || p[1] === null ? 1 : p[1] !== 0 || p[2] === null ? 2 : 3
      return { lo: floor(p), hi: after(p.map((n, i) => (i < keep ? n : null))) }
    }
  }
  throw new Error(`unreachable: ${op}`)
}

/** Whether `version` satisfies a node-semver range of the forms the lock holds: `||`, spaces, >=, >, <, <=, =, ^, ~, x. */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((set) => {
    assert.ok(!/\s-\s/.test(set), `engines range '${range}': hyphen ranges are not read here`)
    // '>= 22.19.0' is one comparator: the operator may stand apart from its version.
    const comparators = set.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter((c) => c !== '')
    if (comparators.length === 0) return true
    return comparators.every((c) => {
      const { lo, hi } = comparator(c, range)
      return compare(version, lo) >= 0 && (hi === null || compare(version, hi) < 0)
    })
  })
}

test('the range reader: the forms found in package-lock.json', () => {
  const yes: Array<[string, string]> = [
    ['>=20.12', '20.12.0'], ['>= 20.19.4 || >= 22.18.0 || >= 24.6.0', '20.19.4'], ['>= 10.x', '20.12.0'], ['^12.17.0 || ^14.13 || >=16.0.0', '20.12.0'],
    ['^20.17.0 || >=22.9.0', '20.17.0'], ['~20.12', '20.12.9'], ['20.x', '20.0.0'], ['>=18 <21', '20.99.0'], ['*', '0.0.1'], ['', '1.0.0'], ['^0.2.3', '0.2.9'],
  ]
  const no: Array<[string, string]> = [
    ['>=22', '20.19.4'], ['>= 22.19.0', '20.20.2'], ['>= 20.19.4 || >= 22.18.0 || >= 24.6.0', '20.12.0'], ['^20.17.0 || >=22.9.0', '21.0.0'],
    ['~20.12', '20.13.0'], ['20.x', '21.0.0'], ['>=18 <21', '21.0.0'], ['>20', '20.9.9'], ['^0.2.3', '0.3.0'],
  ]
  const v = (s: string) => s.split('.').map(Number) as Version
  for (const [range, version] of yes) assert.ok(satisfies(v(version), range), `${version} satisfies '${range}'`)
  for (const [range, version] of no) assert.ok(!satisfies(v(version), range), `${version} does not satisfy '${range}'`)
})

test("every package npm ci installs accepts the oldest Node that package.json's engines admits", () => {
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  const m = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(own.engines.node)
  assert.ok(m !== null, `package.json engines.node '${own.engines.node}' is not of the form >=X.Y.Z`)
  const oldest: Version = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } }> }
  assert.equal(lock.packages['']?.engines?.node, own.engines.node, 'package-lock.json is out of date with package.json engines (npm install)')
  const refusing = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.engines?.node !== undefined && !satisfies(oldest, p.engines.node))
    .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node '${p.engines?.node}'`)
  assert.deepEqual(refusing, [], `packages that refuse Node ${oldest.join('.')}`)
})
