import {
  MAX_TEXT_BYTES,
  parseSendCommand,
  sendCommandSchema,
  sendResultSchema,
} from '@ig-router/core';
import { describe, expect, it } from 'vitest';

const base = {
  command_id: 'order-1042:reply-1',
  ig_business_id: '17841400000000001',
  recipient: { id: '6789012345678901' },
  created_at: '2024-05-01T12:00:00Z',
};

function issuesOf(input: unknown): Array<{ path: string; message: string }> {
  const result = parseSendCommand(input);
  if (result.ok) throw new Error('expected the command to be rejected');
  expect(result.error.code).toBe('INVALID_COMMAND');
  return result.error.issues;
}

describe('sendCommandSchema valid commands', () => {
  it.each([
    ['text', { ...base, message: { text: 'Your order ships today.' } }],
    ['text of exactly 1,000 bytes', { ...base, message: { text: '\u00e9'.repeat(500) } }],
    [
      'attachment',
      {
        ...base,
        message: { attachment: { type: 'image', payload: { url: 'https://cdn.example/a.jpg' } } },
      },
    ],
    [
      'private reply to a comment',
      {
        ...base,
        recipient: { comment_id: '17865555555555555' },
        message: { text: 'Sent you a DM' },
      },
    ],
    ['typing_on', { ...base, sender_action: 'typing_on' }],
    ['mark_seen', { ...base, sender_action: 'mark_seen' }],
    [
      'react',
      { ...base, sender_action: 'react', payload: { message_id: 'aWdfZAG1', reaction: 'love' } },
    ],
    ['unreact', { ...base, sender_action: 'unreact', payload: { message_id: 'aWdfZAG1' } }],
    ['reply_to', { ...base, message: { text: 'yes' }, reply_to: { mid: 'aWdfZAG1' } }],
    [
      'human agent tag',
      {
        ...base,
        message: { text: 'Following up' },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
      },
    ],
    [
      'RESPONSE with a deadline',
      {
        ...base,
        message: { text: 'hi' },
        messaging_type: 'RESPONSE',
        not_after: '2024-05-01T12:05:00+02:00',
      },
    ],
    [
      'command_id with every allowed character',
      { ...base, command_id: 'Az09._:-', message: { text: 'hi' } },
    ],
    [
      'command_id of 128 characters',
      { ...base, command_id: 'c'.repeat(128), message: { text: 'hi' } },
    ],
  ])('accepts %s', (_name, input) => {
    const result = parseSendCommand(input);
    expect(result.ok ? result.command : result.error).toEqual(input);
  });
});

