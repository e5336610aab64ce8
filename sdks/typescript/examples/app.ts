// The application seed 000's example assumes: a database of tenants and a sync function.
// Stand-ins that print what they do, so the tests can watch the worker work.

export const db = {
  tenants: {
    async findMany(): Promise<Array<{ id: string }>> {
      return [{ id: 'tenant_a' }, { id: 'tenant_b' }, { id: 'tenant_c' }];
    },
  },
};

export async function syncData(tenantId: string, payload: unknown): Promise<void> {
  console.log(`synced ${tenantId} ${JSON.stringify(payload)}`);
}
