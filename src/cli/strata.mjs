#!/usr/bin/env node
// Entry point of the `strata` command: TypeScript runs through tsx, no build step.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
