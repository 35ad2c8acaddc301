DROP TABLE revaer_runtime.fs_job_history;
DROP TABLE revaer_runtime.fs_jobs;
