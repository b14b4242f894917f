/** npm run partner:hash-secret -- <secret>: the `secret_hash` of a partner for PARTNERS_FILE. */
import { hashSecret } from '../src/auth/partners.js';

const secret = process.argv[2];
if (!secret || secret.length < 12) {
  process.stderr.write('usage: npm run partner:hash-secret -- <secret of at least 12 characters>\n');
  process.exit(2);
}
process.stdout.write(`${await hashSecret(secret)}\n`);
