-- Named statements of the catalog. Each starts with "-- name: NAME" and a line
-- that says what it does; values always go in as %(named)s parameters.

-- name: ping
-- Cheapest round trip, for health checks.
SELECT 1;

-- name: server_version
-- The PostgreSQL version, as /health/full shows it.
SELECT current_setting('server_version');

-- name: insert_torrent
-- Adds a torrent; returns no row when its info hash is already there.
INSERT INTO revaer_runtime.torrents (
    info_hash, name, state, paused, category, tags, save_path,
    magnet, metainfo, files, total_size, added_at, sequential,
    download_limit, upload_limit, ratio_limit, seeding_time_limit, selection,
    force_start, fsops, first_last_piece, content_layout
) VALUES (
    %(info_hash)s, %(name)s, %(state)s, %(paused)s, %(category)s, %(tags)s,
    %(save_path)s, %(magnet)s, %(metainfo)s, %(files)s, %(total_size)s,
    %(added_at)s, %(sequential)s, %(download_limit)s, %(upload_limit)s,
    %(ratio_limit)s, %(seeding_time_limit)s, %(selection)s, %(force_start)s,
    %(fsops)s, %(first_last_piece)s, %(content_layout)s
)
ON CONFLICT (info_hash) DO NOTHING
RETURNING info_hash;

-- name: update_torrent_state
-- Records a state transition and its message.
UPDATE revaer_runtime.torrents
   SET state = %(state)s, state_message = %(state_message)s
 WHERE info_hash = %(info_hash)s;

-- name: insert_torrent_state_history
-- Appends one state transition; a torrent removed since has no history to keep.
INSERT INTO revaer_runtime.torrent_state_history (info_hash, state, message, at)
SELECT %(info_hash)s::text, %(state)s::revaer_runtime.torrent_state,
       %(state_message)s::text, %(at)s::timestamptz
 WHERE EXISTS (
       SELECT 1 FROM revaer_runtime.torrents WHERE info_hash = %(info_hash)s
 );

-- name: select_torrent_state_history
-- A torrent's transitions, oldest first.
SELECT state, message, at
  FROM revaer_runtime.torrent_state_history
 WHERE info_hash = %(info_hash)s
 ORDER BY at, id;

-- name: select_database_writable
-- Whether a new transaction here could write (false while read-only).
SELECT current_setting('transaction_read_only') = 'off' AS writable;

-- name: update_torrent_settings
-- Stores what a user command changed: pause flag, labels and options.
UPDATE revaer_runtime.torrents
   SET paused = %(paused)s,
       state = %(state)s,
       category = %(category)s,
       tags = %(tags)s,
       sequential = %(sequential)s,
       download_limit = %(download_limit)s,
       upload_limit = %(upload_limit)s,
       ratio_limit = %(ratio_limit)s,
       seeding_time_limit = %(seeding_time_limit)s,
       selection = %(selection)s,
       force_start = %(force_start)s,
       first_last_piece = %(first_last_piece)s
 WHERE info_hash = %(info_hash)s
RETURNING info_hash;

-- name: delete_torrent
-- Forgets a torrent; its jobs and their history go with it.
DELETE FROM revaer_runtime.torrents
 WHERE info_hash = %(info_hash)s
RETURNING info_hash;

-- name: update_torrent_progress
-- Records the latest progress and rates (coalesced, latest wins).
UPDATE revaer_runtime.torrents
   SET progress = %(progress)s,
       download_rate = %(download_rate)s,
       upload_rate = %(upload_rate)s,
       total_done = %(total_done)s,
       total_size = %(total_size)s,
       uploaded = %(uploaded)s,
       downloaded = %(downloaded)s,
       seeding_seconds = %(seeding_seconds)s,
       queue_position = %(queue_position)s
 WHERE info_hash = %(info_hash)s;

-- name: update_torrent_progress_batch
-- The same as update_torrent_progress for many torrents in one statement:
-- one array per column, one round trip and one plan for the whole batch.
UPDATE revaer_runtime.torrents AS t
   SET progress = v.progress,
       download_rate = v.download_rate,
       upload_rate = v.upload_rate,
       total_done = v.total_done,
       total_size = v.total_size,
       uploaded = v.uploaded,
       downloaded = v.downloaded,
       seeding_seconds = v.seeding_seconds,
       queue_position = v.queue_position
  FROM unnest(
         %(info_hash)s::text[],
         %(progress)s::double precision[],
         %(download_rate)s::bigint[],
         %(upload_rate)s::bigint[],
         %(total_done)s::bigint[],
         %(total_size)s::bigint[],
         %(uploaded)s::bigint[],
         %(downloaded)s::bigint[],
         %(seeding_seconds)s::bigint[],
         %(queue_position)s::integer[]
       ) AS v(info_hash, progress, download_rate, upload_rate, total_done,
              total_size, uploaded, downloaded, seeding_seconds, queue_position)
 WHERE t.info_hash = v.info_hash;

