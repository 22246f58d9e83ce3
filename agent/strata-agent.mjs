#!/usr/bin/env node
// Entry point of the strata-agent command. tsx is registered first so that Node can load
// the agent's TypeScript sources without a build step.
import { register } from 'tsx/esm/api';

register();

const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
