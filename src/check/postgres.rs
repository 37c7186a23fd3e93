//! PostgreSQL: reachable within `CONNECTION_TIMEOUT`, with the privileges the service needs
//! (read and write every table and sequence of its schema; create in schema `public` while
//! migrations are pending), and the migrations compared with this build's: applied, pending
//! (listed; the service applies them at start, `--migrate` now), or applied but unknown to this
//! build or changed since (an older build over a newer schema: a failure).

use std::{collections::HashMap, time::Instant};

use tokio_postgres::{Client, NoTls};

use super::{Findings, Migrations, Status};
use crate::{
    config::Config,
    db::{self, migrate::HISTORY_TABLE},
};

/// Where the check connects, without credentials: `host:port/database`.
fn target(pg: &tokio_postgres::Config) -> String {
    let host = pg
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", pg.get_dbname().unwrap_or("?"))
}

/// Connects and checks; returns the connection for `--migrate`'s own check.
pub async fn check(config: &Config, out: &mut Findings, m: &mut Migrations) -> Option<Client> {
    let Ok(pg) = config.db.pg_config() else {
        out.add(
            "postgres",
            Status::Skip,
            "not checked: DATABASE_URL is not valid",
        );
        return None;
    };
    let at = target(&pg);
    let started = Instant::now();
    let connected = tokio::time::timeout(config.db.connection_timeout, pg.connect(NoTls)).await;
    let client = match connected {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            client
        }
        Ok(Err(err)) => {
            out.add(
                "postgres",
                Status::Fail,
                format!("DATABASE_URL: cannot connect to {at}: {}", describe(&err)),
            );
            return None;
        }
        Err(_) => {
            out.add(
                "postgres",
                Status::Fail,
                format!(
                    "DATABASE_URL: {at} did not answer within {} ms (CONNECTION_TIMEOUT)",
                    config.db.connection_timeout.as_millis()
                ),
            );
            return None;
        }
    };
    let took = started.elapsed().as_millis();
    match inspect(&client, &at, took, out, m).await {
        Ok(()) => Some(client),
        Err(err) => {
            out.add(
                "postgres",
                Status::Fail,
                format!("{at}: {}", describe(&err)),
            );
            None
        }
    }
}

/// A database error with its server message.
fn describe(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map_or_else(|| err.to_string(), |db| db.message().to_owned())
}

async fn inspect(
    client: &Client,
    at: &str,
    took: u128,
    out: &mut Findings,
    m: &mut Migrations,
) -> Result<(), tokio_postgres::Error> {
    let row = client
        .query_one(
            "select current_user::text, current_setting('server_version'), \
                    has_schema_privilege('public', 'CREATE'), \
                    coalesce((select rolsuper from pg_roles where rolname = current_user), false), \
                    to_regclass($1) is not null, \
                    coalesce(has_table_privilege(to_regclass($1), 'SELECT'), true)",
            &[&format!("public.{HISTORY_TABLE}")],
        )
        .await?;
    let (user, version, can_create, superuser, has_history, readable): (
        String,
        String,
        bool,
        bool,
        bool,
        bool,
    ) = (
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
    );
    let applied: Option<Applied> = if !readable {
        None
    } else if has_history {
        client
            .query(
                &format!(
                    "select version::bigint, name, checksum from {HISTORY_TABLE} order by version"
                ),
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    (r.get::<_, Option<String>>(1), r.get::<_, Option<String>>(2)),
                )
            })
            .collect::<Applied>()
            .into()
    } else {
        Some(HashMap::new())
    };
    let lacking = lacking_privileges(client).await?;
    let tables = client
        .query_one(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = 'public' and c.relkind = 'r'",
            &[],
        )
        .await?
        .get::<_, i64>(0);
    let role = if superuser { " (superuser)" } else { "" };
    if lacking.is_empty() {
        out.add(
            "postgres",
            Status::Ok,
            format!(
                "PostgreSQL {version} at {at} as {user}{role}: connected in {took} ms; \
                 reads and writes all {tables} tables"
            ),
        );
    } else {
        out.add(
            "postgres",
            Status::Fail,
            format!(
                "{user} at {at} lacks {}: grant them (the service reads and writes every table)",
                lacking.join(", ")
            ),
        );
    }
    match applied {
        Some(applied) => compare_migrations(&applied, can_create, &user, out, m),
        None => out.add(
            "migrations",
            Status::Skip,
            format!("not compared: {user} cannot read {HISTORY_TABLE}"),
        ),
    }
    Ok(())
}

