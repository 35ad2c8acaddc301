-- Every state transition a torrent went through, in the order it happened:
-- the torrents row keeps only the latest, this keeps them all.
-- depends: 0015.qbittorrent-categories
CREATE TABLE revaer_runtime.torrent_state_history (
    id        bigserial PRIMARY KEY,
    info_hash text NOT NULL
        REFERENCES revaer_runtime.torrents (info_hash) ON DELETE CASCADE,
    state     revaer_runtime.torrent_state NOT NULL,
    message   text,
    at        timestamptz NOT NULL
);
CREATE INDEX torrent_state_history_info_hash_at
    ON revaer_runtime.torrent_state_history (info_hash, at);
