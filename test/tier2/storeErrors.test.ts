import { expect } from 'chai';
import { inspect } from 'node:util';
import { Tier2Error } from '../../src/tier2/errors.ts';
import { blockBytesFor } from '../../src/tier2/azureBlobStore.ts';
import { openTier2Store } from '../../src/tier2/openTier2Store.ts';
import { partBytesFor } from '../../src/tier2/s3Store.ts';
import { startAzurite, type AzuriteServer } from '../support/azurite.ts';
import { startS3Server, type S3TestServer } from '../support/s3Server.ts';

/** List every way a caller might print or log an error. */
function renderings(error: unknown): string[] {
  return [String(error), inspect(error, { depth: 10 }), JSON.stringify(error), JSON.stringify((error as Tier2Error).details ?? {})];
}

describe('Tier-2 store errors', function () {
  this.timeout(60_000);
  let s3: S3TestServer;
  let azurite: AzuriteServer;

  before(async () => {
    [s3, azurite] = await Promise.all([startS3Server(), startAzurite()]);
  });
  after(async () => {
    await Promise.all([s3?.stop(), azurite?.stop()]);
  });

  it('S3 errors hide credentials', async () => {
    const accessKeyId = 'AKIAWRONGKEYID000123';
    const secretAccessKey = 'wrong/secret+access=key000123';
    const store = openTier2Store({ ...s3.config, accessKeyId, secretAccessKey });

    const error = await store.list('', null).catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(Tier2Error);
    expect((error as Tier2Error).details.status).to.equal(403);
    for (const text of renderings(error)) {
      expect(text).not.to.contain(accessKeyId);
      expect(text).not.to.contain(secretAccessKey);
      expect(text).not.to.contain(encodeURIComponent(secretAccessKey));
    }
  });

  it('Azure errors hide the account key', async () => {
    const accountKey = Buffer.from('a wrong account key of 64 bytes, for the redaction test only!!!').toString('base64');
    const store = openTier2Store({ ...azurite.config, accountKey });

    const error = await store.head('any/key').catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(Tier2Error);
    expect((error as Tier2Error).details.status).to.equal(403);
    for (const text of renderings(error)) expect(text).not.to.contain(accountKey);
  });

  it('Azure errors hide the SAS token', async () => {
    const sasToken = 'sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2030-01-01T00:00:00Z&sig=InvalidSignatureForTheTest0000000000000%3D';
    const store = openTier2Store({ kind: 'azure', container: azurite.config.container, accountUrl: azurite.config.accountUrl, accountName: azurite.config.accountName, sasToken });

    const error = await store.list('', null).catch((caught: unknown) => caught);
    expect(error).to.be.instanceOf(Tier2Error);
    for (const text of renderings(error)) {
      expect(text).not.to.contain('InvalidSignatureForTheTest');
    }
  });

  it('opens each kind from its config', () => {
    expect(openTier2Store(s3.config).kind).to.equal('s3');
    expect(openTier2Store(azurite.config).kind).to.equal('azure');
    expect(openTier2Store({ kind: 'fs', root: '/tmp' }).kind).to.equal('fs');
  });

  it('sizes parts to the part limits', () => {
    const mebibyte = 1024 * 1024;
    expect(partBytesFor(0)).to.equal(8 * mebibyte);
    expect(partBytesFor(50 * 1024 ** 3)).to.equal(8 * mebibyte);
    expect(Math.ceil((1024 ** 4) / partBytesFor(1024 ** 4))).to.be.at.most(10_000);
    expect(Math.ceil((5 * 1024 ** 4) / partBytesFor(5 * 1024 ** 4))).to.be.at.most(10_000);
    expect(blockBytesFor(100 * 1024 ** 3)).to.equal(8 * mebibyte);
    expect(Math.ceil((4 * 1024 ** 4) / blockBytesFor(4 * 1024 ** 4))).to.be.at.most(50_000);
  });
});
