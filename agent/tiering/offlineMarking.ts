/**
 * The offline marking of one act run. Each finished stub is marked through the run's
 * OfflineMarker. A stub that cannot be marked is logged and counted, and its file still
 * ends STUBBED: the stub is valid and its Tier-2 copy verified whatever its attributes,
 * and the scanner recognises stubs by their content.
 *
 * Marking keeps the modification time that the stub copied from the original. On NTFS
 * an attribute change updates a file's ChangeTime, while LastWriteTime covers writes to
 * its data stream only (FILE_BASIC_INFO in the Win32 API documentation).
 */
import type { Logger } from 'pino';

import type { ClaimedAction } from '../../src/wire/acting.ts';
import { OfflineMarkerStoppedError, type OfflineMarker } from './offlineMarker.ts';

export class OfflineMarking {
  readonly #marker: OfflineMarker;
  readonly #logger: Logger;
  #stopLogged = false;
  /**
   * Stubs left without the offline attribute because marking failed.
   * NOTE: nothing marks them later, because no later run claims a file reported STUBBED.
   */
  unmarked = 0;

  constructor(marker: OfflineMarker, logger: Logger) {
    this.#marker = marker;
    this.#logger = logger;
  }

  /**
   * Marks the finished stub of `action` at `filePath` offline. A failure is logged as a
   * warning and counted. Once the helper has stopped, every later stub fails with the
   * same error, so that error is logged as a warning once and at debug level after.
   */
  async markStub(action: ClaimedAction, filePath: string | Buffer): Promise<void> {
    try {
      await this.#marker.mark(filePath);
    } catch (error) {
      this.unmarked++;
      const fields = { actionId: action.id, key: action.tier2Key, path: typeof filePath === 'string' ? filePath : filePath.toString('utf8'), err: error };
      if (!(error instanceof OfflineMarkerStoppedError)) {
        this.#logger.warn(fields, 'Failed to mark a stub offline; it stays a valid stub');
      } else if (!this.#stopLogged) {
        this.#stopLogged = true;
        this.#logger.warn(fields, 'Offline marker stopped; this and later stubs stay valid stubs without the offline attribute');
      } else {
        this.#logger.debug(fields, 'Stub not marked offline: the offline marker has stopped');
      }
    }
  }
}
