/** Payload of an `ingest.finalize` job: ids only, never SQL or paths. */
export interface FinalizeJob {
  tenantId: string;
  scanId: number;
}

/**
 * Interface through which the ingest stage queues follow-up work. The jobs layer
 * implements it with pg-boss. The handler is idempotent per scan, so a second request
 * for the same work is harmless.
 */
export interface IngestQueue {
  finalize(job: FinalizeJob): Promise<void>;
}
