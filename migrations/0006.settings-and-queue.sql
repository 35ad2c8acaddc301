-- Global settings changed through the API, queueing, and share statistics.
-- depends: 0005.goals-and-selection
CREATE TABLE revaer_runtime.settings (
    scope      text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT settings_value_is_object CHECK (jsonb_typeof(value) = 'object')
);

CREATE TRIGGER settings_touch_updated_at
    BEFORE UPDATE ON revaer_runtime.settings
    FOR EACH ROW EXECUTE FUNCTION revaer_runtime.touch_updated_at();

ALTER TABLE revaer_runtime.torrents
    ADD COLUMN force_start     boolean NOT NULL DEFAULT false,
    ADD COLUMN queue_position  integer NOT NULL DEFAULT -1,
    ADD COLUMN uploaded        bigint NOT NULL DEFAULT 0,
    ADD COLUMN downloaded      bigint NOT NULL DEFAULT 0,
    ADD COLUMN seeding_seconds bigint NOT NULL DEFAULT 0;
