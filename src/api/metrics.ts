import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { KeyServiceHealth } from '../keys/keyProvider.ts';

/** Prometheus metrics of one API process, served at `/metrics`. */
export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  chunkSeconds: Histogram;
  rowsReceived: Counter;
  actionsClaimed: Counter<'kind'>;
  claimSeconds: Histogram<'kind'>;
  actionResults: Counter<'outcome' | 'verdict'>;
  leaseRenewals: Counter<'result'>;
  sharesPaused: Counter;
}

export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'strata_' });

  return {
    registry,
    requests: new Counter({
      name: 'strata_http_requests_total',
      help: 'HTTP responses sent, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    chunkSeconds: new Histogram({
      name: 'strata_chunk_receive_seconds',
      help: 'Time to stream one chunk into staging and commit it',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    rowsReceived: new Counter({
      name: 'strata_rows_received_total',
      help: 'File rows committed to staging',
      registers: [registry],
    }),
    actionsClaimed: new Counter({
      name: 'strata_actions_claimed_total',
      help: 'Actions leased to agents, by kind (tier, recall)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    claimSeconds: new Histogram({
      name: 'strata_claim_seconds',
      help: 'Time to serve one claim request, by kind',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    actionResults: new Counter({
      name: 'strata_action_results_total',
      help: 'Results reported by agents, by outcome and verdict (apply, duplicate, stale_fence, ...)',
      labelNames: ['outcome', 'verdict'],
      registers: [registry],
    }),
    leaseRenewals: new Counter({
      name: 'strata_lease_renewals_total',
      help: 'Leases agents asked to extend, by result (renewed, lost)',
      labelNames: ['result'],
      registers: [registry],
    }),
    sharesPaused: new Counter({
      name: 'strata_shares_paused_total',
      help: 'Shares whose claims the error-rate stop paused',
      registers: [registry],
    }),
  };
}

/**
 * Add `strata_key_service_ready`: 1 while the key service (Vault) is unsealed and
 * reachable, 0 otherwise. It is checked at each scrape, so an alert can fire on a
 * sealed Vault even while no request needs a tenant key.
 */
export function registerKeyServiceGauge(metrics: ApiMetrics, keyHealth: () => Promise<KeyServiceHealth>): void {
  if (metrics.registry.getSingleMetric('strata_key_service_ready')) return;

  new Gauge({
    name: 'strata_key_service_ready',
    help: 'Whether the key service is unsealed and reachable (1) or not (0)',
    registers: [metrics.registry],
    async collect() {
      const health = await Promise.resolve().then(keyHealth).catch((): KeyServiceHealth => ({ status: 'unreachable' }));
      this.set(health.status === 'ok' ? 1 : 0);
    },
  });
}
