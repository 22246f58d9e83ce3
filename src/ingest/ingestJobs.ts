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
 * How the ingest stage asks for follow-up work. The jobs layer implements it with
 * pg-boss; sends are idempotent per chunk and per scan, so asking twice is harmless.
 */
export interface IngestQueue {
  normalize(job: NormalizeJob): Promise<void>;
  finalize(job: FinalizeJob, options?: { delaySeconds?: number }): Promise<void>;
}
