ALTER TABLE revaer_runtime.torrents
    DROP COLUMN first_last_piece;
