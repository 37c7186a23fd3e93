-- Course cover images: the original upload, stored durably with its content hash. Resized
-- renditions are derived from it on demand and cached (Redis and memory), never stored here.
create table course_image (
    course_id    uuid primary key references course (id) on delete cascade,
    content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
    format       text not null check (format in ('jpeg', 'png', 'webp')),
    width        integer not null check (width > 0),
    height       integer not null check (height > 0),
    bytes        bytea not null,
    uploaded_at  timestamptz not null default now()
);
