ALTER TABLE revaer_runtime.torrents
    DROP COLUMN ratio_limit,
    DROP COLUMN seeding_time_limit,
    DROP COLUMN selection;
