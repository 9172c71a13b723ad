import { testEnv } from '@ig-router/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient, TokenCrypto, type TokenCryptoError } from '../src/index.js';

describe('TokenCrypto against a KMS-compatible server', () => {
  let crypto: TokenCrypto;
  const owner = {
    ig_business_id: '17841400000000001',
    client_id: '7d0f7a0e-0000-4000-8000-000000000001',
  };
  const token = 'EAAG-test-page-token-\u00e9-1234567890';

  beforeAll(() => {
    const env = testEnv();
    crypto = new TokenCrypto(createKmsClient(env), env.KMS_KEY_ID);
  });

  it('decrypts a token for the account it was encrypted for', async () => {
    const sealed = await crypto.encrypt(owner, token);
    expect(sealed.ciphertext.toString('utf8')).not.toContain('EAAG');
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.authTag).toHaveLength(16);
    expect(await crypto.decrypt(owner, sealed)).toBe(token);
  });

  it('fails for another account with the same client', async () => {
    const sealed = await crypto.encrypt(owner, token);
    const other = { ...owner, ig_business_id: '17841400000000002' };
    const error = (await crypto
      .decrypt(other, sealed)
      .catch((err: unknown) => err)) as TokenCryptoError;
    expect(error.code).toBe('TOKEN_CONTEXT_MISMATCH');
    expect(error.message).toContain('17841400000000002');
    expect(error.message).not.toContain('EAAG');
  });

  it('fails for another client with the same account id', async () => {
    const sealed = await crypto.encrypt(owner, token);
    const other = { ...owner, client_id: '7d0f7a0e-0000-4000-8000-000000000002' };
    const error = (await crypto
      .decrypt(other, sealed)
      .catch((err: unknown) => err)) as TokenCryptoError;
    expect(error.code).toBe('TOKEN_CONTEXT_MISMATCH');
  });

  it('fails when the ciphertext was altered', async () => {
    const sealed = await crypto.encrypt(owner, token);
    sealed.ciphertext[0] = (sealed.ciphertext[0] ?? 0) ^ 0xff;
    const error = (await crypto
      .decrypt(owner, sealed)
      .catch((err: unknown) => err)) as TokenCryptoError;
    expect(error.code).toBe('TOKEN_CONTEXT_MISMATCH');
  });

  it('reports an unknown key as an encryption failure', async () => {
    const env = testEnv();
    const wrongKey = new TokenCrypto(createKmsClient(env), 'alias/does-not-exist');
    const error = (await wrongKey
      .encrypt(owner, token)
      .catch((err: unknown) => err)) as TokenCryptoError;
    expect(error.code).toBe('TOKEN_ENCRYPT_FAILED');
    expect(error.message).toContain('alias/does-not-exist');
  });
});
