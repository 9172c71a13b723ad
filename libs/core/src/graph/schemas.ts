import { z } from 'zod';

const optionalNumber = z.coerce.number().int().optional().catch(undefined);
const optionalString = z.string().optional().catch(undefined);

/** Graph's error body: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"}}`. */
export const graphErrorBodySchema = z.object({
  error: z.object({
    message: optionalString,
    type: optionalString,
    code: optionalNumber,
    error_subcode: optionalNumber,
    fbtrace_id: optionalString,
    is_transient: z.boolean().optional().catch(undefined),
  }),
});

export type GraphErrorBody = z.infer<typeof graphErrorBodySchema>;

/** Success of the Send API. `message_id` is absent for `sender_action` requests. */
export const sendApiResponseSchema = z.object({
  recipient_id: z.string().optional(),
  message_id: z.string().optional(),
});

export type SendApiResponse = z.infer<typeof sendApiResponseSchema>;

/** Body of `POST /{ig_business_id}/messages`, as Meta documents it for Instagram. */
export interface SendApiRequest {
  recipient: { id: string } | { comment_id: string };
  messaging_type?: string | undefined;
  tag?: string | undefined;
  message?: Record<string, unknown> | undefined;
  sender_action?: string | undefined;
  payload?: Record<string, unknown> | undefined;
  reply_to?: Record<string, unknown> | undefined;
}

/** `GET /me?fields=instagram_business_account` with a Page access token. */
export const pageInstagramAccountSchema = z.object({
  id: z.string(),
  instagram_business_account: z.object({ id: z.string() }).optional(),
});

export interface PageInstagramAccount {
  page_id: string;
  /** Null when the Page has no linked Instagram professional account. */
  ig_business_id: string | null;
}

/** `GET /{ig_business_id}?fields=id,username`. */
export const instagramAccountSchema = z.object({
  id: z.string(),
  username: z.string(),
});

export type InstagramAccount = z.infer<typeof instagramAccountSchema>;

/** `POST /{page_id}/subscribed_apps`. */
export const subscribeResponseSchema = z.object({ success: z.boolean() });

/** `GET /debug_token`; fields Meta omits for some token types are optional. */
export const debugTokenResponseSchema = z.object({
  data: z.object({
    app_id: z.string().optional(),
    type: z.string().optional(),
    application: z.string().optional(),
    is_valid: z.boolean(),
    expires_at: z.number().optional(),
    data_access_expires_at: z.number().optional(),
    issued_at: z.number().optional(),
    scopes: z.array(z.string()).optional(),
    user_id: z.string().optional(),
    profile_id: z.string().optional(),
    granular_scopes: z
      .array(z.object({ scope: z.string(), target_ids: z.array(z.string()).optional() }))
      .optional(),
    error: z
      .object({
        code: z.number().optional(),
        subcode: z.number().optional(),
        message: z.string().optional(),
      })
      .optional(),
  }),
});

export type DebugTokenInfo = z.infer<typeof debugTokenResponseSchema>['data'];