-- name: update_torrent_metadata
-- Stores what a magnet's metadata told us: name, .torrent bytes, file list.
UPDATE revaer_runtime.torrents
   SET name = %(name)s,
       metainfo = COALESCE(metainfo, %(metainfo)s),
       files = %(files)s,
       total_size = %(total_size)s
 WHERE info_hash = %(info_hash)s;

-- name: update_torrent_resume_data
-- Stores libtorrent's latest resume data blob.
UPDATE revaer_runtime.torrents
   SET resume_data = %(resume_data)s
 WHERE info_hash = %(info_hash)s;

-- name: mark_torrent_completed
-- Keeps the first completion time; later completions (rechecks) leave it.
UPDATE revaer_runtime.torrents
   SET completed_at = COALESCE(completed_at, %(completed_at)s)
 WHERE info_hash = %(info_hash)s;

-- name: set_torrent_location
-- Records where the payload now lives after post-processing moved it.
UPDATE revaer_runtime.torrents
   SET save_path = %(save_path)s, library_path = %(library_path)s
 WHERE info_hash = %(info_hash)s;

-- name: begin_torrent_move
-- Records where a user move is taking the payload, before it is acknowledged.
UPDATE revaer_runtime.torrents
   SET move_to = %(move_to)s
 WHERE info_hash = %(info_hash)s
RETURNING info_hash;

-- name: finish_torrent_move
-- The payload is at its new place; the move is over unless a later one began.
UPDATE revaer_runtime.torrents
   SET save_path = %(save_path)s,
       library_path = NULL,
       move_to = CASE WHEN move_to = %(save_path)s THEN NULL ELSE move_to END
 WHERE info_hash = %(info_hash)s;

-- name: drop_torrent_move
-- A move that failed is no longer pending (unless a later one began).
UPDATE revaer_runtime.torrents
   SET move_to = NULL
 WHERE info_hash = %(info_hash)s AND move_to = %(move_to)s;

-- name: select_torrents
-- Every torrent in the catalog, oldest first.
SELECT info_hash, name, state, state_message, paused, category, tags,
       sequential, download_limit, upload_limit, ratio_limit,
       seeding_time_limit, selection, force_start, queue_position, uploaded,
       downloaded, seeding_seconds, save_path, library_path,
       progress, download_rate, upload_rate,
       total_done, total_size, magnet, metainfo, resume_data, files,
       added_at, completed_at, fsops, first_last_piece, content_layout,
       move_to
  FROM revaer_runtime.torrents
 ORDER BY added_at, info_hash;

-- name: select_settings
-- The settings stored through the API, by scope ('global').
SELECT value FROM revaer_runtime.settings WHERE scope = %(scope)s;

-- name: upsert_settings
-- Replaces the stored settings of a scope.
INSERT INTO revaer_runtime.settings (scope, value)
VALUES (%(scope)s, %(value)s)
ON CONFLICT (scope) DO UPDATE SET value = EXCLUDED.value;

-- name: select_categories
-- Categories created through the qBittorrent-compatible API, by name.
SELECT name FROM revaer_runtime.categories ORDER BY name;

-- name: insert_category
-- Creates a category; no row when it already exists.
INSERT INTO revaer_runtime.categories (name) VALUES (%(name)s)
ON CONFLICT (name) DO NOTHING
RETURNING name;

-- name: delete_categories
-- Forgets these categories; returns the names that existed.
DELETE FROM revaer_runtime.categories WHERE name = ANY(%(names)s)
RETURNING name;

-- name: select_fs_jobs_where
-- The jobs with this status and for this torrent (either may be NULL: any),
-- oldest first.
SELECT id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
       attempt, last_error, next_retry_at, policy, plan, note, created_at,
       updated_at
  FROM revaer_runtime.fs_jobs
 WHERE (%(status)s::text IS NULL OR status::text = %(status)s::text)
   AND (%(torrent_id)s::text IS NULL OR torrent_id = %(torrent_id)s::text)
 ORDER BY id;

