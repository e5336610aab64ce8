/**
 * `chronos.apiKeys`, `chronos.signingSecrets`, `chronos.workers`: the account's keys, the
 * secrets push requests are signed with, and the workers Chronos has seen.
 */

import type {
  ApiKey,
  ApiKeyInput,
  NewApiKey,
  Page,
  SigningSecret,
  WorkerActivity,
} from '../types.js';
import { type CallOptions, Resource, callOptions } from './base.js';

export class ApiKeys extends Resource {
  async list(options?: CallOptions): Promise<ApiKey[]> {
    const answer = await this.call<Page<ApiKey>, 'get', '/v1/api-keys'>(
      'get',
      '/v1/api-keys',
      callOptions(options),
    );
    return answer.data;
  }

  /** A new key (`scope`: `admin` or `worker`); its `key` is shown this once. */
  create(body: ApiKeyInput = {}, options?: CallOptions): Promise<NewApiKey> {
    return this.call('post', '/v1/api-keys', { body, ...callOptions(options) });
  }

  async delete(keyId: string, options?: CallOptions): Promise<void> {
    await this.call('delete', '/v1/api-keys/{key_id}', {
      path: { key_id: keyId },
      ...callOptions(options),
    });
  }
}

export class SigningSecrets extends Resource {
  /** The valid secrets, newest first (two right after a rotation). */
  async list(options?: CallOptions): Promise<SigningSecret[]> {
    const answer = await this.call<Page<SigningSecret>, 'get', '/v1/signing-secrets'>(
      'get',
      '/v1/signing-secrets',
      callOptions(options),
    );
    return answer.data;
  }

  /** A new secret; the old one stays valid until the next rotation. */
  async rotate(options?: CallOptions): Promise<SigningSecret[]> {
    const answer = await this.call<Page<SigningSecret>, 'post', '/v1/signing-secrets/rotate'>(
      'post',
      '/v1/signing-secrets/rotate',
      callOptions(options),
    );
    return answer.data;
  }
}

export class Workers extends Resource {
  /** Pull workers seen in the last 10 minutes and recent push targets. */
  list(options: CallOptions & { limit?: number } = {}): Promise<WorkerActivity> {
    return this.call('get', '/v1/workers', {
      query: { limit: options.limit },
      ...callOptions(options),
    });
  }
}
