#!/usr/bin/env node
// The bin is only this: the CLI lives in src/cli/ and is built to dist/ by `npm ci` (prepare).
import { runCli } from '../dist/src/cli/main.js'

await runCli()