-- name: select_latest_fs_jobs
-- The most recent job of each of these torrents, whatever its status.
SELECT DISTINCT ON (torrent_id)
       id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
       attempt, last_error, created_at, updated_at
  FROM revaer_runtime.fs_jobs
 WHERE torrent_id = ANY(%(torrent_ids)s)
 ORDER BY torrent_id, id DESC;

-- name: insert_fs_job
-- Opens a post-processing job for a torrent; no row if one is already live.
INSERT INTO revaer_runtime.fs_jobs (torrent_id, status, stage, transfer_mode, src_path)
VALUES (%(torrent_id)s, 'pending', 'validate', %(transfer_mode)s, %(src_path)s)
ON CONFLICT (torrent_id) WHERE status IN ('pending', 'moving', 'moved') DO NOTHING
RETURNING id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
          attempt, last_error, next_retry_at, policy, plan, note, created_at,
          updated_at;

-- name: update_fs_job
-- Moves a job to a new status and stage.
UPDATE revaer_runtime.fs_jobs
   SET status = %(status)s,
       stage = %(stage)s,
       dst_path = COALESCE(%(dst_path)s, dst_path),
       attempt = attempt + %(attempt_increment)s,
       last_error = %(last_error)s,
       next_retry_at = %(next_retry_at)s,
       policy = COALESCE(%(policy)s, policy),
       plan = COALESCE(%(plan)s, plan),
       note = COALESCE(%(note)s, note)
 WHERE id = %(id)s
RETURNING id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
          attempt, last_error, next_retry_at, policy, plan, note, created_at,
          updated_at;

-- name: insert_fs_job_history
-- Appends one transition to a job's audit trail.
INSERT INTO revaer_runtime.fs_job_history (job_id, status, stage, outcome, message)
VALUES (%(job_id)s, %(status)s, %(stage)s, %(outcome)s, %(message)s);

-- name: select_fs_jobs
-- Every post-processing job, oldest first.
SELECT id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
       attempt, last_error, next_retry_at, policy, plan, note, created_at,
       updated_at
  FROM revaer_runtime.fs_jobs
 ORDER BY id;

-- name: select_latest_fs_job
-- A torrent's most recent job, whatever its status.
SELECT id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
       attempt, last_error, next_retry_at, policy, plan, note, created_at,
       updated_at
  FROM revaer_runtime.fs_jobs
 WHERE torrent_id = %(torrent_id)s
 ORDER BY id DESC
 LIMIT 1;

-- name: reopen_fs_job
-- Puts a failed job back in the queue for a retry by hand; no row otherwise.
UPDATE revaer_runtime.fs_jobs
   SET status = 'pending',
       stage = CASE WHEN stage IN ('validate', 'plan') THEN 'validate' ELSE stage END,
       policy = CASE WHEN stage IN ('validate', 'plan') THEN NULL ELSE policy END,
       plan = CASE WHEN stage IN ('validate', 'plan') THEN NULL ELSE plan END,
       attempt = 0,
       next_retry_at = NULL
 WHERE id = %(id)s AND status = 'failed'
RETURNING id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
          attempt, last_error, next_retry_at, policy, plan, note, created_at,
          updated_at;

-- name: select_fs_job
-- One job by id.
SELECT id, torrent_id, status, stage, transfer_mode, src_path, dst_path,
       attempt, last_error, next_retry_at, policy, plan, note, created_at,
       updated_at
  FROM revaer_runtime.fs_jobs
 WHERE id = %(id)s;

-- name: select_fs_job_history
-- A job's transitions, oldest first.
SELECT status, stage, outcome, message, recorded_at
  FROM revaer_runtime.fs_job_history
 WHERE job_id = %(job_id)s
 ORDER BY id;

-- name: insert_api_key
-- Stores a new key's hash; the key itself is never stored.
INSERT INTO revaer_runtime.api_keys (name, key_hash)
VALUES (%(name)s, %(key_hash)s)
RETURNING id, name, created_at, revoked_at;

-- name: select_api_keys
-- Every key ever issued, oldest first, with its hash for the key ring.
SELECT id, name, key_hash, created_at, revoked_at
  FROM revaer_runtime.api_keys
 ORDER BY id;

-- name: revoke_api_key
-- Revoking twice keeps the first time.
UPDATE revaer_runtime.api_keys
   SET revoked_at = coalesce(revoked_at, now())
 WHERE id = %(id)s
RETURNING id, name, created_at, revoked_at;

-- name: count_fs_jobs_by_status
-- For /metrics.
SELECT status, count(*)
  FROM revaer_runtime.fs_jobs
 GROUP BY status;
