//! Integration tests: the real service on a random port, against the real PostgreSQL (a
//! database of its own per test, cloned from a migrated template) and the real Redis (a key
//! prefix of its own per test). One binary, so it links once.

mod helpers;

mod auth;
mod bot;
mod cache;
mod check;
mod commands;
mod courses;
mod dashboard;
mod dashboards;
mod enrollments;
mod figures;
mod firebase;
mod frontend;
mod health;
mod hostile;
mod images;
mod import;
mod middleware;
mod notifications;
mod notify;
mod openapi;
mod progress;
mod quizzes;
mod quota;
mod rate_limit;
mod summary;
mod users;