describe('sendCommandSchema invalid commands', () => {
  it.each([
    [
      'missing command_id',
      { ...base, command_id: undefined, message: { text: 'hi' } },
      'command_id',
      'missing; expected a string',
    ],
    [
      'empty command_id',
      { ...base, command_id: '', message: { text: 'hi' } },
      'command_id',
      'expected 1 to 128 characters',
    ],
    [
      'command_id of 129 characters',
      { ...base, command_id: 'c'.repeat(129), message: { text: 'hi' } },
      'command_id',
      'expected 1 to 128',
    ],
    [
      'command_id with a space',
      { ...base, command_id: 'order 1', message: { text: 'hi' } },
      'command_id',
      'expected 1 to 128',
    ],
    [
      'numeric ig_business_id',
      { ...base, ig_business_id: 17841400000000, message: { text: 'hi' } },
      'ig_business_id',
      'string of digits',
    ],
    [
      'text over 1,000 bytes in 600 characters',
      { ...base, message: { text: '\u00e9'.repeat(600) } },
      'message.text',
      'is 1200 UTF-8 bytes; the maximum is 1000',
    ],
    [
      'text over 1,000 bytes in emoji',
      { ...base, message: { text: '\u{1f600}'.repeat(251) } },
      'message.text',
      'is 1004 UTF-8 bytes',
    ],
    ['empty text', { ...base, message: { text: '' } }, 'message.text', 'must not be empty'],
    [
      'both message and sender_action',
      { ...base, message: { text: 'hi' }, sender_action: 'typing_on' },
      'sender_action',
      'set either message or sender_action, not both',
    ],
    [
      'neither message nor sender_action',
      { ...base },
      'command',
      'missing: set exactly one of message or sender_action',
    ],
    [
      'message with text and attachment',
      { ...base, message: { text: 'hi', attachment: { type: 'image' } } },
      'message',
      'exactly one of text or attachment',
    ],
    [
      'react without payload',
      { ...base, sender_action: 'react' },
      'payload.message_id',
      'react needs the mid',
    ],
    [
      'unreact without message_id',
      { ...base, sender_action: 'unreact', payload: {} },
      'payload.message_id',
      '',
    ],
    [
      'payload with typing_on',
      { ...base, sender_action: 'typing_on', payload: { message_id: 'm1' } },
      'payload',
      'only allowed with sender_action react or unreact',
    ],
    ['unknown sender_action', { ...base, sender_action: 'wave' }, 'sender_action', ''],
    [
      'MESSAGE_TAG without tag',
      { ...base, message: { text: 'hi' }, messaging_type: 'MESSAGE_TAG' },
      'tag',
      'messaging_type MESSAGE_TAG needs tag HUMAN_AGENT',
    ],
    [
      'tag without MESSAGE_TAG',
      { ...base, message: { text: 'hi' }, tag: 'HUMAN_AGENT' },
      'messaging_type',
      'must be MESSAGE_TAG when tag is set',
    ],
    [
      'unknown tag',
      { ...base, message: { text: 'hi' }, messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE' },
      'tag',
      '',
    ],
    [
      'reply_to with a sender_action',
      { ...base, sender_action: 'typing_on', reply_to: { mid: 'm1' } },
      'reply_to',
      'only allowed with message',
    ],
    [
      'recipient with id and comment_id',
      { ...base, recipient: { id: '1', comment_id: '2' }, message: { text: 'hi' } },
      'recipient',
      'exactly one of id',
    ],
    [
      'recipient id as a number',
      { ...base, recipient: { id: 6789012345678901 }, message: { text: 'hi' } },
      'recipient.id',
      'string of digits',
    ],
    [
      'created_at without a zone',
      { ...base, created_at: '2024-05-01T12:00:00', message: { text: 'hi' } },
      'created_at',
      'ISO-8601',
    ],
    [
      'not_after as a number',
      { ...base, not_after: 1714564800, message: { text: 'hi' } },
      'not_after',
      '',
    ],
    [
      'unknown field',
      { ...base, message: { text: 'hi' }, messaging_typ: 'RESPONSE' },
      'command',
      'messaging_typ',
    ],
  ])('rejects %s', (_name, input, path, message) => {
    const issues = issuesOf(input);

    const issue = issues.find((candidate) => candidate.path === path);
    expect(issue, `issues: ${JSON.stringify(issues)}`).toBeDefined();
    expect(issue?.message).toContain(message);
  });

  it('lists every failing field in one error', () => {
    const result = parseSendCommand({
      ...base,
      command_id: undefined,
      message: { text: 'hi' },
      sender_action: 'typing_on',
    });

    expect(result).toEqual({
      ok: false,
      error: {
        code: 'INVALID_COMMAND',
        message:
          'invalid command: command_id: missing; expected a string; sender_action: set either message or sender_action, not both',
        issues: [
          { path: 'command_id', message: 'missing; expected a string' },
          { path: 'sender_action', message: 'set either message or sender_action, not both' },
        ],
      },
    });
  });

  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'send hi'],
  ])('rejects a command that is %s', (_name, input) => {
    expect(issuesOf(input)).toEqual([
      { path: 'command', message: expect.stringContaining('expected object') },
    ]);
  });

  it('counts the byte limit in UTF-8, not in characters', () => {
    expect(MAX_TEXT_BYTES).toBe(1000);
    expect(
      sendCommandSchema.safeParse({ ...base, message: { text: 'a'.repeat(1000) } }).success,
    ).toBe(true);
    expect(
      sendCommandSchema.safeParse({ ...base, message: { text: `${'a'.repeat(999)}\u00e9` } })
        .success,
    ).toBe(false);
  });
});

describe('sendResultSchema', () => {
  const sent = {
    command_id: 'order-1042:reply-1',
    ig_business_id: '17841400000000001',
    recipient_id: '6789012345678901',
    status: 'sent',
    message_id: 'aWdfZAG1faXRlbToxOklH',
    error: null,
    attempts: 1,
    created_at: '2024-05-01T12:00:00Z',
    completed_at: '2024-05-01T12:00:00.250Z',
  };
  const graphError = {
    code: 10,
    subcode: 2018278,
    type: 'OAuthException',
    message: 'This message is sent outside of allowed window.',
    classification: 'window',
  };

  it.each([
    ['sent', sent],
    [
      'failed with a Graph error',
      { ...sent, status: 'failed', message_id: undefined, error: graphError, attempts: 1 },
    ],
    [
      'failed validation',
      {
        ...sent,
        command_id: null,
        status: 'failed',
        message_id: undefined,
        attempts: 0,
        error: {
          code: 'INVALID_COMMAND',
          message: 'invalid command: command_id: missing',
          issues: [{ path: 'command_id', message: 'missing' }],
        },
      },
    ],
    ['expired', { ...sent, status: 'expired', message_id: undefined, attempts: 0 }],
    ['ambiguous', { ...sent, status: 'ambiguous', message_id: undefined, attempts: 3 }],
  ])('accepts %s', (_name, input) => {
    expect(sendResultSchema.safeParse(input).success).toBe(true);
  });

  it.each([
    ['sent without message_id', { ...sent, message_id: undefined }, 'message_id'],
    ['failed without error', { ...sent, status: 'failed', message_id: undefined }, 'error'],
    ['expired with message_id', { ...sent, status: 'expired' }, 'message_id'],
    ['unknown status', { ...sent, status: 'queued' }, 'status'],
    ['negative attempts', { ...sent, attempts: -1 }, 'attempts'],
    [
      'Graph error without classification',
      {
        ...sent,
        status: 'failed',
        message_id: undefined,
        error: { ...graphError, classification: undefined },
      },
      'error',
    ],
  ])('rejects %s', (_name, input, path) => {
    const result = sendResultSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path[0])).toContain(path);
  });
});
