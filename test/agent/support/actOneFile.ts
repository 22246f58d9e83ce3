/**
 * Tiers or recalls one file in this process and prints the result as JSON, so a test
 * can run the agent's file steps under limits set for this process alone (a file-size
 * limit, through `ulimit -f`).
 *
 * Usage: node --import tsx actOneFile.ts ACTION_JSON TIER2_ROOT
 */
import { pino } from 'pino';

import { syncFolder } from '../../../agent/durableFile.ts';
import { NO_OFFLINE_MARKER } from '../../../agent/tiering/offlineMarker.ts';
import { OfflineMarking } from '../../../agent/tiering/offlineMarking.ts';
import { recallFile } from '../../../agent/tiering/recallFile.ts';
import { tierFile } from '../../../agent/tiering/tierFile.ts';
import { FolderSyncer } from '../../../src/tier2/folderSyncer.ts';
import { FsStore } from '../../../src/tier2/fsStore.ts';
import type { ClaimedAction } from '../../../src/wire/acting.ts';

const [actionJson, tier2Root] = process.argv.slice(2);
if (actionJson === undefined || tier2Root === undefined) {
  console.error('usage: actOneFile.ts ACTION_JSON TIER2_ROOT');
  process.exit(2);
}

const action = JSON.parse(actionJson) as ClaimedAction;
const logger = pino({ level: 'silent' });
const context = { store: new FsStore(tier2Root), logger, folders: new FolderSyncer(syncFolder), offline: new OfflineMarking(NO_OFFLINE_MARKER, logger) };
const result = action.kind === 'recall' ? await recallFile(action, context) : await tierFile(action, context);
console.log(JSON.stringify(result));
