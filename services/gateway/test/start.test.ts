import { captureLogger, uniqueId } from '@ig-router/testkit';
import { describe, expect, it } from 'vitest';
import { startGateway } from '../src/index.js';
import { randomSecret, testGatewayConfig } from './helpers.js';

describe('startGateway', () => {
  it('rejects a missing ig.raw topic', async () => {
    const config = testGatewayConfig({
      prefix: `t.${uniqueId('no-topics')}.`,
      appSecret: randomSecret('start-secret'),
      verifyToken: randomSecret('start-token'),
    });
    await expect(
      startGateway(config, { logger: captureLogger('gateway').logger }),
    ).rejects.toMatchObject({
      code: 'TOPIC_MISSING',
    });
  });

  it('rejects a missing apps file', async () => {
    const config = testGatewayConfig({
      prefix: `t.${uniqueId('no-apps')}.`,
      appSecret: randomSecret('start-secret'),
      verifyToken: randomSecret('start-token'),
      extra: { META_APPS_FILE: '/nonexistent/apps.json' },
    });
    await expect(
      startGateway(config, { logger: captureLogger('gateway').logger }),
    ).rejects.toMatchObject({
      code: 'APPS_FILE_INVALID',
    });
  });
});
