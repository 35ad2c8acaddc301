DROP TABLE revaer_runtime.categories;
