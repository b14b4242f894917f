-- The notify fan-out reads a queue of registry events instead of the events after a position in their ids: ids are
-- taken when an event is inserted, not when it commits, so an event whose transaction committed late could have a lower
-- id than one already fanned out, and was never notified. A trigger queues every event in the transaction that records
-- it, whatever writes it; the events after the old position are queued here.
CREATE TABLE "notify_queue" (
	"registry_event_id" bigint PRIMARY KEY NOT NULL
);--> statement-breakpoint
INSERT INTO "notify_queue" ("registry_event_id")
  SELECT e.id FROM "registry_events" e WHERE e.id > coalesce((SELECT c.last_event_id FROM "event_cursors" c WHERE c.name = 'notify'), 0);--> statement-breakpoint
CREATE FUNCTION queue_registry_events_for_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO notify_queue (registry_event_id) SELECT id FROM recorded_events;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER registry_events_queued_for_notify AFTER INSERT ON registry_events
  REFERENCING NEW TABLE AS recorded_events FOR EACH STATEMENT EXECUTE FUNCTION queue_registry_events_for_notify();
