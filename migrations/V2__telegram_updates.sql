-- Telegram updates already acted on (API.md §6). Telegram redelivers an update until it gets a
-- 2xx, for up to 24 hours, so a row must outlive that; the webhook deletes rows older than 48
-- hours as it goes. Deduplication is by key, never by "highest id seen": update ids restart at a
-- random value after a week without updates.
create table telegram_update (
    update_id   bigint primary key,
    received_at timestamptz not null default now()
);
-- The purge of old rows.
create index telegram_update_received_idx on telegram_update (received_at);
