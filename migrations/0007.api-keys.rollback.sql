DROP TABLE revaer_runtime.api_keys;
