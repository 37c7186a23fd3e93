-- Images uploaded through `POST /api/upload-image` (the frontend's fallback when Cloudinary is not
-- configured): avatars, course covers before their course exists, community pictures. Stored
-- once per content (the hash), served with the course images' renditions and caching.
create table uploaded_image (
    id           uuid primary key default gen_random_uuid(),
    folder       text not null check (folder in ('course-images', 'user-avatars', 'formateur-avatars', 'community-posts')),
    content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
    format       text not null check (format in ('jpeg', 'png', 'webp')),
    width        integer not null check (width > 0),
    height       integer not null check (height > 0),
    bytes        bytea not null,
    uploaded_by  uuid references app_user (id) on delete set null,
    uploaded_at  timestamptz not null default now()
);
-- The same picture uploaded again into the same folder is the same image.
create unique index uploaded_image_content_key on uploaded_image (folder, content_hash);
