import { z } from 'zod';

const graphId = z
  .string()
  .regex(/^\d+$/, 'expected a numeric id as a string, such as "17841400000000001"');

/** Permissions an ig-router account token needs for messaging and onboarding. */
export const DEFAULT_SCOPES = [
  'instagram_basic',
  'instagram_manage_messages',
  'pages_manage_metadata',
  'pages_show_list',
  'pages_read_engagement',
];

/** Body of `POST /_sim/accounts` and argument of `registerAccount`. */
export const accountInputSchema = z
  .object({
    ig_business_id: graphId.optional(),
    page_id: graphId,
    username: z.string().min(1),
    token: z.string().min(1),
    /** Unix seconds; 0 means the token never expires. */
    expires_at: z.number().int().min(0).default(0),
    is_valid: z.boolean().default(true),
    /** `false` models a Page with no Instagram professional account linked. */
    has_instagram_account: z.boolean().default(true),
    scopes: z.array(z.string()).default(DEFAULT_SCOPES),
    /** Overrides the simulator's per-account send limit for this account. */
    rate_limit_per_second: z.number().int().positive().optional(),
  })
  .refine((account) => !account.has_instagram_account || account.ig_business_id !== undefined, {
    message: 'ig_business_id is required unless has_instagram_account is false',
    path: ['ig_business_id'],
  });

export type AccountInput = z.input<typeof accountInputSchema>;
export type SimAccount = z.output<typeof accountInputSchema>;

/** Body of `POST /_sim/faults` and argument of `addFault`. */
export const faultInputSchema = z
  .object({
    ig_business_id: graphId,
    /** Matches `recipient.id`, or `recipient.comment_id` of a private reply. */
    recipient_id: z.string().min(1).optional(),
    code: z.number().int().positive().optional(),
    subcode: z.number().int().positive().optional(),
    message: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    /** Number of matching sends the fault applies to. */
    count: z.number().int().positive().default(1),
    /** Delay in milliseconds before the response, or before the connection is closed. */
    latency_ms: z.number().int().min(0).max(600_000).optional(),
    http_status: z.number().int().min(200).max(599).optional(),
    /** Closes the socket without a response, so the caller cannot tell whether Meta sent the message. */
    drop_connection: z.boolean().default(false),
    /** Minutes reported in `X-Business-Use-Case-Usage` on the faulted response. */
    estimated_time_to_regain_access: z.number().int().min(0).optional(),
  })
  .refine(
    (fault) => fault.code !== undefined || fault.latency_ms !== undefined || fault.drop_connection,
    { message: 'a fault needs code, latency_ms or drop_connection' },
  )
  .refine((fault) => fault.subcode === undefined || fault.code !== undefined, {
    message: 'subcode needs a code',
    path: ['subcode'],
  });

export type FaultInput = z.input<typeof faultInputSchema>;
export type FaultSpec = z.output<typeof faultInputSchema>;

/** Renders zod issues as one line such as `page_id: expected ...; token: too small`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) =>
      issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ');
}
