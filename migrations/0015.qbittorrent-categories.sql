-- Categories created through the qBittorrent-compatible API (createCategory,
-- or an add naming a category that did not exist yet).
-- depends: 0006.settings-and-queue
CREATE TABLE revaer_runtime.categories (
    name       text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_name_format
        CHECK (name <> '' AND position('/' IN name) = 0)
);
