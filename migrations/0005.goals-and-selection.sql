-- Seeding goals and file selection rules per torrent.
-- depends: 0004.torrent-options
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN ratio_limit        double precision,
    ADD COLUMN seeding_time_limit integer,
    ADD COLUMN selection          jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT torrents_ratio_limit_range
        CHECK (ratio_limit IS NULL OR ratio_limit = -1 OR ratio_limit >= 0),
    ADD CONSTRAINT torrents_seeding_time_limit_range
        CHECK (seeding_time_limit IS NULL OR seeding_time_limit >= -1),
    ADD CONSTRAINT torrents_selection_is_object
        CHECK (jsonb_typeof(selection) = 'object');