/// The privileges the role lacks on the schema's tables and sequences, as `SELECT on course`.
async fn lacking_privileges(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    // has_table_privilege with a list answers whether *any* is held: ask one by one.
    let rows = client
        .query(
            "select c.relname::text, p.privilege \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             cross join unnest(case c.relkind when 'S' then array['USAGE'] \
                                 else array['SELECT', 'INSERT', 'UPDATE', 'DELETE'] end) p(privilege) \
             where n.nspname = 'public' and c.relkind in ('r', 'S') \
               and not case c.relkind when 'S' then has_sequence_privilege(c.oid, p.privilege) \
                                      else has_table_privilege(c.oid, p.privilege) end \
             order by 1, 2",
            &[],
        )
        .await?;
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| format!("{} on {}", r.get::<_, String>(1), r.get::<_, String>(0)))
        .collect();
    if out.len() > 8 {
        let more = out.len() - 6;
        out.truncate(6);
        out.push(format!("{more} more"));
    }
    Ok(out)
}

type Applied = HashMap<i64, (Option<String>, Option<String>)>;

fn compare_migrations(
    applied: &Applied,
    can_create: bool,
    user: &str,
    out: &mut Findings,
    m: &mut Migrations,
) {
    let known = db::migrate::known();
    let mut versions: Vec<&i64> = applied.keys().collect();
    versions.sort();
    for version in versions {
        let (name, checksum) = &applied[version];
        let name = name.as_deref().unwrap_or("?");
        match known.iter().find(|k| k.version == *version) {
            None => out.add(
                "migrations",
                Status::Fail,
                format!(
                    "the database has V{version}__{name}, which this build does not know: \
                     an older build over a newer schema"
                ),
            ),
            Some(k) if checksum.as_deref() != Some(k.checksum.to_string().as_str()) => out.add(
                "migrations",
                Status::Fail,
                format!("{k} changed since it was applied (its checksum differs)"),
            ),
            Some(k) => m.applied.push(k.to_string()),
        }
    }
    m.pending = known
        .iter()
        .filter(|k| !applied.contains_key(&k.version))
        .map(ToString::to_string)
        .collect();
    if m.pending.is_empty() {
        out.add(
            "migrations",
            Status::Ok,
            format!("{} applied, none pending", m.applied.len()),
        );
        return;
    }
    out.add(
        "migrations",
        Status::Warn,
        format!(
            "{} applied, {} pending: {} (the service applies them at start; `check --migrate` \
             applies them now)",
            m.applied.len(),
            m.pending.len(),
            m.pending.join(", ")
        ),
    );
    if !can_create {
        out.add(
            "migrations",
            Status::Fail,
            format!(
                "{user} cannot create in schema public, so the pending migrations cannot be applied"
            ),
        );
    }
}

/// `--migrate`: applies the pending migrations once every check passed, then looks again.
pub async fn migrate(
    config: &Config,
    client: Option<Client>,
    out: &mut Findings,
    m: &mut Migrations,
) {
    let problems = out.problems();
    if problems > 0 {
        out.add(
            "migrations",
            Status::Skip,
            format!("not applied: {problems} problem(s) above"),
        );
        return;
    }
    drop(client);
    if m.pending.is_empty() {
        return;
    }
    let mut db_config = config.db.clone();
    db_config.max_connections = 1;
    db_config.min_connections = 0;
    let applied = async {
        let pool = db::pool::build(&db_config)?;
        let n = db::migrate::run(&pool).await?;
        pool.close();
        anyhow::Ok(n)
    }
    .await;
    match applied {
        Ok(n) => {
            m.applied_now = std::mem::take(&mut m.pending);
            out.add(
                "migrations",
                Status::Ok,
                format!("applied {n} migration(s): {}", m.applied_now.join(", ")),
            );
        }
        Err(err) => out.add(
            "migrations",
            Status::Fail,
            format!("applying the pending migrations failed: {err:#}"),
        ),
    }
}
