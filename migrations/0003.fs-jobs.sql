-- Post-processing jobs and the audit trail of their transitions.
-- depends: 0002.torrents
CREATE TABLE revaer_runtime.fs_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    torrent_id    text NOT NULL
        REFERENCES revaer_runtime.torrents (info_hash) ON DELETE CASCADE,
    status        revaer_runtime.fs_job_status NOT NULL DEFAULT 'pending',
    stage         text NOT NULL DEFAULT 'plan',
    transfer_mode text NOT NULL,
    src_path      text NOT NULL,
    dst_path      text,
    attempt       integer NOT NULL DEFAULT 0,
    last_error    text,
    next_retry_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT fs_jobs_attempt_not_negative CHECK (attempt >= 0)
);

-- A torrent has at most one job that is under way or done; a failed or skipped
-- one may be followed by a new run.
CREATE UNIQUE INDEX fs_jobs_one_live_job_per_torrent
    ON revaer_runtime.fs_jobs (torrent_id)
    WHERE status IN ('pending', 'moving', 'moved');

CREATE INDEX fs_jobs_status ON revaer_runtime.fs_jobs (status);

CREATE TRIGGER fs_jobs_touch_updated_at
    BEFORE UPDATE ON revaer_runtime.fs_jobs
    FOR EACH ROW EXECUTE FUNCTION revaer_runtime.touch_updated_at();

CREATE TABLE revaer_runtime.fs_job_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint NOT NULL
        REFERENCES revaer_runtime.fs_jobs (id) ON DELETE CASCADE,
    status      revaer_runtime.fs_job_status NOT NULL,
    stage       text NOT NULL,
    message     text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX fs_job_history_job ON revaer_runtime.fs_job_history (job_id, id);
