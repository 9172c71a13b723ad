// Writes the JSON Schema files of docs/schemas from the zod schemas in libs/core.
// Run from the repository root: npx tsx --conditions=source libs/core/scripts/generate-schemas.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderJsonSchemaFiles } from '@ig-router/core';

const schemasDirectory = fileURLToPath(new URL('../../../docs/schemas/', import.meta.url));
mkdirSync(schemasDirectory, { recursive: true });

for (const file of renderJsonSchemaFiles()) {
  const path = join(schemasDirectory, file.fileName);
  writeFileSync(path, file.content);
  console.log(`wrote ${path}`);
}
