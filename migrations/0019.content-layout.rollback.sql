ALTER TABLE revaer_runtime.torrents
    DROP COLUMN content_layout;
