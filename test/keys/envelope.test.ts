import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { openSecret, sealSecret } from '../../src/keys/envelope.ts';
import { createTenant, startStack, type Stack } from '../support/stack.ts';

describe('envelope encryption of tenant secrets', () => {
  it('round-trips with a fresh nonce', () => {
    const dek = randomBytes(32);
    const first = sealSecret(dek, 'tenant-a', Buffer.from('s3cr3t'));
    const second = sealSecret(dek, 'tenant-a', Buffer.from('s3cr3t'));

    assert.notEqual(first, second);
    assert.match(first, /^sv1:/);
    assert.equal(openSecret(dek, 'tenant-a', first).toString(), 's3cr3t');
  });

  it('rejects foreign, rekeyed or altered values', () => {
    const dek = randomBytes(32);
    const sealed = sealSecret(dek, 'tenant-a', Buffer.from('s3cr3t'));
    const [format, nonce, tag, body] = sealed.split(':') as [string, string, string, string];
    const flipped = Buffer.from(body, 'base64');
    flipped[0]! ^= 1;

    assert.throws(() => openSecret(dek, 'tenant-b', sealed), /another tenant/);
    assert.throws(() => openSecret(randomBytes(32), 'tenant-a', sealed), /integrity check/);
    assert.throws(() => openSecret(dek, 'tenant-a', [format, nonce, tag, flipped.toString('base64')].join(':')), /integrity check/);
    assert.throws(() => openSecret(dek, 'tenant-a', `sv0:${nonce}:${tag}:${body}`), /sv1 format/);
  });

  describe("with a tenant's data key from the key provider", () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack('envelope', { api: false, workers: false });
    });
    after(() => stack?.close());

    it('opens only under its own tenant', async () => {
      const acme = await createTenant(stack, 'env_acme');
      const other = await createTenant(stack, 'env_other');
      const sealed = await stack.services.deks.withDek(acme, (dek) => sealSecret(dek, acme.id, Buffer.from('key')));

      const opened = await stack.services.deks.withDek(acme, (dek) => openSecret(dek, acme.id, sealed));
      assert.equal(opened.toString(), 'key');
      await assert.rejects(
        stack.services.deks.withDek(other, async (dek) => openSecret(dek, other.id, sealed)),
        /integrity check/,
      );
    });
  });
});
