-- The keys of a by-identifier lookup (the registry search by identifier and its batches, the subjects of IBR and DR
-- calls), as rows with their position. A plain unnest($1::text[], ...) is estimated at 10 rows in a generic plan, so
-- PostgreSQL's plan cache priced the cached plan of every lookup statement above the plans made for the actual one
-- or few keys and planned each execution afresh: 0.5 ms of planning for 0.2 ms of work per lookup. A PL/pgSQL
-- function is never inlined, so its ROWS 1 holds, the generic plan (the same nested index lookups for 1 key or 200)
-- wins after five executions, and a lookup costs 0.21 ms of PostgreSQL's CPU instead of 0.72 (1 key) with no change
-- at 8 or 64 keys.
CREATE FUNCTION identifier_keys(types text[], lookups text[]) RETURNS TABLE (id_type text, id_lookup text, ord bigint)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE ROWS 1 AS $$
BEGIN
  RETURN QUERY SELECT * FROM unnest(types, lookups) WITH ORDINALITY;
END
$$;
