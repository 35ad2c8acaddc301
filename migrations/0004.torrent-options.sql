-- Per-torrent options a user sets with commands: sequential download and rate limits.
-- depends: 0002.torrents
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN sequential     boolean NOT NULL DEFAULT false,
    ADD COLUMN download_limit bigint,
    ADD COLUMN upload_limit   bigint,
    ADD CONSTRAINT torrents_download_limit_positive
        CHECK (download_limit IS NULL OR download_limit > 0),
    ADD CONSTRAINT torrents_upload_limit_positive
        CHECK (upload_limit IS NULL OR upload_limit > 0);
