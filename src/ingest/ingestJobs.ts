/** Payload of an `ingest.normalize` job: ids only, never SQL or paths. */
export interface NormalizeJob {
  tenantId: string;
  scanId: number;
  seq: number;
}

/** Payload of an `ingest.finalize` job. */
export interface FinalizeJob {
  tenantId: string;
  scanId: number;
}

/**
 * Interface through which the ingest stage queues follow-up work. The jobs layer
 * implements it with pg-boss. Handlers are idempotent per chunk and per scan, so a
 * second request for the same work is harmless.
 */
export interface IngestQueue {
  normalize(job: NormalizeJob): Promise<void>;
  finalize(job: FinalizeJob, options?: { delaySeconds?: number }): Promise<void>;
}
