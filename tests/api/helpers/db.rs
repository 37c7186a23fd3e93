//! Test databases: a template migrated once per schema version, cloned per test, dropped after.

use std::{collections::hash_map::DefaultHasher, hash::Hasher, time::Duration};

use deadpool_postgres::Pool;
use secrecy::SecretString;
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The server the tests use; `TEST_DATABASE_URL` overrides it (a database the role may
/// connect to; databases are created next to it).
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".to_owned())
}

/// Socket address of the test PostgreSQL server (for fault proxies).
pub fn server_addr() -> std::net::SocketAddr {
    let url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    let host = url.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .expect("TEST_DATABASE_URL host must be an IP address")
}

/// `admin_url` pointing at another database.
pub fn url_for(db: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{db}"));
    url.to_string()
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), NoTls)
        .await
        .expect("connect to the test PostgreSQL (is it running? see README)");
    tokio::spawn(conn);
    client
}

fn schema_hash() -> String {
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut h = DefaultHasher::new();
    for f in files {
        h.write(&std::fs::read(&f).unwrap_or_default());
    }
    format!("{:x}", h.finish())
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// Name of the migrated template database, creating it if needed (once per schema, shared by
/// concurrent test processes through an advisory lock).
pub async fn template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("elearning_tmpl_{}", schema_hash());
            let admin = admin_client().await;
            admin
                .execute("select pg_advisory_lock(4242)", &[])
                .await
                .expect("lock");
            let exists = admin
                .query_opt("select 1 from pg_database where datname = $1", &[&name])
                .await
                .expect("query pg_database")
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                admin
                    .execute(
                        &format!("drop database if exists {building} with (force)"),
                        &[],
                    )
                    .await
                    .expect("drop");
                admin
                    .execute(&format!("create database {building}"), &[])
                    .await
                    .expect("create template");
                let cfg = elearning_api::config::DbConfig {
                    database_url: SecretString::from(url_for(&building)),
                    min_connections: 0,
                    max_connections: 1,
                    connection_timeout: Duration::from_secs(5),
                    pool_acquire_timeout: Duration::from_secs(5),
                    pool_idle_timeout: Duration::from_secs(60),
                    statement_timeout: Duration::from_secs(30),
                };
                let pool: Pool = elearning_api::db::pool::build(&cfg).expect("pool");
                elearning_api::db::migrate::run(&pool)
                    .await
                    .expect("migrate template");
                pool.close();
                drop(pool);
                // Cloning needs the template to have no open connections.
                tokio::time::sleep(Duration::from_millis(100)).await;
                admin
                    .execute(&format!("alter database {building} rename to {name}"), &[])
                    .await
                    .expect("rename template");
            }
            admin
                .execute("select pg_advisory_unlock(4242)", &[])
                .await
                .expect("unlock");
            name
        })
        .await
        .clone()
}

/// A database of one test, dropped when this value is.
pub struct TestDb {
    /// Database name.
    pub name: String,
}

impl TestDb {
    /// Clones the template into a fresh database.
    pub async fn create() -> Self {
        let template = template().await;
        let name = format!("test_{}", Uuid::new_v4().simple());
        let admin = admin_client().await;
        let mut last = None;
        for _ in 0..20 {
            match admin
                .execute(&format!("create database {name} template {template}"), &[])
                .await
            {
                Ok(_) => return Self { name },
                // "source database is being accessed by other users": another clone in flight.
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot create test database: {last:?}");
    }

    /// Connection string of this database.
    pub fn url(&self) -> String {
        url_for(&self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside any async context guarantee: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .execute(&format!("drop database if exists {name} with (force)"), &[])
                        .await;
                }
            });
        })
        .join();
    }
}
