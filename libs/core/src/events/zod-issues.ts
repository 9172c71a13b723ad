import type { z } from 'zod';

/** One failed field: a dotted path such as `message.attachments[0].type`, and what is wrong. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Formats a zod path; `root` names the value itself when the path is empty. */
export function formatIssuePath(path: readonly PropertyKey[], root: string): string {
  let formatted = '';
  for (const segment of path) {
    if (typeof segment === 'number') {
      formatted += `[${segment}]`;
    } else {
      formatted += formatted === '' ? String(segment) : `.${String(segment)}`;
    }
  }
  if (formatted === '') return root;
  return formatted.startsWith('[') ? `${root}${formatted}` : formatted;
}

/**
 * Lists the issues of a zod error. `basePath` is where the parsed value sits inside `root`, for
 * example `['message']` when `item.message` was parsed on its own.
 */
export function describeIssues(
  error: z.ZodError,
  root: string,
  basePath: readonly PropertyKey[] = [],
): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: formatIssuePath([...basePath, ...issue.path], root),
    message: issue.message,
  }));
}

/** Joins issues into one line, for example `sender.id: expected an id ...; message.mid: ...`. */
export function formatIssues(issues: readonly FieldIssue[]): string {
  return issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
}
