-- Moving from the Next.js + Firebase app.
--
-- Accounts are linked to their Firebase Auth user by `firebase_uid`, so a Firebase ID token signs
-- in the right account. Imported objects keep their Firestore document id as `legacy_id`, so the
-- ids the frontend still holds keep working in every route (`src/legacy.rs` resolves them).
-- Embedded objects (modules, lessons, questions) had ids unique only inside their parent
-- document, so theirs are unique per parent.

alter table app_user add column firebase_uid text
    check (char_length(firebase_uid) between 1 and 128);
-- One account per Firebase user; the token's `sub` finds it.
create unique index app_user_firebase_uid_key on app_user (firebase_uid);
-- Firebase users sign in with Firebase: an imported account has no password here.
alter table app_user alter column password_hash drop not null;
-- The original keeps one `displayName`; a one-word name has no family name.
alter table app_user drop constraint app_user_last_name_check;
alter table app_user add constraint app_user_last_name_check check (char_length(last_name) <= 100);

-- The original's image description for generated covers (`aiHint`), shown by the dashboards.
alter table course add column ai_hint text check (char_length(ai_hint) <= 200);

alter table course add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index course_legacy_key on course (legacy_id);

alter table course_module add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index course_module_legacy_key on course_module (course_id, legacy_id);

alter table lesson add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index lesson_legacy_key on lesson (course_id, legacy_id);

alter table enrollment add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index enrollment_legacy_key on enrollment (legacy_id);

alter table enrollment_request add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index enrollment_request_legacy_key on enrollment_request (legacy_id);

alter table quiz add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index quiz_legacy_key on quiz (legacy_id);

alter table quiz_question add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index quiz_question_legacy_key on quiz_question (quiz_id, legacy_id);

alter table quiz_attempt add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index quiz_attempt_legacy_key on quiz_attempt (legacy_id);

alter table notification add column legacy_id text check (char_length(legacy_id) between 1 and 1500);
create unique index notification_legacy_key on notification (legacy_id);
