import { z } from 'zod';
import { sendCommandSchema, sendResultSchema } from '../commands/send-command.js';
import { igEventV1Schema } from './event-v1.js';

// Renders the JSON Schema files in docs/schemas from the zod schemas, for consumers in other
// languages. libs/core/scripts/generate-schemas.ts writes them, and a test fails when the
// committed files differ from this output.

export interface JsonSchemaFile {
  /** File name inside docs/schemas. */
  fileName: string;
  content: string;
}

/**
 * Builds the JSON Schema of a zod schema. The `input` view leaves `additionalProperties` open
 * on plain objects, so a consumer that validates with these files keeps working when a v1
 * schema gains a field. Strict objects (send commands) stay closed.
 */
function toJsonSchema(
  schema: z.ZodType,
  title: string,
  description: string,
): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  const { $schema, ...rest } = generated;
  return { $schema, title, description, ...rest };
}

export function renderJsonSchemaFiles(): JsonSchemaFile[] {
  const files: Array<[string, Record<string, unknown>]> = [
    [
      'ig.event.v1.json',
      toJsonSchema(
        igEventV1Schema,
        'ig.event.v1',
        'Normalized Instagram or Messenger webhook event, the value of the ig.events topic.',
      ),
    ],
    [
      'send-command.json',
      toJsonSchema(
        sendCommandSchema,
        'Send command',
        'A message or sender action to send through the Send API, the value of the ig.outbound topic.',
      ),
    ],
    [
      'send-result.json',
      toJsonSchema(
        sendResultSchema,
        'Send result',
        'Outcome of one send command, the value of the ig.outbound.results topic.',
      ),
    ],
  ];
  return files.map(([fileName, schema]) => ({
    fileName,
    content: `${JSON.stringify(schema, null, 2)}\n`,
  }));
}
