-- The catalog: one row per torrent, keyed by its info hash.
-- depends: 0001.runtime-schema
CREATE TABLE revaer_runtime.torrents (
    info_hash     text PRIMARY KEY,
    name          text NOT NULL,
    state         revaer_runtime.torrent_state NOT NULL,
    state_message text,
    paused        boolean NOT NULL DEFAULT false,
    category      text,
    tags          text[] NOT NULL DEFAULT '{}',
    save_path     text NOT NULL,
    library_path  text,
    progress      double precision NOT NULL DEFAULT 0,
    download_rate bigint NOT NULL DEFAULT 0,
    upload_rate   bigint NOT NULL DEFAULT 0,
    total_done    bigint NOT NULL DEFAULT 0,
    total_size    bigint NOT NULL DEFAULT 0,
    magnet        text,
    metainfo      bytea,
    resume_data   bytea,
    files         jsonb NOT NULL DEFAULT '[]',
    added_at      timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT torrents_info_hash_format
        CHECK (info_hash ~ '^[0-9a-f]{40}$'),
    CONSTRAINT torrents_info_hash_not_zero
        CHECK (info_hash <> repeat('0', 40)),
    CONSTRAINT torrents_progress_range
        CHECK (progress >= 0 AND progress <= 1),
    CONSTRAINT torrents_has_source
        CHECK (magnet IS NOT NULL OR metainfo IS NOT NULL),
    CONSTRAINT torrents_files_is_array
        CHECK (jsonb_typeof(files) = 'array')
);

CREATE TRIGGER torrents_touch_updated_at
    BEFORE UPDATE ON revaer_runtime.torrents
    FOR EACH ROW EXECUTE FUNCTION revaer_runtime.touch_updated_at();
