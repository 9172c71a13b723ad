import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  DecryptCommand,
  GenerateDataKeyCommand,
  InvalidCiphertextException,
  KMSClient,
} from '@aws-sdk/client-kms';
import { ErrorCodes, IgRouterError } from '../errors.js';

export interface KmsSettings {
  AWS_REGION: string;
  AWS_ENDPOINT_URL_KMS?: string | undefined;
  KMS_KEY_ID: string;
}

/** The tenant a token belongs to. KMS binds each data key to it as the encryption context. */
export interface TokenOwner {
  ig_business_id: string;
  client_id: string;
}

/** A token sealed with a KMS data key; maps onto the `token_*` columns of `ig_accounts`. */
export interface EncryptedToken {
  encryptedKey: Buffer;
  iv: Buffer;
  ciphertext: Buffer;
  authTag: Buffer;
  kmsKeyId: string;
}

export class TokenCryptoError extends IgRouterError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TokenCryptoError';
  }
}

/**
 * Creates the KMS client. Credentials come from the AWS SDK's default chain, unless `credentials`
 * names them (a process that keeps the local stack's keys in a map, not in its environment).
 */
export function createKmsClient(
  settings: KmsSettings,
  credentials?: { accessKeyId: string; secretAccessKey: string },
): KMSClient {
  return new KMSClient({
    region: settings.AWS_REGION,
    ...(settings.AWS_ENDPOINT_URL_KMS ? { endpoint: settings.AWS_ENDPOINT_URL_KMS } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 3,
  });
}

function encryptionContext(owner: TokenOwner): Record<string, string> {
  return { ig_business_id: owner.ig_business_id, client_id: owner.client_id };
}

// The owner is also authenticated by AES-GCM, so a ciphertext moved to another row fails even
// if its data key were somehow decrypted.
function additionalData(owner: TokenOwner): Buffer {
  return Buffer.from(`ig-router-token-v1|${owner.ig_business_id}|${owner.client_id}`, 'utf8');
}

/**
 * Encrypts and decrypts Page access tokens with KMS envelope encryption: KMS issues an AES-256
 * data key per token, bound to `{ig_business_id, client_id}`, and the token is sealed locally
 * with AES-256-GCM.
 */
export class TokenCrypto {
  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
  ) {}

  async encrypt(owner: TokenOwner, token: string): Promise<EncryptedToken> {
    let dataKey: Uint8Array | undefined;
    let encryptedKey: Uint8Array | undefined;
    let kmsKeyId: string | undefined;
    try {
      const response = await this.kms.send(
        new GenerateDataKeyCommand({
          KeyId: this.keyId,
          KeySpec: 'AES_256',
          EncryptionContext: encryptionContext(owner),
        }),
      );
      dataKey = response.Plaintext;
      encryptedKey = response.CiphertextBlob;
      kmsKeyId = response.KeyId;
    } catch (err) {
      throw new TokenCryptoError(
        ErrorCodes.TOKEN_ENCRYPT_FAILED,
        `KMS GenerateDataKey failed for key ${this.keyId}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!dataKey || !encryptedKey) {
      throw new TokenCryptoError(
        ErrorCodes.TOKEN_ENCRYPT_FAILED,
        `KMS GenerateDataKey for key ${this.keyId} returned no data key`,
      );
    }

    const key = Buffer.from(dataKey);
    try {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(additionalData(owner));
      const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
      return {
        encryptedKey: Buffer.from(encryptedKey),
        iv,
        ciphertext,
        authTag: cipher.getAuthTag(),
        kmsKeyId: kmsKeyId ?? this.keyId,
      };
    } finally {
      key.fill(0);
      dataKey.fill(0);
    }
  }

  /**
   * Decrypts a token for its owner. A ciphertext stored under another account or client fails
   * with TOKEN_CONTEXT_MISMATCH; any other KMS failure with TOKEN_DECRYPT_FAILED.
   */
  async decrypt(owner: TokenOwner, sealed: EncryptedToken): Promise<string> {
    let dataKey: Uint8Array | undefined;
    try {
      const response = await this.kms.send(
        new DecryptCommand({
          CiphertextBlob: sealed.encryptedKey,
          EncryptionContext: encryptionContext(owner),
        }),
      );
      dataKey = response.Plaintext;
    } catch (err) {
      if (err instanceof InvalidCiphertextException) {
        throw new TokenCryptoError(
          ErrorCodes.TOKEN_CONTEXT_MISMATCH,
          `The stored token of account ${owner.ig_business_id} was not encrypted for this account and client; store the token again with rotate-token`,
          { cause: err },
        );
      }
      throw new TokenCryptoError(
        ErrorCodes.TOKEN_DECRYPT_FAILED,
        `KMS Decrypt failed for account ${owner.ig_business_id}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!dataKey) {
      throw new TokenCryptoError(
        ErrorCodes.TOKEN_DECRYPT_FAILED,
        `KMS Decrypt returned no data key for account ${owner.ig_business_id}`,
      );
    }

    const key = Buffer.from(dataKey);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
      decipher.setAAD(additionalData(owner));
      decipher.setAuthTag(sealed.authTag);
      return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new TokenCryptoError(
        ErrorCodes.TOKEN_CONTEXT_MISMATCH,
        `The stored token of account ${owner.ig_business_id} failed authentication; store the token again with rotate-token`,
        { cause: err },
      );
    } finally {
      key.fill(0);
      dataKey.fill(0);
    }
  }
}

/** Maps an `ig_accounts` row's token columns to an EncryptedToken. */
export function encryptedTokenFromRow(row: {
  token_encrypted_key: Buffer;
  token_iv: Buffer;
  token_ciphertext: Buffer;
  token_auth_tag: Buffer;
  token_kms_key_id: string;
}): EncryptedToken {
  return {
    encryptedKey: row.token_encrypted_key,
    iv: row.token_iv,
    ciphertext: row.token_ciphertext,
    authTag: row.token_auth_tag,
    kmsKeyId: row.token_kms_key_id,
  };
}

/** Maps an EncryptedToken to the `token_*` columns of `ig_accounts`. */
export function encryptedTokenColumns(sealed: EncryptedToken) {
  return {
    token_encrypted_key: sealed.encryptedKey,
    token_iv: sealed.iv,
    token_ciphertext: sealed.ciphertext,
    token_auth_tag: sealed.authTag,
    token_kms_key_id: sealed.kmsKeyId,
  };
}
