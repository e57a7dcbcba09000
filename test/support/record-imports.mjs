// Loaded with `node --import`: registers a resolve hook that writes every module URL the process
// loads, one a line, to the file named by KION_RECORD_IMPORTS (test/startup.test.ts reads it).
import { register } from 'node:module'

register('./record-imports-hooks.mjs', import.meta.url, { data: { file: process.env.KION_RECORD_IMPORTS } })
