#!/usr/bin/env node
// Thin launcher: the CLI is built to dist/ by `pnpm install` (root `prepare`).
import { main } from '../dist/index.js';

process.exitCode = await main(process.argv.slice(2));
