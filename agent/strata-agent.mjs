#!/usr/bin/env node
// Entry point of the strata-agent command.

// libuv's thread pool runs every asynchronous file-system call and has 4 threads by
// default. act and recall keep several files in flight, each waiting on fsync, so the
// pool is made larger. libuv reads the variable when the pool starts, at the first
// asynchronous call, so it is set before any module is loaded. A value set by the
// caller is kept.
process.env.UV_THREADPOOL_SIZE ??= '16';

// tsx is registered first so that Node can load the agent's TypeScript sources without
// a build step.
const { register } = await import('tsx/esm/api');
register();

const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
