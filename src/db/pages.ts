/**
 * The query of an operators' list: rows of `table` matching the equality filters that are set (undefined and empty
 * ones are ignored), newest first, keyset-paged by id (`beforeId` = the last id of the previous page).
 */
export function newestFirstPage(
  table: string,
  columns: string,
  equals: Record<string, string | number | undefined>,
  page: { beforeId?: number; limit: number },
): { text: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of Object.entries(equals)) if (value !== undefined && value !== '') where.push(`${column} = $${params.push(value)}`);
  if (page.beforeId) where.push(`id < $${params.push(page.beforeId)}`);
  const text = `select ${columns} from ${table} ${where.length ? 'where ' + where.join(' and ') : ''} order by id desc limit $${params.push(page.limit)}`;
  return { text, params };
}
