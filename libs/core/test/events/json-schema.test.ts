import { readFileSync } from 'node:fs';
import {
  type IgEventV1,
  renderJsonSchemaFiles,
  routeEvent,
  type SendCommand,
  type SendResult,
} from '@ig-router/core';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  ACCOUNT_A,
  allEvents,
  entry,
  envelope,
  messagingItem,
  split,
  textMessage,
} from './fixtures.js';

const schemasDirectory = new URL('../../../../docs/schemas/', import.meta.url);
const REGENERATE = 'npx tsx --conditions=source libs/core/scripts/generate-schemas.ts';

function committedSchema(fileName: string): string {
  return readFileSync(new URL(fileName, schemasDirectory), 'utf8');
}

function compile(fileName: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  return ajv.compile(JSON.parse(committedSchema(fileName)));
}

describe('docs/schemas', () => {
  it.each(renderJsonSchemaFiles().map((file) => [file.fileName, file.content]))(
    '%s matches the zod schema',
    (fileName, content) => {
      let committed: string;
      try {
        committed = committedSchema(fileName);
      } catch {
        throw new Error(`docs/schemas/${fileName} is missing; run ${REGENERATE}`);
      }
      if (committed !== content) {
        throw new Error(`docs/schemas/${fileName} is out of date; run ${REGENERATE}`);
      }
    },
  );

  it('ig.event.v1.json accepts every event the splitter produces', () => {
    const validate = compile('ig.event.v1.json');
    const events = allEvents(
      split(
        envelope([
          entry(ACCOUNT_A, {
            messaging: [
              textMessage('m1', 'hi', {
                attachments: [{ type: 'image', payload: { url: 'https://x.example/i' } }],
              }),
              messagingItem({ reaction: { mid: 'm1', action: 'react', reaction: 'love' } }),
              messagingItem({ pass_thread_control: { new_owner_app_id: '263902037430900' } }),
              null,
            ],
            changes: [{ field: 'comments', value: { id: '1790', text: 'x', from: { id: '55' } } }],
            standby: [messagingItem({ read: { mid: 'm1' } })],
          }),
        ]),
      ),
    );

    for (const event of events) {
      const routed: IgEventV1 = routeEvent(event, ACCOUNT);
      expect(validate(routed), `${event.type}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
  });

  it('ig.event.v1.json rejects a numeric ig_business_id', () => {
    const validate = compile('ig.event.v1.json');
    const [event] = allEvents(
      split(envelope([entry(ACCOUNT_A, { messaging: [textMessage('m1', 'hi')] })])),
    );
    if (!event) throw new Error('expected one event');

    expect(validate({ ...routeEvent(event, ACCOUNT), ig_business_id: 17841400 })).toBe(false);
  });

  it('send-command.json applies the cross-field rules', () => {
    const validate = compile('send-command.json');
    const base = {
      command_id: 'order-1:reply',
      ig_business_id: ACCOUNT_A,
      recipient: { id: '6789012345678901' },
      created_at: '2024-05-01T12:00:00Z',
    };
    const valid: SendCommand = { ...base, message: { text: 'hi' } };

    expect(validate(valid)).toBe(true);
    expect(validate({ ...base })).toBe(false);
    expect(validate({ ...valid, sender_action: 'typing_on' })).toBe(false);
    expect(validate({ ...base, sender_action: 'react' })).toBe(false);
    expect(validate({ ...base, sender_action: 'react', payload: { message_id: 'm1' } })).toBe(true);
    expect(validate({ ...valid, messaging_type: 'MESSAGE_TAG' })).toBe(false);
    expect(validate({ ...valid, messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' })).toBe(true);
    expect(validate({ ...valid, recipient: { id: '1', comment_id: '2' } })).toBe(false);
  });

  it('send-result.json accepts a sent result', () => {
    const validate = compile('send-result.json');
    const result: SendResult = {
      command_id: 'order-1:reply',
      ig_business_id: ACCOUNT_A,
      recipient_id: '6789012345678901',
      status: 'sent',
      message_id: 'aWdfZAG1faXRlbToxOklH',
      error: null,
      attempts: 1,
      created_at: '2024-05-01T12:00:00Z',
      completed_at: '2024-05-01T12:00:00.250Z',
    };
    expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
  });
});
