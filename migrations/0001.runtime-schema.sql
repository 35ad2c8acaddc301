-- The runtime schema, its enums and the trigger function that keeps updated_at.
CREATE SCHEMA revaer_runtime;

CREATE TYPE revaer_runtime.torrent_state AS ENUM (
    'queued', 'checking', 'fetching_metadata', 'downloading',
    'seeding', 'completed', 'paused', 'failed'
);

CREATE TYPE revaer_runtime.fs_job_status AS ENUM (
    'pending', 'moving', 'moved', 'failed', 'skipped'
);

CREATE FUNCTION revaer_runtime.touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
