import { cliActor } from '../../control/audit.ts';
import { requireDatabaseUrl } from '../../config.ts';
import { startBoss } from '../../jobs/boss.ts';
import { QueueNames } from '../../jobs/queues.ts';
import type { RotateDekJob } from '../../jobs/workers.ts';
import { raiseMinDecryptionVersion } from '../../keys/rotation/raiseMinDecryptionVersion.ts';
import { rotateTenantDek } from '../../keys/rotation/rotateTenantDek.ts';
import { rewrapTenantDek, rotateTenantKey } from '../../keys/rotation/rotateTenantKey.ts';
import { readTenantKeyRow } from '../../keys/rotation/tenantKeyRow.ts';
import { parseCommand, required, UsageError } from '../args.ts';
import { withServices } from '../context.ts';
import { requireTenant } from '../findTenant.ts';

export const usage = `Usage: strata keys <action> --tenant CODE [options]

  strata keys status --tenant CODE
      Show where the tenant's key lives, the key version of its stored data key, and
      the key's latest and minimum decryption versions.

  strata keys rotate --tenant CODE
      Add a version to the tenant's transit key and rewrap its data key under it.
      Vault re-encrypts inside itself; no plaintext key leaves Vault.       [vault]

  strata keys rewrap --tenant CODE
      Rewrap the stored data key under the latest key version (finishes an
      interrupted rotate).                                                  [vault]

  strata keys rotate-dek --tenant CODE [--queue]
      Make a new data key and re-encrypt every sealed secret of the tenant under it.
      Resumable: run it again after a failure to finish.

  strata keys set-min-version --tenant CODE N
      Raise the key's minimum decryption version to N, so older key versions can no
      longer decrypt. Rejected while a stored ciphertext is older than N.  [vault]

[vault] needs STRATA_KEY_PROVIDER=vault; the local keyring has one key version.
Every action is recorded in control.audit_event.`;

const statusUsage = `Usage: strata keys status --tenant CODE

Options:
  --tenant CODE    tenant code`;

const rotateUsage = `Usage: strata keys rotate --tenant CODE

Add a version to the tenant's transit key, then rewrap the stored data key (and a
pending one, during a data-key rotation) under it, and record the new key version.
Needs STRATA_KEY_PROVIDER=vault.

Options:
  --tenant CODE    tenant code`;

const rewrapUsage = `Usage: strata keys rewrap --tenant CODE

Rewrap the stored data key under the latest version of the tenant's transit key.
Needs STRATA_KEY_PROVIDER=vault.

Options:
  --tenant CODE    tenant code`;

const rotateDekUsage = `Usage: strata keys rotate-dek --tenant CODE [--queue]

Make a new data key for the tenant and re-encrypt every sealed secret under it, in
batches of 500 rows per transaction. The new key is stored as pending first, so a run
that stops part-way is finished by running the command again. Works with both key
providers. Values being read meanwhile with the old key may fail until it ends.

Options:
  --tenant CODE    tenant code
  --queue          queue a keys.rotate_dek job for the workers instead of running here;
                   the job is retried with backoff while Vault is unavailable`;

const setMinUsage = `Usage: strata keys set-min-version --tenant CODE N

Raise the minimum decryption version of the tenant's transit key to N. Ciphertext of
older versions can no longer be decrypted afterwards, so the command first checks the
stored wrapped data keys and rejects the change, listing them, while one is older
than N (run \`strata keys rewrap\` first). Needs STRATA_KEY_PROVIDER=vault.

Options:
  --tenant CODE    tenant code
  N                the new minimum version (a positive integer)`;

export async function run(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (action === 'status') return status(rest);
  if (action === 'rotate') return rotate(rest);
  if (action === 'rewrap') return rewrap(rest);
  if (action === 'rotate-dek') return rotateDek(rest);
  if (action === 'set-min-version') return setMinVersion(rest);
  if (action === undefined || action === '--help' || action === '-h') {
    console.log(usage);
    return action === undefined ? 2 : 0;
  }
  throw new UsageError(`unknown keys action "${action}"`, usage);
}

async function status(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, statusUsage);
  const code = required(options.tenant, 'tenant', statusUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const row = await readTenantKeyRow(services.pool, tenant.id);
    const versions = await services.keys.readVersions(tenant, row.keyRef);
    console.log(`tenant ${code}: key ${row.keyRef} (provider ${services.keys.name})`);
    console.log(`  data key wrapped by key version ${row.keyVersion}`);
    if (row.pendingKeyVersion !== null) console.log(`  data key rotation in progress: pending key at version ${row.pendingKeyVersion}`);
    console.log(`  key versions: latest ${versions.latestVersion}, minimum for decryption ${versions.minDecryptionVersion}`);
    return 0;
  });
}

async function rotate(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, rotateUsage);
  const code = required(options.tenant, 'tenant', rotateUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const result = await rotateTenantKey(services, tenant, cliActor());
    console.log(`tenant ${code}: key rotated to version ${result.latestVersion}; data key rewrapped from version ${result.fromVersion} to ${result.toVersion}`);
    return 0;
  });
}

async function rewrap(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' } }, rewrapUsage);
  const code = required(options.tenant, 'tenant', rewrapUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const result = await rewrapTenantDek(services, tenant, cliActor());
    console.log(`tenant ${code}: data key rewrapped from version ${result.fromVersion} to ${result.toVersion}`);
    return 0;
  });
}

async function rotateDek(argv: string[]): Promise<number> {
  const options = parseCommand(argv, { tenant: { type: 'string' }, queue: { type: 'boolean' } }, rotateDekUsage);
  const code = required(options.tenant, 'tenant', rotateDekUsage);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    if (options.queue) {
      const boss = await startBoss(requireDatabaseUrl(services.config), services.log, { max: 2 });
      try {
        const job: RotateDekJob = { tenantId: tenant.id };
        const id = await boss.send(QueueNames.rotateDek, job, { singletonKey: tenant.id });
        console.log(id ? `tenant ${code}: data key rotation queued as job ${id}` : `tenant ${code}: a data key rotation job is already waiting; nothing queued`);
      } finally {
        await boss.stop({ graceful: false, close: true });
      }
      return 0;
    }

    const result = await rotateTenantDek(services, tenant, cliActor());
    console.log(`tenant ${code}: data key replaced (wrapped by key version ${result.keyVersion})${result.resumed ? ', continuing an earlier run' : ''}`);
    for (const column of result.columns) {
      const detail = column.present ? `${column.scanned} values checked, ${column.reencrypted} re-encrypted` : 'table not in this tenant schema yet';
      console.log(`  ${column.table}.${column.column}: ${detail}`);
    }
    return 0;
  });
}

async function setMinVersion(argv: string[]): Promise<number> {
  const positional = argv.filter((arg) => /^\d+$/.test(arg));
  const options = parseCommand(
    argv.filter((arg) => !positional.includes(arg)),
    { tenant: { type: 'string' } },
    setMinUsage,
  );
  const code = required(options.tenant, 'tenant', setMinUsage);
  if (positional.length !== 1 || Number(positional[0]) < 1) throw new UsageError('the new minimum version N is missing or invalid: give it once, as a positive integer', setMinUsage);
  const version = Number(positional[0]);

  return withServices(async (services) => {
    const tenant = await requireTenant(services, code);
    const result = await raiseMinDecryptionVersion(services, tenant, version, cliActor());
    console.log(
      result.previous === result.current
        ? `tenant ${code}: minimum decryption version is already ${result.current}; nothing changed`
        : `tenant ${code}: minimum decryption version raised from ${result.previous} to ${result.current}`,
    );
    return 0;
  });
}
