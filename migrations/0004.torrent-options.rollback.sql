ALTER TABLE revaer_runtime.torrents
    DROP COLUMN sequential,
    DROP COLUMN download_limit,
    DROP COLUMN upload_limit;
