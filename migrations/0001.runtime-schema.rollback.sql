DROP SCHEMA revaer_runtime CASCADE;
