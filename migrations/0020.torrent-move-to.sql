-- Where a user move acknowledged to the user is carrying the payload, until
-- libtorrent reports it there: boot finishes a move a crash interrupted.
-- depends: 0018.first-last-piece
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN move_to text;
