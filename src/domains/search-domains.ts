import type { Database } from '../db/client.js';
import type { SearchDomain } from '../dci/search/items.js';
import type { IdentifierVault } from '../registry/identifiers.js';
import { socialCatalogs } from './social/attributes.js';
import { SocialSearch } from './social/search.js';
import { CrvsSearch } from './crvs/search.js';
import { DrSearch } from './dr/search.js';
import { IbrSearch } from './ibr/search.js';

/** The domains this registry answers searches for from its own data, by DCI domain name. */
export function searchDomains(db: Database, vault: IdentifierVault): Map<string, SearchDomain> {
  const catalogs = socialCatalogs(vault);
  return new Map<string, SearchDomain>([
    ['social', new SocialSearch(db, vault, catalogs)],
    ['crvs', new CrvsSearch(db, vault, catalogs)],
    ['ibr', new IbrSearch(db, vault, catalogs)],
    ['dr', new DrSearch(db, vault, catalogs)],
  ]);
}
