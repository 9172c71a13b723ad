import {
  createDatabase,
  createKmsClient,
  encryptedTokenFromRow,
  TokenCrypto,
} from '@ig-router/core';

/**
 * Registers every active account of the database, with its decrypted token, in a freshly
 * started Graph API simulator. The simulator keeps accounts in memory only, so without this the
 * accounts onboarded in an earlier `npm start` would get code 190. Returns how many were
 * registered and skipped.
 */
export async function registerStoredAccounts(
  env: NodeJS.ProcessEnv,
  simulatorUrl: string,
): Promise<{ registered: number; skipped: number }> {
  const { DATABASE_URL, KMS_KEY_ID, AWS_REGION, AWS_ENDPOINT_URL_KMS } = env;
  if (!DATABASE_URL || !KMS_KEY_ID) return { registered: 0, skipped: 0 };

  const database = createDatabase({ DATABASE_URL }, 2);
  const credentials =
    env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }
      : undefined;
  const kms = createKmsClient(
    { AWS_REGION: AWS_REGION ?? 'eu-west-2', AWS_ENDPOINT_URL_KMS, KMS_KEY_ID },
    credentials,
  );
  const crypto = new TokenCrypto(kms, KMS_KEY_ID);
  let registered = 0;
  let skipped = 0;
  try {
    const rows = await database.db
      .selectFrom('ig_accounts')
      .selectAll()
      .where('active', '=', true)
      .execute();
    for (const row of rows) {
      try {
        const token = await crypto.decrypt(
          { ig_business_id: row.ig_business_id, client_id: row.client_id },
          encryptedTokenFromRow(row),
        );
        const response = await fetch(`${simulatorUrl}/_sim/accounts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            ig_business_id: row.ig_business_id,
            // Accounts added without Graph calls have no Page id; sends do not need one.
            page_id: row.page_id ?? row.ig_business_id,
            username: row.username,
            token,
          }),
        });
        if (response.ok) registered += 1;
        else skipped += 1;
      } catch {
        // A token sealed under another key or owner cannot be registered; its sends fail as
        // they would against Meta.
        skipped += 1;
      }
    }
  } finally {
    kms.destroy();
    await database.close();
  }
  return { registered, skipped };
}
