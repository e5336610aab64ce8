// A push receiver as a `Request → Response` function: Vercel, Netlify, Cloudflare Workers,
// Deno Deploy, Bun.serve, or any runtime with the Fetch API.
//
//   Vercel (app/api/chronos/route.ts):
//     export const POST = createPushHandler(process.env.CHRONOS_SIGNING_SECRET!, async (job) => { … });
//   Cloudflare Workers:
//     export default { fetch: (request, env) => createPushHandler(env.CHRONOS_SIGNING_SECRET, work)(request) };
//
// The secret is the account's: `GET /v1/signing-secrets` (or `chronos.signingSecrets.list()`).
import { InvalidSignature, verifyWebhook } from '@chronos.sh/sdk';

/** What Chronos POSTs when the job has no `body` of its own. */
export interface PushEnvelope {
  job_id: string;
  execution_id: string;
  attempt: number;
  handler: string | null;
  name: string | null;
  payload: unknown;
  schedule_id: string | null;
  scheduled_for: string | null;
}

export function createPushHandler(
  secret: string,
  work: (job: PushEnvelope, request: Request) => Promise<unknown>,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const raw = await request.text(); // verify the bytes as sent, before parsing them
    try {
      await verifyWebhook(raw, request.headers, secret);
    } catch (error) {
      // A 4xx fails the job for good: a request Chronos did not sign should not be retried.
      if (error instanceof InvalidSignature) return new Response(error.message, { status: 401 });
      throw error;
    }
    const result = await work(JSON.parse(raw) as PushEnvelope, request);
    // 2xx completes the job; a 5xx (or a throw) makes Chronos retry it with backoff.
    return new Response(JSON.stringify(result ?? { ok: true }), {
      status: 200,
      headers: { 'Content-Type': 'application/json' },
    });
  };
}

// Cloudflare Workers style default export.
export default {
  fetch(request: Request, env: { CHRONOS_SIGNING_SECRET: string }): Promise<Response> {
    return createPushHandler(env.CHRONOS_SIGNING_SECRET, async (job) => {
      console.log(`job ${job.job_id} (attempt ${job.attempt})`, job.payload);
      return { ok: true };
    })(request);
  },
};
