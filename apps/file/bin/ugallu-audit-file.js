#!/usr/bin/env node
// Thin launcher for the bundle that `pnpm install` builds (root `prepare`).
import '../dist/main.js';
