#!/usr/bin/env node
import module from 'node:module';

// V8's on-disk compile cache (Node 22.1+): pydbg's and dockerode's modules load faster on every
// run after the first. Start-up is a large part of a short `pydbg run`.
module.enableCompileCache?.();
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
