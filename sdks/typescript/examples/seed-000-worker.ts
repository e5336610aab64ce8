// Seed 000's example worker. Everything below the marker is the seed's code as written; the
// import above it brings in the app's own `db` and `syncData` (examples/app.ts).
// Run: CHRONOS_URL=http://localhost:8080 CHRONOS_API_KEY=chrns_… node build/examples/seed-000-worker.js
import { db, syncData } from './app.js';
// ---- seed 000, verbatim ----
import { Chronos } from '@chronos.sh/sdk';

const chronos = new Chronos({ apiKey: process.env.CHRONOS_API_KEY });

chronos.worker.handle('sync-tenant', async (ctx) => {
  const tenants = await db.tenants.findMany();
  for (const tenant of tenants) {
    await syncData(tenant.id, ctx.payload);
  }
  return { synced: tenants.length };
});

await chronos.worker.start();
