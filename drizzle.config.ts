import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: ['./src/registry/tables.ts', './src/dci/transactions/tables.ts', './src/audit/tables.ts', './src/auth/tables.ts', './src/domains/crvs/tables.ts', './src/dci/subscriptions/tables.ts', './src/domains/ibr/tables.ts', './src/domains/dr/tables.ts'],
  out: './src/db/migrations',
});
