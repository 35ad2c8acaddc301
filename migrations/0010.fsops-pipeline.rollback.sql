DROP INDEX revaer_runtime.fs_jobs_retry_due;
ALTER TABLE revaer_runtime.fs_job_history DROP COLUMN outcome;
ALTER TABLE revaer_runtime.fs_jobs
    DROP COLUMN policy,
    DROP COLUMN plan,
    DROP COLUMN note;
ALTER TABLE revaer_runtime.torrents DROP COLUMN fsops;
