-- Whether a torrent downloads the first and last piece of each file first
-- (qBittorrent's firstLastPiecePrio), so media can be previewed early.
-- depends: 0015.qbittorrent-categories
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN first_last_piece boolean NOT NULL DEFAULT false;
