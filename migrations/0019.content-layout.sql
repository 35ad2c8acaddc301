-- How a torrent's files sit in its folder (qBittorrent's contentLayout), as
-- it took effect at add time; the files column already holds the placed paths.
-- depends: 0018.first-last-piece
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN content_layout text NOT NULL DEFAULT 'original'
        CHECK (content_layout IN ('original', 'subfolder', 'no_subfolder'));
