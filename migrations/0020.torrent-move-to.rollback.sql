ALTER TABLE revaer_runtime.torrents
    DROP COLUMN move_to;
