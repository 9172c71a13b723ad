import { MetaPayloads, metaDelivery, webhookBody } from '@ig-router/testkit';

/** A demo account: registered in the Graph API simulator, then onboarded with `igr`. */
export interface DemoAccount {
  label: string;
  ig_business_id: string;
  page_id: string;
  username: string;
  token: string;
}

export interface ExpectedEvent {
  account: string;
  type: string;
}

export interface DemoDelivery {
  name: string;
  body: Buffer;
  headers: Record<string, string>;
}

export interface DemoScenario {
  deliveries: DemoDelivery[];
  /** Events expected in `ig.events`, per account label and type. */
  expectedEvents: ExpectedEvent[];
  /** Entries expected in `ig.events.unrouted`, by entry id. */
  expectedUnrouted: string[];
  /** Each `message.received` gets one auto-reply. */
  expectedReplies: number;
}

/**
 * Builds the demo's webhook deliveries with the testkit's Meta payload builders: a batch with
 * both accounts, text with accents and emoji, a story mention, a reaction, an echo, a comment
 * under `changes`, and an entry for an account nobody onboarded.
 */
export function buildScenario(
  a: DemoAccount,
  b: DemoAccount,
  unknownAccountId: string,
  appSecret: string,
  seed: number,
): DemoScenario {
  const meta = new MetaPayloads({ seed, startTimeMs: Date.now() - 60_000, stepMs: 1_000 });
  const userOfA = meta.nextId();
  const userOfB = meta.nextId();
  const sign = (name: string, payload: unknown): DemoDelivery => {
    const delivery = metaDelivery(payload, appSecret);
    return { name, body: delivery.body, headers: { ...delivery.headers } };
  };

  const batch = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: a.ig_business_id,
        messaging: [
          meta.textMessage({
            ig_business_id: a.ig_business_id,
            igsid: userOfA,
            text: 'Olá! Café às 9h? ☕🎉',
          }),
        ],
      },
      {
        id: b.ig_business_id,
        messaging: [
          meta.textMessage({
            ig_business_id: b.ig_business_id,
            igsid: userOfB,
            text: 'Bonjour, où est ma commande ? 📦 @support',
          }),
        ],
      },
    ],
  });
  const storyMention = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: a.ig_business_id,
        messaging: [
          meta.attachmentMessage({
            ig_business_id: a.ig_business_id,
            igsid: userOfA,
            attachments: [
              meta.attachment('story_mention', {
                url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=demo',
              }),
            ],
          }),
        ],
      },
    ],
  });
  const reaction = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: b.ig_business_id,
        messaging: [
          meta.reaction({
            ig_business_id: b.ig_business_id,
            igsid: userOfB,
            action: 'react',
            reaction: 'love',
            emoji: '❤️',
          }),
        ],
      },
    ],
  });
  const echo = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: a.ig_business_id,
        messaging: [
          meta.echo({ ig_business_id: a.ig_business_id, igsid: userOfA, text: 'Sim, às 9h!' }),
        ],
      },
    ],
  });
  const comment = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: b.ig_business_id,
        changes: [
          meta.commentChange({ text: 'Love this post! 😍', igsid: userOfB, username: 'demo_fan' }),
        ],
      },
    ],
  });
  const unknown = webhookBody({
    object: 'instagram',
    entries: [
      {
        id: unknownAccountId,
        messaging: [
          meta.textMessage({
            ig_business_id: unknownAccountId,
            igsid: meta.nextId(),
            text: 'Hello?',
          }),
        ],
      },
    ],
  });

  return {
    deliveries: [
      sign('batch of both accounts', batch),
      sign('story mention', storyMention),
      sign('reaction', reaction),
      sign('echo', echo),
      sign('comment under changes', comment),
      sign('unknown account', unknown),
    ],
    expectedEvents: [
      { account: a.label, type: 'message.received' },
      { account: b.label, type: 'message.received' },
      { account: a.label, type: 'message.received' },
      { account: b.label, type: 'message.reaction' },
      { account: a.label, type: 'message.echo' },
      { account: b.label, type: 'comment' },
    ],
    expectedUnrouted: [unknownAccountId],
    expectedReplies: 3,
  };
}
