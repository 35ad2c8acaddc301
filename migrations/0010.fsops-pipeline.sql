-- The FsOps pipeline: a torrent's own policy, each job's policy and plan, a
-- note for fallbacks, and the outcome of each stage in the audit trail.
-- depends: 0006.settings-and-queue
ALTER TABLE revaer_runtime.torrents
    ADD COLUMN fsops jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT torrents_fsops_is_object CHECK (jsonb_typeof(fsops) = 'object');

ALTER TABLE revaer_runtime.fs_jobs
    ADD COLUMN policy jsonb,
    ADD COLUMN plan   jsonb,
    ADD COLUMN note   text;

ALTER TABLE revaer_runtime.fs_job_history
    ADD COLUMN outcome text;

CREATE INDEX fs_jobs_retry_due ON revaer_runtime.fs_jobs (next_retry_at)
    WHERE status = 'pending' AND next_retry_at IS NOT NULL;
