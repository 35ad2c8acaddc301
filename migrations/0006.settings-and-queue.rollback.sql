ALTER TABLE revaer_runtime.torrents
    DROP COLUMN force_start,
    DROP COLUMN queue_position,
    DROP COLUMN uploaded,
    DROP COLUMN downloaded,
    DROP COLUMN seeding_seconds;
DROP TABLE revaer_runtime.settings;
