DROP TABLE revaer_runtime.torrents;
